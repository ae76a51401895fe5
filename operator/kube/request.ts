// GET requests to the API server with a client-node KubeConfig's credentials and TLS: one JSON answer
// (fetchJson, listObjects) or a watch stream (openWatch). Thin on purpose: the informer decides what to
// do with errors; this module only turns answers into values or typed errors.
//
// Why not client-node's Watch: it drops lines it cannot parse without a word, reports a refused watch
// only as its HTTP status text (the server's Status message, e.g. which RBAC rule is missing, is lost),
// does not say when the stream was established (needed to tell a healthy watch from a failing one), and
// aborts any watch that is quiet for 30 s. Why not its typed list calls: they turn the JSON into class
// instances (dates become Date objects), while watch events are plain JSON, so a cache fed by both
// would hold two shapes of the same object.
import { HttpMethod, type KubeConfig, RequestContext } from "@kubernetes/client-node";
import { type Dispatcher, request } from "undici";
import { isRecord, KubeApiError, KubeProtocolError } from "./errors.ts";

/** Query parameters; undefined values are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** One event of a watch stream, as the server sent it. */
export interface WatchEvent {
  /** "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR" (then `object` is a Status). */
  type: string;
  /** The object (plain JSON). */
  object: Record<string, unknown>;
}

/** A list, all pages joined. */
export interface ListResult<T> {
  /** The items, plain JSON as the server returned them. */
  items: T[];
  /** The list's metadata.resourceVersion: watch from here to miss nothing. */
  resourceVersion: string;
}

/** Options of listObjects. */
export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Items per page. Default 500 (what kubectl and client-go use). */
  pageSize?: number;
  /** Aborts the list (stop, or a timeout). */
  signal?: AbortSignal;
}

const USER_AGENT = "portcullis-operator";
/** A watch line longer than this is refused rather than buffered without bound (objects are ≤ 1.5 MiB). */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Lists a collection (e.g. "/api/v1/namespaces/default/configmaps"), following `continue` tokens, as
 * one consistent snapshot read at the latest resource version.
 */
export async function listObjects<T>(
  kubeConfig: KubeConfig,
  path: string,
  options: ListOptions = {},
): Promise<ListResult<T>> {
  const items: T[] = [];
  let token: string | undefined;
  let resourceVersion = "";
  do {
    const page = await fetchJson(
      kubeConfig,
      path,
      {
        limit: options.pageSize ?? 500,
        continue: token,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      options.signal,
    );
    const metadata = isRecord(page) && isRecord(page.metadata) ? page.metadata : undefined;
    if (!isRecord(page) || !Array.isArray(page.items) || metadata === undefined) {
      throw new KubeProtocolError(`GET ${path} did not return a list`);
    }
    items.push(...(page.items as T[]));
    if (typeof metadata.resourceVersion === "string") resourceVersion = metadata.resourceVersion;
    token =
      typeof metadata.continue === "string" && metadata.continue !== ""
        ? metadata.continue
        : undefined;
  } while (token !== undefined);
  if (resourceVersion === "")
    throw new KubeProtocolError(`GET ${path} returned no resourceVersion`);
  return { items, resourceVersion };
}

/** GETs `path` and parses the JSON answer; a non-2xx answer rejects with KubeApiError. */
export async function fetchJson(
  kubeConfig: KubeConfig,
  path: string,
  query: Query,
  signal?: AbortSignal,
): Promise<unknown> {
  const { url, headers, dispatcher } = await prepare(kubeConfig, path, query);
  try {
    const response = await request(url, {
      method: "GET",
      headers,
      ...(dispatcher === undefined ? {} : { dispatcher }),
      ...(signal === undefined ? {} : { signal }),
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw KubeApiError.fromStatus(response.statusCode, parseOrUndefined(text));
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new KubeProtocolError(`GET ${path} did not return JSON`);
    }
  } finally {
    void dispatcher?.close().catch(() => {});
  }
}

/**
 * Opens a watch: resolves once the server has accepted it (HTTP 200) with the stream of its events, or
 * rejects with KubeApiError (e.g. 403, or 410 when the resource version is too old). The stream ends when
 * the server closes the watch; it throws if the connection fails, a line is not a watch event, or
 * `signal` aborts. Leaving the loop early (break, return, throw) closes the connection.
 */
export async function openWatch(
  kubeConfig: KubeConfig,
  path: string,
  query: Query,
  signal: AbortSignal,
): Promise<AsyncGenerator<WatchEvent, void, undefined>> {
  const { url, headers, dispatcher } = await prepare(kubeConfig, path, { ...query, watch: "true" });
  const release = (): void => {
    void dispatcher?.destroy().catch(() => {});
  };
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: "GET",
      headers,
      signal,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
  } catch (error) {
    release();
    throw error;
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text().catch(() => "");
    release();
    throw KubeApiError.fromStatus(response.statusCode, parseOrUndefined(text));
  }
  return readEvents(response.body, path, release);
}

async function* readEvents(
  body: Dispatcher.ResponseData["body"],
  path: string,
  release: () => void,
): AsyncGenerator<WatchEvent, void, undefined> {
  try {
    body.setEncoding("utf8");
    let buffered = "";
    for await (const chunk of body as AsyncIterable<string>) {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== "") yield parseEvent(line, path);
        newline = buffered.indexOf("\n");
      }
      if (buffered.length > MAX_LINE_CHARS) {
        throw new KubeProtocolError(
          `watch of ${path} sent a line over ${MAX_LINE_CHARS} characters`,
        );
      }
    }
    if (buffered.trim() !== "") yield parseEvent(buffered.trim(), path);
  } finally {
    body.destroy();
    release();
  }
}

function parseEvent(line: string, path: string): WatchEvent {
  const event = parseOrUndefined(line);
  if (!isRecord(event) || typeof event.type !== "string" || !isRecord(event.object)) {
    // Never quote the line: it may hold a Secret's data.
    throw new KubeProtocolError(`watch of ${path} sent a line that is not a watch event`);
  }
  return { type: event.type, object: event.object };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

interface Prepared {
  url: URL;
  headers: Record<string, string>;
  /**
   * client-node builds a new undici Agent on every call (it caches none), so each request owns the one it
   * gets and closes it when done; otherwise every request would leave an idle connection behind.
   */
  dispatcher: Dispatcher | undefined;
}

/** The URL, auth headers and TLS dispatcher for a GET, from the KubeConfig's current context. */
async function prepare(kubeConfig: KubeConfig, path: string, query: Query): Promise<Prepared> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/+$/, "") + path);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  return {
    url,
    headers: { ...context.getHeaders(), accept: "application/json", "user-agent": USER_AGENT },
    dispatcher: context.getDispatcher(),
  };
}
