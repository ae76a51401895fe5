// Reads and writes one coordination.k8s.io/v1 Lease, for leader election (leader-election.ts). Plain
// JSON in and out: the whole object is kept and sent back on replace, so the write carries the
// resourceVersion it was based on (optimistic concurrency: a stale write is refused with 409 Conflict)
// and keeps any spec field this code does not know.
//
// Why not client-node's CoordinationV1Api: it serialises a plain Date as "…00.000Z" while a Lease's
// times are MicroTime ("…00.000000Z"), hands MicroTime fields back as unparsed strings typed as Date,
// and offers no per-request timeout. Why not one undici Agent per request (what client-node's
// applySecurityAuthentication hands out, and request.ts uses): a lease is renewed every few seconds, and
// a fresh TLS connection for each renewal is wasted work; one client keeps one Agent and closes it.
import { HttpMethod, type KubeConfig, RequestContext } from "@kubernetes/client-node";
import { type Dispatcher, request } from "undici";
import { isRecord, KubeApiError, KubeProtocolError } from "./errors.ts";

/** The spec of a Lease as the server stores it. Absent and null fields mean "not set". */
export interface LeaseSpec {
  /** Who holds the lease; "" or absent: nobody, anyone may take it at once. */
  holderIdentity?: string | null;
  /** How long candidates wait, after they last saw the lease change, before taking it over. */
  leaseDurationSeconds?: number | null;
  /** When the current holder acquired it (MicroTime, informational: never compared across hosts). */
  acquireTime?: string | null;
  /** When the holder last renewed it (MicroTime, informational: never compared across hosts). */
  renewTime?: string | null;
  /** How many times the lease changed hands. */
  leaseTransitions?: number | null;
  /** Fields this code does not manage (strategy, preferredHolder): kept as they are. */
  [field: string]: unknown;
}

/** A Lease object, plain JSON. */
export interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: {
    name: string;
    namespace: string;
    /** The version this copy was read at; a replace based on an older one is refused (409). */
    resourceVersion?: string;
    [field: string]: unknown;
  };
  spec?: LeaseSpec;
}

/** The I/O of one Lease. Every call takes a signal: a call that hangs is cut off by its caller. */
export interface LeaseClient {
  /** The Lease, or undefined if it does not exist. */
  fetchLease(signal: AbortSignal): Promise<Lease | undefined>;
  /** Creates the Lease with this spec; rejects with KubeApiError 409 (AlreadyExists) if it exists. */
  createLease(spec: LeaseSpec, signal: AbortSignal): Promise<Lease>;
  /**
   * Replaces the Lease with `lease` (its metadata.resourceVersion included); rejects with KubeApiError
   * 409 (Conflict) if the Lease changed since that version was read.
   */
  replaceLease(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Closes the connection. The client must not be used afterwards. */
  close(): Promise<void>;
}

const USER_AGENT = "portcullis-operator";

/** A LeaseClient for namespace/name, with the credentials and TLS of kubeConfig's current context. */
export function createLeaseClient(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): LeaseClient {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  const collection = `${server}/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const item = `${collection}/${encodeURIComponent(name)}`;
  /** The first Agent client-node built for us; reused for every request, closed by close(). */
  let dispatcher: Dispatcher | undefined;
  let closed = false;

  async function send(
    method: "GET" | "POST" | "PUT",
    url: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<{ status: number; json: unknown }> {
    if (closed) throw new Error("the Lease client is closed");
    // Credentials are fetched for every request: a token file or exec plugin may have rotated them.
    const context = new RequestContext(url, HttpMethod[method]);
    await kubeConfig.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (dispatcher === undefined) dispatcher = fresh;
    else void fresh?.close().catch(() => {}); // never used: it opened no connection
    const response = await request(url, {
      method,
      headers: {
        ...context.getHeaders(),
        accept: "application/json",
        "user-agent": USER_AGENT,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(dispatcher === undefined ? {} : { dispatcher }),
      signal,
    });
    const text = await response.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw KubeApiError.fromStatus(response.statusCode, json);
    }
    return { status: response.statusCode, json };
  }

  function asLease(json: unknown, what: string): Lease {
    if (
      !isRecord(json) ||
      json.kind !== "Lease" ||
      !isRecord(json.metadata) ||
      (json.spec !== undefined && !isRecord(json.spec))
    ) {
      throw new KubeProtocolError(`${what} Lease ${namespace}/${name} did not return a Lease`);
    }
    return json as unknown as Lease;
  }

  return {
    async fetchLease(signal) {
      try {
        return asLease((await send("GET", item, undefined, signal)).json, "GET");
      } catch (error) {
        if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
        throw error;
      }
    },
    async createLease(spec, signal) {
      const lease: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec,
      };
      return asLease((await send("POST", collection, lease, signal)).json, "POST");
    },
    async replaceLease(lease, signal) {
      return asLease((await send("PUT", item, lease, signal)).json, "PUT");
    },
    async close() {
      closed = true;
      const open = dispatcher;
      dispatcher = undefined;
      await open?.destroy().catch(() => {});
    },
  };
}

/**
 * A time as a Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits
 * ("2026-11-24T04:00:00.123000Z"). A Date has milliseconds, so the last three digits are zero.
 */
export function formatMicroTime(time: Date): string {
  return `${time.toISOString().slice(0, -1)}000Z`;
}
