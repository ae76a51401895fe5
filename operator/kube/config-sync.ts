// config-sync: the sidecar half of config delivery (docs/design/2026-11-24-operator-delivery.md). It
// watches ONE ConfigMap (an informer with a metadata.name field selector, so its Role may be limited to
// that name) and writes data[key] into a file the proxy watches, atomically (write + rename):
//   - only a valid ProxyConfig (validateProxyConfig) is written; an invalid one is logged and skipped,
//     so the proxy keeps serving the last good config;
//   - only a change is written (the same content, e.g. after a relist, leaves the file alone);
//   - a deleted ConfigMap, or one without the key, leaves the file as it is.
// Writes are serialised and coalesced: each one writes the newest cached state, never an older one.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { validateProxyConfig } from "../../proxy/config/validate.ts";
import { writeAtomically } from "../api/atomic-file.ts";
import { formatKey } from "../api/keys.ts";
import { RECOVERY_BACKOFF_MAX_MS } from "./backoff.ts";
import { describeError, InformerStoppedError } from "./errors.ts";
import { createInformer, type KubeObject } from "./informer.ts";
import type { Logger } from "./logger.ts";

/** The ConfigMap fields config-sync reads. */
interface ConfigMap extends KubeObject {
  data?: Record<string, string> | undefined;
}

/** Options of startConfigSync. */
export interface ConfigSyncOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Name of the ConfigMap. */
  configMap: string;
  /** Key of the ConfigMap's data holding the ProxyConfig JSON, e.g. "config.json". */
  key: string;
  /** The file to write. */
  outPath: string;
  logger: Logger;
  /** Delay before retrying a failed write, in ms. Default 1000. */
  retryMs?: number;
}

/** A running config-sync. */
export interface ConfigSync {
  /** Resolves once the initial list is in (and its write, if any, is done). */
  synced: Promise<void>;
  /** Stops watching, waits for a write in progress; resolves when done. Safe to call twice. */
  stop(): Promise<void>;
  /** Resolves after stop() has finished. */
  done: Promise<void>;
}

/** Outcome of one look at the ConfigMap. */
type Outcome = "written" | "unchanged" | "invalid" | "missing" | "failed";

/** Starts watching the ConfigMap and writing its config to outPath. */
export function startConfigSync(options: ConfigSyncOptions): ConfigSync {
  const { logger, key, outPath } = options;
  const objectKey = formatKey({ namespace: options.namespace, name: options.configMap });
  const fields = { configMap: objectKey, dataKey: key, out: outPath };
  const informer = createInformer<ConfigMap>({
    kubeConfig: options.kubeConfig,
    path: "/api/v1/configmaps",
    namespace: options.namespace,
    fieldSelector: `metadata.name=${options.configMap}`,
    name: `config-sync ${objectKey}`,
    logger,
    backoff: { maxMs: RECOVERY_BACKOFF_MAX_MS },
    // Only the one key is needed.
    keep: (object) => {
      const value = object.data?.[key];
      return { metadata: object.metadata, data: value === undefined ? {} : { [key]: value } };
    },
  });
  const stopper = new AbortController();
  const retryMs = options.retryMs ?? 1000;
  /** The last content looked at (written, or found invalid), so repeats are neither re-validated nor re-logged. */
  let lastSeen: string | undefined;
  let queue: Promise<void> = Promise.resolve();
  let retrying = false;

  async function apply(): Promise<Outcome> {
    const object = informer.get(objectKey);
    if (object === undefined) return "missing";
    const content = object.data?.[key];
    if (content === undefined) {
      if (lastSeen !== undefined) {
        logger.warn("Found no config in ConfigMap; kept the file", fields);
        lastSeen = undefined;
      }
      return "missing";
    }
    if (content === lastSeen) return "unchanged";
    lastSeen = content;
    let problems: string[];
    let version: string | undefined;
    try {
      const parsed: unknown = JSON.parse(content);
      problems = validateProxyConfig(parsed);
      version = (parsed as { version?: unknown }).version as string | undefined;
    } catch (error) {
      problems = [`not JSON: ${describeError(error)}`];
    }
    if (problems.length > 0) {
      logger.error("Rejected invalid proxy config; kept the last good one", {
        ...fields,
        resourceVersion: object.metadata?.resourceVersion,
        problems: problems.slice(0, 10).join("; "),
        problemCount: problems.length,
      });
      return "invalid";
    }
    try {
      const written = await writeAtomically(outPath, content);
      if (written) {
        logger.info("Wrote proxy config", {
          ...fields,
          version,
          resourceVersion: object.metadata?.resourceVersion,
        });
      }
      return written ? "written" : "unchanged";
    } catch (error) {
      lastSeen = undefined; // look again next time
      logger.error("Failed to write proxy config", { ...fields, error: describeError(error) });
      return "failed";
    }
  }

  /** Queues a look at the newest cached state; a failed write is retried after retryMs. */
  function schedule(): Promise<void> {
    queue = queue.then(async () => {
      if (stopper.signal.aborted) return;
      if ((await apply()) === "failed" && !retrying) {
        retrying = true;
        void sleep(retryMs, undefined, { signal: stopper.signal })
          .then(() => {
            retrying = false;
            return schedule();
          })
          .catch(() => {});
      }
    });
    return queue;
  }

  informer.onChange((event) => {
    if (event.type === "DELETED") {
      logger.warn("ConfigMap was deleted; kept the file", fields);
      lastSeen = undefined;
      return;
    }
    void schedule();
  });

  const synced = informer.start().then(
    async () => {
      logger.info("Synced ConfigMap", { ...fields, found: informer.get(objectKey) !== undefined });
      if (informer.get(objectKey) === undefined) {
        logger.warn("Found no ConfigMap; waiting for it", fields);
      }
      await schedule();
    },
    (error: unknown) => {
      if (!(error instanceof InformerStoppedError)) throw error;
    },
  );
  const finished = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  return {
    synced,
    done: finished.promise,
    stop() {
      stopping ??= (async () => {
        stopper.abort();
        await informer.stop();
        await synced.catch(() => {});
        await queue;
        logger.info("Stopped config-sync", fields);
        finished.resolve();
      })();
      return stopping;
    },
  };
}
