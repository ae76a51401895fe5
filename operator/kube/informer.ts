// An informer: a watched, in-memory cache of one resource type (one collection, optionally one namespace
// and selectors), for a level-based controller to read from.
//
// It LISTs the collection once, then WATCHes from the list's resourceVersion (with bookmarks, which move
// the resourceVersion forward without changes). Whatever happens to the watch it comes back:
//   - the server closed it (every watch has a timeout): resume at once from the last resourceVersion;
//   - any error (connection refused or reset, 5xx, 403, a malformed line, a watch that closed in under a
//     second without an event): resume after an exponential, jittered backoff (see backoff.ts), which
//     starts over only after a healthy stretch;
//   - 410 Gone (the resourceVersion is older than the server keeps history for): LIST again and emit
//     the difference, including DELETED for objects that went away unseen;
//   - the watch has been quiet (no event, no bookmark) for quietRelistMs: it may be stuck on a dead
//     connection, so the watchdog drops it and LISTs again.
// The cache always holds the last state seen; hasSynced() stays true across relists.
//
// Observability: structured logs (never object contents), and every list, watch and retry is published on
// the diagnostics channel INFORMER_CHANNEL (free when nobody subscribes; tests count attempts with it).
import diagnosticsChannel from "node:diagnostics_channel";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { compareStrings, formatKey } from "../api/keys.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import {
  describeError,
  InformerStoppedError,
  isRecord,
  KubeApiError,
  KubeProtocolError,
} from "./errors.ts";
import type { Logger } from "./logger.ts";
import { type ListResult, listObjects, openWatch, type WatchEvent } from "./request.ts";

/** The least an object must have to be cached: metadata with a name (and namespace, if namespaced). */
export interface KubeObject {
  metadata?:
    | {
        name?: string | undefined;
        namespace?: string | undefined;
        resourceVersion?: string | undefined;
      }
    | undefined;
}

/** Options of createInformer. */
export interface InformerOptions<T extends KubeObject> {
  /** Credentials and TLS (client-node: in-cluster config, or a kubeconfig file). */
  kubeConfig: KubeConfig;
  /**
   * The collection's path across all namespaces, e.g. "/apis/networking.k8s.io/v1/ingresses" or
   * "/api/v1/secrets" (cluster-scoped: "/apis/networking.k8s.io/v1/ingressclasses").
   */
  path: string;
  /** Only this namespace: the path becomes …/namespaces/<namespace>/<resource>. Default: all. */
  namespace?: string;
  /** Server-side label filter, e.g. "app.kubernetes.io/managed-by=portcullis". Default: none. */
  labelSelector?: string;
  /** Server-side field filter, e.g. "type=kubernetes.io/tls" for Secrets. Default: none. */
  fieldSelector?: string;
  /**
   * Replaces the built-in list (listObjects: a paged GET of the collection with the selectors). It must
   * return plain JSON, as the API server sends it, because watch events are plain JSON too.
   */
  list?: (signal: AbortSignal) => Promise<ListResult<T>>;
  /**
   * What to cache of each object: return it (or a trimmed copy that keeps metadata) to cache it, or
   * undefined to not cache it (an object that stops being kept is reported DELETED). Use it to hold only
   * what the controller needs, e.g. drop the `data` of Secrets nobody references. Default: keep all.
   */
  keep?: (object: T) => T | undefined;
  /** Where the informer logs. Object contents are never logged. */
  logger: Logger;
  /** Name in logs and diagnostics. Default: the collection path, with the selectors. */
  name?: string;
  /**
   * Seconds the server keeps each watch open before closing it (it is then resumed). Each watch asks for
   * a random value in [watchTimeoutSeconds, 2 × watchTimeoutSeconds) so informers started together do not
   * reconnect together. Default 300 (as client-go).
   */
  watchTimeoutSeconds?: number;
  /**
   * Watchdog: relist when the watch has delivered nothing, not even a bookmark, for this many ms. The API
   * server sends a bookmark about once a minute on an idle watch (only once the resource has changed
   * since the server started), so this should stay well above 60 000. Default 300 000.
   */
  quietRelistMs?: number;
  /** A list that takes longer than this many ms is abandoned and retried. Default 60 000. */
  requestTimeoutMs?: number;
  /** Backoff between failed attempts. Default: 250 ms doubling to 30 s, half jittered, reset after 60 s healthy. */
  backoff?: BackoffOptions;
}

