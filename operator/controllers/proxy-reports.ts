// Asks each ready proxy which config it serves: GET /config on the admin port of every ready endpoint
// of the fleet's headless admin Service (its EndpointSlices, from the cache). What they answer decides
// the Programmed condition. A proxy that does not answer in time counts as not serving the new config
// yet (it is ready, so it serves something; we cannot tell what).
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { request } from "undici";
import type { ConfigSource } from "../../proxy/config/types.ts";
import { isRecord } from "../kube/errors.ts";
import type { ProxyReport } from "./status.ts";

/** Name of the admin port in the admin Service and its EndpointSlices. */
const ADMIN_PORT_NAME = "admin";
/** A /config answer is a few KiB per hundred objects; anything larger is not one. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** "host:port" of every ready admin endpoint in `slices`, sorted, de-duplicated. */
export function readyAdminAddresses(slices: readonly V1EndpointSlice[]): string[] {
  const addresses = new Set<string>();
  for (const slice of slices) {
    const port = (slice.ports ?? []).find((p) => p.name === ADMIN_PORT_NAME)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      // Absent "ready" means ready (EndpointSlice API); terminating endpoints are not ready.
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) {
        const host = address.includes(":") ? `[${address}]` : address;
        addresses.add(`${host}:${port}`);
      }
    }
  }
  return [...addresses].sort();
}

/** Each address's report; a proxy that failed to answer reports version null and no sources. */
export async function fetchProxyReports(
  addresses: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProxyReport[]> {
  return Promise.all(
    addresses.map(async (address): Promise<ProxyReport> => {
      try {
        const response = await request(`http://${address}/config`, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const declared = Number(response.headers["content-length"] ?? 0);
        if (response.statusCode !== 200 || declared > MAX_BODY_BYTES) {
          await response.body.dump();
          return { version: null, sources: [] };
        }
        // Counted while read: a chunked answer declares no length.
        let size = 0;
        const chunks: Buffer[] = [];
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            response.body.destroy();
            return { version: null, sources: [] };
          }
          chunks.push(chunk);
        }
        return parseReport(JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
      } catch {
        return { version: null, sources: [] };
      }
    }),
  );
}

function parseReport(body: unknown): ProxyReport {
  if (!isRecord(body)) return { version: null, sources: [] };
  const version = typeof body.version === "string" ? body.version : null;
  const sources = Array.isArray(body.sources) ? body.sources.filter(isSource) : [];
  return { version, sources };
}

function isSource(value: unknown): value is ConfigSource {
  return (
    isRecord(value) &&
    (value.kind === "Ingress" || value.kind === "LoadBalancerPolicy") &&
    typeof value.namespace === "string" &&
    typeof value.name === "string" &&
    typeof value.generation === "number"
  );
}
