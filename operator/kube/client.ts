// The operator's writes to the API server, and its reads of single objects: server-side apply (of an
// object or of its status subresource), get, create, replace and delete, plain JSON in and out, with the
// credentials and TLS of a client-node KubeConfig. Lists and watches are request.ts's job.
//
// Server-side apply is the operator's one way of writing what it owns: it sends the fields it manages
// under its field manager, the server merges them and keeps everyone else's, and an apply that changes
// nothing is not written at all (same resourceVersion), so a resync that finds everything in place
// writes nothing. create/replace/delete with preconditions are for the few writes that must be
// conditional (the object is ours, it has not changed since we read it).
//
// Why not client-node's KubernetesObjectApi: it looks plurals up by discovery (a request per new kind,
// and a kind the server lacks is only found out then), builds a new undici Agent, hence a new TLS
// connection, for every request, and takes no AbortSignal. Here the kinds are a fixed table (objectPath),
// one Agent is kept for the client's life, and every request has a timeout. Every request is published
// on KUBE_REQUEST_CHANNEL (method, path, status, duration: never a body, a Secret's data must not leak).
import diagnosticsChannel from "node:diagnostics_channel";
import { HttpMethod, type KubeConfig, RequestContext } from "@kubernetes/client-node";
import { type Dispatcher, request } from "undici";
import { isRecord, KubeApiError, KubeProtocolError } from "./errors.ts";

/** Options of createKubeClient. */
export interface KubeClientOptions {
  /** Credentials, TLS and server of its current context (re-read for every request: tokens rotate). */
  kubeConfig: KubeConfig;
  /** Server-side apply field manager, e.g. "portcullis-operator": who owns the fields we apply. */
  fieldManager: string;
  /** Each request (answer and body) is aborted after this many ms. Default 30 000. */
  requestTimeoutMs?: number | undefined;
}

/** What identifies an object: enough to build its URL. */
export interface ObjectReference {
  /** "v1" for the core group, else "group/version" (e.g. "apps/v1"). */
  apiVersion: string;
  /** The kind, e.g. "ConfigMap": one of objectPath's table. */
  kind: string;
  /** Required for namespaced kinds; must be absent for cluster-scoped ones (IngressClass). */
  namespace?: string | undefined;
  /** The object's metadata.name. */
  name: string;
}

/** A reference to an object, or to its collection when `name` is undefined (objectPath's argument). */
export type PathReference = Omit<ObjectReference, "name"> & {
  /** The object's name; undefined: the collection (where POST creates). */
  name?: string | undefined;
};

/** An object to write: its apiVersion, kind and metadata.name (and namespace) say where it goes. */
export interface ObjectToWrite {
  /** "v1" or "group/version". */
  apiVersion: string;
  /** One of objectPath's table. */
  kind: string;
  /** Other metadata (labels, resourceVersion, …) is sent as it is. */
  metadata: {
    /** The object's name. */
    name: string;
    /** Required for namespaced kinds. */
    namespace?: string | undefined;
  };
}

/** Options of KubeClient.apply. */
export interface ApplyOptions {
  /** "status": apply to the status subresource (only `status` is taken from the body). Default: the object. */
  subresource?: "status" | undefined;
  /** Aborts the request (in addition to the client's timeout). */
  signal?: AbortSignal | undefined;
}

/** Options of KubeClient.delete. */
export interface DeleteOptions {
  /** Delete only if the object still has this uid (not a new object of the same name); else 409. */
  uid?: string | undefined;
  /** Delete only if the object has not changed since this version was read; else 409. */
  resourceVersion?: string | undefined;
  /** What happens to the objects it owns. Default "Background": deleted after it, without waiting. */
  propagationPolicy?: "Background" | "Foreground" | "Orphan" | undefined;
  /** Aborts the request (in addition to the client's timeout). */
  signal?: AbortSignal | undefined;
}

/**
 * Writes and single-object reads. Every failure the server answers is a KubeApiError (statusCode,
 * reason, the server's message, retryAfterSeconds on 429/503); a timeout rejects with the
 * AbortSignal's TimeoutError; an answer that is not a JSON object is a KubeProtocolError.
 */
export interface KubeClient {
  /**
   * Server-side apply (PATCH application/apply-patch+yaml, ?fieldManager=…&force=true): the fields in
   * `object` become ours, taken over from any other manager; resolves with the object as stored. An
   * apply that changes nothing is not written (the resourceVersion stays). `subresource: "status"`
   * applies to /status.
   */
  apply<T extends object>(object: T & ObjectToWrite, options?: ApplyOptions): Promise<T>;
  /** GET; undefined on 404 (no such object). */
  get<T>(ref: ObjectReference, signal?: AbortSignal): Promise<T | undefined>;
  /** POST to the collection; rejects with KubeApiError 409 (AlreadyExists) if the object exists. */
  create<T extends object>(object: T & ObjectToWrite, signal?: AbortSignal): Promise<T>;
  /**
   * PUT; the body's metadata.resourceVersion makes it conditional: rejects with KubeApiError 409
   * (Conflict) if the object changed since that version.
   */
  replace<T extends object>(object: T & ObjectToWrite, signal?: AbortSignal): Promise<T>;
  /**
   * DELETE with optional preconditions (uid, resourceVersion: 409 Conflict if they do not hold):
   * true when deleted (or deletion started, when finalizers hold it), false on 404 (already gone).
   */
  delete(ref: ObjectReference, options?: DeleteOptions): Promise<boolean>;
  /** Closes the connection, aborting requests in flight; later calls reject. */
  close(): Promise<void>;
}