/** What changed in the cache. */
export type ChangeType = "ADDED" | "MODIFIED" | "DELETED" | "RESYNC";

/** One change, delivered after the cache has been updated. */
export interface ChangeEvent<T> {
  /**
   * ADDED: now cached. MODIFIED: a new resourceVersion. DELETED: no longer cached (deleted, or no longer
   * kept); `object` is its last state. RESYNC: unchanged, but re-read by a relist (after 410 Gone or the
   * watchdog), so a level-based controller may check it again.
   */
  type: ChangeType;
  /** "namespace/name", or "name" for a cluster-scoped object (operator/api/keys.ts). */
  key: string;
  /** The cached object. Shared with the cache: never mutate it. */
  object: T;
}

/** Receives each ChangeEvent; see Informer.onChange. */
export type ChangeHandler<T> = (event: ChangeEvent<T>) => void;

/** A watched cache of one resource type. */
export interface Informer<T> {
  /**
   * Starts listing and watching; resolves after the initial list is in the cache (retrying failed lists
   * with backoff for as long as it takes). Rejects with InformerStoppedError if stopped first. Calling it
   * again returns the same promise.
   */
  start(): Promise<void>;
  /** Stops watching and closes connections; resolves when done. The cache keeps its last state. */
  stop(): Promise<void>;
  /** The cached object with this key ("namespace/name", or "name" if cluster-scoped). */
  get(key: string): T | undefined;
  /** All cached objects, sorted by key. */
  list(): T[];
  /** Whether the initial list has completed. */
  hasSynced(): boolean;
  /**
   * Calls `handler` after each change, in order, synchronously (so keep it cheap: enqueue the key and
   * return). Changes from before the call are not replayed: subscribe before start() to see the initial
   * ADDED events. A handler that throws is logged and does not disturb the others. Returns unsubscribe.
   */
  onChange(handler: ChangeHandler<T>): () => void;
}

/** Name of the diagnostics channel every informer publishes InformerDiagnostic messages on. */
export const INFORMER_CHANNEL = "portcullis:kube:informer";

/** Why a LIST was made. */
export type ListReason = "initial" | "gone" | "quiet";

/** How a watch ended. */
export type WatchEnd = "closed" | "gone" | "quiet" | "error" | "stopped";

/** Published on INFORMER_CHANNEL. `informer` is the informer's name. */
export type InformerDiagnostic =
  | {
      type: "listed";
      informer: string;
      reason: ListReason;
      /** Objects cached after the list (after `keep`). */
      count: number;
      resourceVersion: string;
      durationMs: number;
    }
  | { type: "watchOpened"; informer: string; resourceVersion: string }
  | {
      type: "watchEnded";
      informer: string;
      end: WatchEnd;
      /** Events received, bookmarks included. */
      events: number;
      durationMs: number;
      error?: string;
    }
  | {
      type: "retrying";
      informer: string;
      /** What failed. */
      during: "list" | "watch";
      /** Consecutive failures so far (1 for the first). */
      attempt: number;
      delayMs: number;
      error: string;
      /** HTTP status or Status code, when the server answered. */
      statusCode?: number;
    };

const channel = diagnosticsChannel.channel(INFORMER_CHANNEL);

/** A watch that closes sooner than this without an event counts as failed (as client-go's "very short watch"). */
const SHORT_WATCH_MS = 1000;

/** Creates an informer; nothing happens until start(). */
export function createInformer<T extends KubeObject>(options: InformerOptions<T>): Informer<T> {
  return new ListWatchInformer(options);
}

interface Entry<T> {
  object: T;
  /** The server's resourceVersion of `object`, kept apart in case `keep` trims metadata. */
  resourceVersion: string;
}

type WatchResult = { end: Exclude<WatchEnd, "error"> } | { end: "error"; error: unknown };

