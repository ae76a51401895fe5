// Resolves a Service port to the endpoints the proxy balances over, from EndpointSlices. Endpoint ids
// are stable hashes (pod name when known, else address) so that an affinity cookie survives pod IP
// changes of a StatefulSet pod and never carries an address.
import { hash } from "node:crypto";
import type { V1EndpointSlice, V1Service, V1ServicePort } from "@kubernetes/client-node";
import type { EndpointConfig } from "../../proxy/config/types.ts";
import { compareStrings, formatKey } from "../api/keys.ts";

/** Label that ties an EndpointSlice to its Service. */
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** A backend Service port as an Ingress or policy names it. */
export interface ServicePortRef {
  name?: string;
  number?: number;
}

export type ServiceResolution =
  | { kind: "ok"; port: V1ServicePort; endpoints: EndpointConfig[] }
  | { kind: "serviceNotFound" }
  | { kind: "portNotFound" }
  | { kind: "externalName" };

/** Indexes Services and EndpointSlices by "namespace/service" once per compile. */
export class EndpointIndex {
  readonly #services = new Map<string, V1Service>();
  readonly #slices = new Map<string, V1EndpointSlice[]>();

  constructor(services: readonly V1Service[], slices: readonly V1EndpointSlice[]) {
    for (const service of services) {
      const key = formatKey({
        namespace: service.metadata?.namespace ?? "",
        name: service.metadata?.name ?? "",
      });
      this.#services.set(key, service);
    }
    for (const slice of slices) {
      const serviceName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!serviceName) continue;
      const key = formatKey({ namespace: slice.metadata?.namespace ?? "", name: serviceName });
      const list = this.#slices.get(key) ?? [];
      list.push(slice);
      this.#slices.set(key, list);
    }
  }

  /** The port and endpoints of namespace/service:port. */
  resolve(namespace: string, service: string, ref: ServicePortRef): ServiceResolution {
    const key = formatKey({ namespace, name: service });
    const found = this.#services.get(key);
    if (!found) return { kind: "serviceNotFound" };
    if (found.spec?.type === "ExternalName") return { kind: "externalName" };
    const port = (found.spec?.ports ?? []).find((p) =>
      ref.name !== undefined ? p.name === ref.name : p.port === ref.number,
    );
    if (!port) return { kind: "portNotFound" };
    return { kind: "ok", port, endpoints: this.#endpoints(key, found, port) };
  }

  #endpoints(serviceKey: string, service: V1Service, servicePort: V1ServicePort): EndpointConfig[] {
    const byId = new Map<string, EndpointConfig>();
    const wantedName = servicePort.name ?? "";
    const slices = this.#slices.get(serviceKey) ?? [];
    const family = addressFamily(service, slices);
    for (const slice of slices) {
      if (slice.addressType !== family) continue;
      const slicePort = (slice.ports ?? []).find(
        (p) => (p.name ?? "") === wantedName && (p.protocol ?? "TCP") === "TCP",
      );
      if (slicePort?.port === undefined) continue;
      for (const endpoint of slice.endpoints ?? []) {
        const address = endpoint.addresses?.[0]; // consumers use the first address (EndpointSlice API)
        if (!address) continue;
        const ready = endpoint.conditions?.ready ?? true;
        const identity =
          endpoint.targetRef?.kind === "Pod" && endpoint.targetRef.name
            ? `pod:${endpoint.targetRef.name}`
            : `address:${address}`;
        const id = endpointId(serviceKey, identity, slicePort.port);
        const candidate: EndpointConfig = {
          id,
          address,
          port: slicePort.port,
          ready,
          serving: endpoint.conditions?.serving ?? ready,
          terminating: endpoint.conditions?.terminating ?? false,
        };
        const seen = byId.get(id);
        byId.set(id, seen ? preferred(seen, candidate) : candidate);
      }
    }
    return [...byId.values()].sort((a, b) => compareStrings(a.id, b.id));
  }
}

/**
 * The one address family a Service's endpoints are taken from, so that a dual-stack pod (listed in an
 * IPv4 and an IPv6 slice under the same id) is one endpoint: the Service's primary family
 * (spec.ipFamilies[0]) when it has slices, else IPv4 when there are IPv4 slices, else IPv6.
 */
function addressFamily(service: V1Service, slices: readonly V1EndpointSlice[]): string {
  const present = new Set(slices.map((s) => s.addressType));
  const primary = service.spec?.ipFamilies?.[0];
  if (primary && present.has(primary)) return primary;
  return present.has("IPv4") ? "IPv4" : "IPv6";
}

/**
 * Of two copies of one endpoint (slices overlap while the controller moves endpoints between them),
 * the more usable wins (ready, then serving, then not terminating), then the lower address, so the
 * result does not depend on the order slices are read in.
 */
function preferred(a: EndpointConfig, b: EndpointConfig): EndpointConfig {
  const rank = (e: EndpointConfig): number =>
    (e.ready ? 4 : 0) + (e.serving ? 2 : 0) + (e.terminating ? 0 : 1);
  if (rank(a) !== rank(b)) return rank(a) > rank(b) ? a : b;
  return compareStrings(a.address, b.address) <= 0 ? a : b;
}

/** 16 hex characters of sha256 over the endpoint's stable identity. */
function endpointId(serviceKey: string, identity: string, port: number): string {
  // crypto.hash: the one-shot form, several times cheaper than createHash().update().digest().
  return hash("sha256", `${serviceKey}|${identity}|${port}`, "hex").slice(0, 16);
}