/** The diagnostics channel every request of a KubeClient is published on, as a KubeRequestDiagnostic. */
export const KUBE_REQUEST_CHANNEL = "portcullis:kube:request";

/** Published on KUBE_REQUEST_CHANNEL when a request ends, answered or not. */
export interface KubeRequestDiagnostic {
  /** "GET", "POST", "PUT", "PATCH" or "DELETE". */
  method: string;
  /** The API path, without server or query (e.g. "/api/v1/namespaces/a/configmaps/b/status"). */
  path: string;
  /** HTTP status; 0 when no answer came (connection failed, timeout, abort). */
  statusCode: number;
  /** From the call to the end of the answer's body, in milliseconds. */
  durationMs: number;
}

const channel = diagnosticsChannel.channel(KUBE_REQUEST_CHANNEL);
const USER_AGENT = "portcullis-operator";
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** A KubeClient for the server of kubeConfig's current context. Nothing is connected until a call. */
export function createKubeClient(options: KubeClientOptions): KubeClient {
  const { kubeConfig, fieldManager } = options;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new Error(`requestTimeoutMs must be a positive number, got ${timeoutMs}`);
  }
  if (fieldManager === "") throw new Error("fieldManager must not be empty");
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  /** The first Agent client-node built for us; reused for every request, destroyed by close(). */
  let dispatcher: Dispatcher | undefined;
  let closed = false;

  interface Call {
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
    path: string;
    query?: Record<string, string>;
    /** Sent as JSON; never logged, published or quoted in an error. */
    body?: unknown;
    contentType?: string;
    signal: AbortSignal | undefined;
  }

  /** Sends one request; resolves with the parsed JSON of a 2xx answer, rejects with KubeApiError otherwise. */
  async function send(call: Call): Promise<unknown> {
    const started = performance.now();
    let statusCode = 0;
    try {
      if (closed) throw new Error("the Kubernetes client is closed");
      const signal =
        call.signal === undefined
          ? AbortSignal.timeout(timeoutMs)
          : AbortSignal.any([AbortSignal.timeout(timeoutMs), call.signal]);
      signal.throwIfAborted();
      const url = new URL(server + call.path);
      for (const [name, value] of Object.entries(call.query ?? {})) {
        url.searchParams.set(name, value);
      }
      // Credentials are fetched for every request: a token file or exec plugin may have rotated them.
      const context = new RequestContext(url.toString(), HttpMethod[call.method]);
      await kubeConfig.applySecurityAuthentication(context);
      const fresh = context.getDispatcher();
      if (closed) {
        void fresh?.close().catch(() => {});
        throw new Error("the Kubernetes client is closed");
      }
      if (dispatcher === undefined) dispatcher = fresh;
      else void fresh?.close().catch(() => {}); // never used: it opened no connection
      signal.throwIfAborted();
      const hasBody = call.body !== undefined;
      const response = await request(url, {
        method: call.method,
        headers: {
          ...context.getHeaders(),
          accept: "application/json",
          "user-agent": USER_AGENT,
          ...(hasBody ? { "content-type": call.contentType ?? "application/json" } : {}),
        },
        ...(hasBody ? { body: JSON.stringify(call.body) } : {}),
        ...(dispatcher === undefined ? {} : { dispatcher }),
        signal,
      });
      statusCode = response.statusCode;
      const text = await response.body.text();
      const json = parseOrUndefined(text);
      if (statusCode < 200 || statusCode > 299) {
        throw KubeApiError.fromStatus(statusCode, json, response.headers["retry-after"]);
      }
      if (!isRecord(json)) {
        // Never quote the answer: it may hold a Secret's data.
        throw new KubeProtocolError(`${call.method} ${call.path} did not return a JSON object`);
      }
      return json;
    } finally {
      if (channel.hasSubscribers) {
        const diagnostic: KubeRequestDiagnostic = {
          method: call.method,
          path: call.path,
          statusCode,
          durationMs: performance.now() - started,
        };
        channel.publish(diagnostic);
      }
    }
  }

  return {
    async apply<T extends object>(object: T & ObjectToWrite, options: ApplyOptions = {}) {
      const path = objectPath(referenceOf(object));
      return (await send({
        method: "PATCH",
        path: options.subresource === "status" ? `${path}/status` : path,
        query: { fieldManager, force: "true" },
        body: object,
        // JSON is YAML: the apply patch type is declared as YAML, and the body may be either.
        contentType: "application/apply-patch+yaml",
        signal: options.signal,
      })) as T;
    },
    async get<T>(ref: ObjectReference, signal?: AbortSignal) {
      try {
        return (await send({ method: "GET", path: objectPath(ref), signal })) as T;
      } catch (error) {
        if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
        throw error;
      }
    },
    async create<T extends object>(object: T & ObjectToWrite, signal?: AbortSignal) {
      const ref = referenceOf(object);
      const path = objectPath({ ...ref, name: undefined });
      return (await send({ method: "POST", path, body: object, signal })) as T;
    },
    async replace<T extends object>(object: T & ObjectToWrite, signal?: AbortSignal) {
      const path = objectPath(referenceOf(object));
      return (await send({ method: "PUT", path, body: object, signal })) as T;
    },
    async delete(ref: ObjectReference, options: DeleteOptions = {}) {
      const preconditions = {
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.resourceVersion === undefined
          ? {}
          : { resourceVersion: options.resourceVersion }),
      };
      const body = {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: options.propagationPolicy ?? "Background",
        ...(Object.keys(preconditions).length === 0 ? {} : { preconditions }),
      };
      try {
        await send({ method: "DELETE", path: objectPath(ref), body, signal: options.signal });
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.statusCode === 404) return false;
        throw error;
      }
    },
    async close() {
      closed = true;
      const open = dispatcher;
      dispatcher = undefined;
      await open?.destroy().catch(() => {});
    },
  };
}