class ListWatchInformer<T extends KubeObject> implements Informer<T> {
  readonly #options: InformerOptions<T>;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #path: string;
  readonly #list: (signal: AbortSignal) => Promise<ListResult<T>>;
  readonly #keep: (object: T) => T | undefined;
  readonly #watchTimeoutSeconds: number;
  readonly #quietRelistMs: number;
  readonly #requestTimeoutMs: number;
  readonly #backoff: Backoff;
  readonly #stopper = new AbortController();
  readonly #handlers = new Set<ChangeHandler<T>>();
  #cache = new Map<string, Entry<T>>();
  #resourceVersion = "";
  /** When the last list finished or the last event arrived (the watchdog's clock), in ms. */
  #lastActivity = 0;
  /** 410s in a row without an event in between: the second one backs off. */
  #goneInARow = 0;
  #synced = false;
  #started: PromiseWithResolvers<void> | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.#logger = options.logger;
    this.#path = collectionPath(options.path, options.namespace);
    this.#name = options.name ?? describeCollection(this.#path, options);
    const listOptions = {
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    };
    this.#list =
      options.list ??
      ((signal) => listObjects<T>(options.kubeConfig, this.#path, { ...listOptions, signal }));
    this.#keep = options.keep ?? ((object) => object);
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.#quietRelistMs = options.quietRelistMs ?? 300_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#backoff = new Backoff(options.backoff);
    if (!(this.#watchTimeoutSeconds >= 1)) throw new RangeError("watchTimeoutSeconds must be ≥ 1");
    if (!(this.#quietRelistMs > 0)) throw new RangeError("quietRelistMs must be > 0");
  }

  start(): Promise<void> {
    if (this.#started !== undefined) return this.#started.promise;
    this.#started = Promise.withResolvers<void>();
    if (this.#stopper.signal.aborted) {
      this.#started.reject(new InformerStoppedError(this.#name));
    } else {
      this.#loop = this.#run().catch((error: unknown) => {
        // #run handles every error itself; reaching this is a bug, but never an unhandled rejection.
        this.#logger.error("Stopped informer after an unexpected error", {
          informer: this.#name,
          error: describeError(error),
        });
      });
    }
    return this.#started.promise;
  }

  async stop(): Promise<void> {
    this.#stopper.abort();
    if (!this.#synced) this.#started?.reject(new InformerStoppedError(this.#name));
    await this.#loop;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key)?.object;
  }

  list(): T[] {
    return [...this.#cache]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([, entry]) => entry.object);
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  onChange(handler: ChangeHandler<T>): () => void {
    // A wrapper per subscription, so the same function subscribed twice is called twice.
    const subscription: ChangeHandler<T> = (event) => handler(event);
    this.#handlers.add(subscription);
    return () => {
      this.#handlers.delete(subscription);
    };
  }

  /** List, then watch, forever (until stop). Never throws. */
  async #run(): Promise<void> {
    const stopped = this.#stopper.signal;
    let listReason: ListReason | undefined = "initial";
    while (!stopped.aborted) {
      if (listReason !== undefined) {
        try {
          await this.#relist(listReason);
          listReason = undefined;
        } catch (error) {
          if (stopped.aborted) break;
          await this.#retry("list", error);
          continue;
        }
      }
      const result = await this.#watch();
      switch (result.end) {
        case "stopped":
          return;
        case "closed":
          break; // the server's timeout: resume at once
        case "gone":
          listReason = "gone";
          this.#goneInARow += 1;
          this.#logger.info("Watch resource version expired (410 Gone); relisting", {
            informer: this.#name,
            resourceVersion: this.#resourceVersion,
          });
          if (this.#goneInARow > 1) {
            await this.#retry(
              "watch",
              new KubeApiError(410, "Expired", "expired again right after a relist"),
            );
          }
          break;
        case "quiet":
          listReason = "quiet";
          this.#logger.warn("Watch went quiet; relisting", {
            informer: this.#name,
            quietMs: this.#quietRelistMs,
          });
          break;
        case "error":
          await this.#retry("watch", result.error);
          break;
      }
    }
  }

  /** Lists, swaps the cache, and emits the differences (everything is ADDED the first time). */
  async #relist(reason: ListReason): Promise<void> {
    const started = performance.now();
    const signal = AbortSignal.any([
      this.#stopper.signal,
      AbortSignal.timeout(this.#requestTimeoutMs),
    ]);
    const result = await this.#list(signal);
    if (this.#stopper.signal.aborted) return;

    const next = new Map<string, Entry<T>>();
    for (const item of result.items) {
      const kept = this.#keep(item);
      if (kept !== undefined)
        next.set(keyOf(item), { object: kept, resourceVersion: versionOf(item) });
    }
    const previous = this.#cache;
    this.#cache = next;
    this.#resourceVersion = result.resourceVersion;
    this.#lastActivity = Date.now();
    const count = next.size;
    const durationMs = Math.round(performance.now() - started);
    this.#logger.info("Listed objects", {
      informer: this.#name,
      reason,
      count,
      resourceVersion: result.resourceVersion,
      durationMs,
    });
    publish({
      type: "listed",
      informer: this.#name,
      reason,
      count,
      resourceVersion: result.resourceVersion,
      durationMs,
    });

    const keys = [...new Set([...previous.keys(), ...next.keys()])].sort(compareStrings);
    for (const key of keys) {
      const before = previous.get(key);
      const after = next.get(key);
      if (after === undefined) {
        if (before !== undefined) this.#emit({ type: "DELETED", key, object: before.object });
      } else if (before === undefined) {
        this.#emit({ type: "ADDED", key, object: after.object });
      } else if (before.resourceVersion !== after.resourceVersion) {
        this.#emit({ type: "MODIFIED", key, object: after.object });
      } else {
        this.#emit({ type: "RESYNC", key, object: after.object });
      }
    }
    if (!this.#synced) {
      this.#synced = true;
      this.#started?.resolve();
    }
  }

  /** One watch from #resourceVersion, applied to the cache as it streams. Never throws. */
  async #watch(): Promise<WatchResult> {
    const aborter = new AbortController();
    const signal = AbortSignal.any([this.#stopper.signal, aborter.signal]);
    const started = performance.now();
    const from = this.#resourceVersion;
    let events = 0;
    let quiet = false;
    // The watchdog runs from before the request, so a server that never answers is caught too.
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const dueInMs = this.#lastActivity + this.#quietRelistMs - Date.now();
      if (dueInMs > 0) {
        watchdog = setTimeout(arm, dueInMs).unref();
      } else {
        quiet = true;
        aborter.abort();
      }
    };
    arm();

    const finish = (result: WatchResult): WatchResult => {
      clearTimeout(watchdog);
      const durationMs = Math.round(performance.now() - started);
      const error = result.end === "error" ? describeError(result.error) : undefined;
      this.#logger.debug("Ended watch", {
        informer: this.#name,
        end: result.end,
        events,
        durationMs,
        error,
      });
      publish({
        type: "watchEnded",
        informer: this.#name,
        end: result.end,
        events,
        durationMs,
        ...(error === undefined ? {} : { error }),
      });
      return result;
    };

    const timeoutSeconds = Math.floor(this.#watchTimeoutSeconds * (1 + Math.random()));
    try {
      const stream = await openWatch(
        this.#options.kubeConfig,
        this.#path,
        {
          resourceVersion: from,
          allowWatchBookmarks: "true",
          timeoutSeconds,
          labelSelector: this.#options.labelSelector,
          fieldSelector: this.#options.fieldSelector,
        },
        signal,
      );
      this.#backoff.markHealthy();
      this.#logger.debug("Opened watch", { informer: this.#name, resourceVersion: from });
      publish({ type: "watchOpened", informer: this.#name, resourceVersion: from });
      for await (const event of stream) {
        events += 1;
        this.#lastActivity = Date.now();
        const failure = this.#apply(event);
        if (failure === "gone") return finish({ end: "gone" });
        if (failure !== undefined) return finish({ end: "error", error: failure });
        this.#goneInARow = 0;
      }
      if (events === 0 && performance.now() - started < SHORT_WATCH_MS) {
        const error = new KubeProtocolError("watch closed in under a second without an event");
        return finish({ end: "error", error });
      }
      return finish({ end: "closed" });
    } catch (error) {
      if (this.#stopper.signal.aborted) return finish({ end: "stopped" });
      if (quiet) return finish({ end: "quiet" });
      if (error instanceof KubeApiError && error.statusCode === 410) return finish({ end: "gone" });
      return finish({ end: "error", error });
    }
  }

  /** Applies one watch event to the cache. Returns "gone" for 410, an error to end the watch, else undefined. */
  #apply(event: WatchEvent): "gone" | Error | undefined {
    const object = event.object as T;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED": {
        const key = keyOf(object);
        const before = this.#cache.get(key);
        const kept = this.#keep(object);
        if (kept === undefined) {
          if (before !== undefined) {
            this.#cache.delete(key);
            this.#emit({ type: "DELETED", key, object: before.object });
          }
        } else {
          const resourceVersion = versionOf(object);
          this.#cache.set(key, { object: kept, resourceVersion });
          if (before === undefined) this.#emit({ type: "ADDED", key, object: kept });
          else if (before.resourceVersion !== resourceVersion) {
            this.#emit({ type: "MODIFIED", key, object: kept });
          }
        }
        break;
      }
      case "DELETED": {
        const key = keyOf(object);
        const before = this.#cache.get(key);
        if (before !== undefined) {
          this.#cache.delete(key);
          this.#emit({ type: "DELETED", key, object: this.#keep(object) ?? before.object });
        }
        break;
      }
      case "BOOKMARK":
        break;
      case "ERROR": {
        const error = KubeApiError.fromStatus(500, event.object);
        return error.statusCode === 410 ? "gone" : error;
      }
      default:
        return new KubeProtocolError(
          `watch sent an event of unknown type ${JSON.stringify(event.type)}`,
        );
    }
    const resourceVersion = versionOf(object);
    if (resourceVersion !== "") this.#resourceVersion = resourceVersion;
    return undefined;
  }

  /** Logs a failure, then waits out the backoff (or until stop). */
  async #retry(during: "list" | "watch", error: unknown): Promise<void> {
    const delayMs = this.#backoff.next();
    const attempt = this.#backoff.failures;
    const statusCode = error instanceof KubeApiError ? error.statusCode : undefined;
    const message = describeError(error);
    this.#logger.warn(during === "list" ? "Failed to list objects" : "Failed to watch objects", {
      informer: this.#name,
      attempt,
      delayMs,
      error: message,
      statusCode,
    });
    publish({
      type: "retrying",
      informer: this.#name,
      during,
      attempt,
      delayMs,
      error: message,
      ...(statusCode === undefined ? {} : { statusCode }),
    });
    await sleep(delayMs, undefined, { signal: this.#stopper.signal }).catch(() => {});
  }

  #emit(event: ChangeEvent<T>): void {
    for (const handler of [...this.#handlers]) {
      try {
        handler(event);
      } catch (error) {
        this.#logger.error("Failed to handle informer change", {
          informer: this.#name,
          type: event.type,
          key: event.key,
          error: describeError(error),
        });
      }
    }
  }
}

