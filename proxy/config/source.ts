// Where a running proxy gets its ProxyConfig: a JSON file (a mounted ConfigMap in a cluster, a file
// written by `portcullis serve` on a laptop). The file is re-read when it changes; a config that fails
// validation is reported and ignored, so the proxy keeps serving its last good one.
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { ProxyLogger } from "../observability/ports.ts";
import type { ProxyConfig } from "./types.ts";
import { validateProxyConfig } from "./validate.ts";

/** Largest config file read (a 10,000-Ingress config is a few MiB). */
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;
/** fs.watch misses Kubernetes' atomic symlink swaps of mounted volumes, so we also poll. */
const POLL_MS = 500;

export type ConfigLoad = { ok: true; config: ProxyConfig } | { ok: false; problems: string[] };

/** Reads and validates one config file. */
export async function loadConfigFile(path: string): Promise<ConfigLoad> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_CONFIG_BYTES)
      return { ok: false, problems: [`${path}: larger than ${MAX_CONFIG_BYTES} bytes`] };
    text = await readFile(path, "utf8");
  } catch (error) {
    return { ok: false, problems: [`${path}: ${(error as Error).message}`] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`${path}: not JSON: ${(error as Error).message}`] };
  }
  const problems = validateProxyConfig(parsed);
  return problems.length === 0
    ? { ok: true, config: parsed as ProxyConfig }
    : { ok: false, problems };
}

/** What identifies one version of the file on disk, or undefined when it cannot be read. */
async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}

export interface ConfigWatch {
  close(): void;
}

/**
 * Calls `onConfig` with the file's config now and whenever its version changes. Invalid configs go
 * to `onRejected` once per distinct content; the previous good config stays in force.
 */
export function watchConfigFile(
  path: string,
  handlers: {
    onConfig(config: ProxyConfig): void | Promise<void>;
    onRejected(problems: string[]): void;
  },
  logger: ProxyLogger,
): ConfigWatch {
  let appliedVersion: string | undefined;
  let lastRejection = "";
  // The file as last read (inode, size, times): the poll reads, parses and validates it only when this
  // changes. Before, every worker parsed and validated the whole config twice a second, which for a
  // config of 10,000 Ingresses (a few MiB) is most of a core. A swapped Kubernetes volume gives a new
  // inode; an edit in place a new mtime.
  let lastStamp = "";
  let running = false;
  let again = false;
  let closed = false;

  const check = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const stamp = await fileStamp(path);
        if (stamp !== undefined && stamp === lastStamp) continue;
        const load = await loadConfigFile(path);
        lastStamp = stamp ?? "";
        if (closed) return;
        if (load.ok) {
          lastRejection = "";
          if (load.config.version !== appliedVersion) {
            appliedVersion = load.config.version;
            await handlers.onConfig(load.config);
          }
        } else {
          const key = load.problems.join("\n");
          if (key !== lastRejection) {
            lastRejection = key;
            handlers.onRejected(load.problems);
          }
        }
      } while (again && !closed);
    } catch (error) {
      logger.error("Failed to apply proxy config", { path, error: (error as Error).message });
    } finally {
      running = false;
    }
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, () => void check());
  } catch {
    // Polling alone still works.
  }
  const timer = setInterval(() => void check(), POLL_MS);
  timer.unref();
  void check();
  return {
    close(): void {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