/** Where a resource lives: its plural and whether it is namespaced. */
interface Resource {
  plural: string;
  namespaced: boolean;
}

/** The kinds the operator reads and writes, keyed "apiVersion kind". */
const RESOURCES: ReadonlyMap<string, Resource> = new Map(
  (
    [
      ["v1", "ConfigMap", "configmaps", true],
      ["v1", "Secret", "secrets", true],
      ["v1", "Service", "services", true],
      ["v1", "ServiceAccount", "serviceaccounts", true],
      ["v1", "Event", "events", true],
      ["apps/v1", "Deployment", "deployments", true],
      ["policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true],
      ["rbac.authorization.k8s.io/v1", "Role", "roles", true],
      ["rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true],
      ["networking.k8s.io/v1", "Ingress", "ingresses", true],
      ["networking.k8s.io/v1", "IngressClass", "ingressclasses", false],
      ["discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true],
      ["coordination.k8s.io/v1", "Lease", "leases", true],
      ["events.k8s.io/v1", "Event", "events", true],
      ["cert-manager.io/v1", "Certificate", "certificates", true],
      ["portcullis.dev/v1alpha1", "LoadBalancerPolicy", "loadbalancerpolicies", true],
    ] as const
  ).map(([apiVersion, kind, plural, namespaced]) => [
    `${apiVersion} ${kind}`,
    { plural, namespaced },
  ]),
);

/**
 * The URL path of an object ("/apis/apps/v1/namespaces/a/deployments/b"), or of its collection when
 * `name` is undefined. Kinds come from a fixed table (see RESOURCES); throws an Error for a kind not in
 * it, a namespaced kind without namespace, a cluster-scoped kind with one, or an empty name.
 */
export function objectPath(ref: PathReference): string {
  const resource = RESOURCES.get(`${ref.apiVersion} ${ref.kind}`);
  if (resource === undefined) {
    throw new Error(
      `unknown kind ${ref.kind} of apiVersion ${ref.apiVersion}: not in objectPath's table`,
    );
  }
  const root = ref.apiVersion === "v1" ? "/api/v1" : `/apis/${ref.apiVersion}`;
  let path: string;
  if (resource.namespaced) {
    if (ref.namespace === undefined || ref.namespace === "") {
      throw new Error(`${ref.kind} (${ref.apiVersion}) is namespaced: a namespace is required`);
    }
    path = `${root}/namespaces/${encodeURIComponent(ref.namespace)}/${resource.plural}`;
  } else {
    if (ref.namespace !== undefined && ref.namespace !== "") {
      throw new Error(`${ref.kind} (${ref.apiVersion}) is cluster-scoped: it has no namespace`);
    }
    path = `${root}/${resource.plural}`;
  }
  if (ref.name === undefined) return path;
  if (ref.name === "") throw new Error(`${ref.kind} name must not be empty`);
  return `${path}/${encodeURIComponent(ref.name)}`;
}

/** The reference of an object to write (checked: these fields come from callers' JSON). */
function referenceOf(object: ObjectToWrite): ObjectReference {
  const metadata: unknown = object.metadata;
  if (!isRecord(metadata) || typeof metadata.name !== "string") {
    throw new Error(`${object.kind} to write has no metadata.name`);
  }
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : undefined;
  return { apiVersion: object.apiVersion, kind: object.kind, namespace, name: metadata.name };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