function publish(message: InformerDiagnostic): void {
  if (channel.hasSubscribers) channel.publish(message);
}

/** "namespace/name" of an object (its name alone if it has no namespace). */
function keyOf(object: KubeObject): string {
  return formatKey({
    namespace: object.metadata?.namespace ?? "",
    name: object.metadata?.name ?? "",
  });
}

function versionOf(object: unknown): string {
  const metadata = isRecord(object) ? object.metadata : undefined;
  const version = isRecord(metadata) ? metadata.resourceVersion : undefined;
  return typeof version === "string" ? version : "";
}

/**
 * The collection path for one namespace: "/api/v1/configmaps" with namespace "web" becomes
 * "/api/v1/namespaces/web/configmaps". Without a namespace, the path as given.
 */
export function collectionPath(path: string, namespace: string | undefined): string {
  const trimmed = path.replace(/\/+$/, "");
  if (namespace === undefined || namespace === "") return trimmed;
  const slash = trimmed.lastIndexOf("/");
  if (slash <= 0) throw new RangeError(`not a collection path: ${JSON.stringify(path)}`);
  const base = trimmed.slice(0, slash);
  const resource = trimmed.slice(slash + 1);
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
}

function describeCollection(
  path: string,
  options: { labelSelector?: string; fieldSelector?: string },
): string {
  const selectors = [options.labelSelector, options.fieldSelector].filter(
    (selector) => selector !== undefined && selector !== "",
  );
  return selectors.length === 0 ? path : `${path}?${selectors.join(",")}`;
}
