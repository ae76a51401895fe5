// Messages between the supervisor and its worker processes (over the fork IPC channel).
import type { ConfigSource } from "./config/types.ts";
import type { ProxyOptions } from "./supervisor.ts";

/** What a worker needs: the proxy options, with the keys directory resolved. */
export type WorkerOptions = Omit<ProxyOptions, "keysDir" | "workers"> & { keysDir: string };

export type WorkerMessage =
  /** Supervisor → worker: start serving. */
  | { type: "start"; options: WorkerOptions; index: number }
  /**
   * Supervisor → worker: draining has begun (SIGTERM), and the drain delay with it: tell HTTP/1
   * clients to go elsewhere (`Connection: close` on every response) but keep accepting until `drain`.
   */
  | { type: "announce-drain" }
  /** Supervisor → worker: stop accepting, drain, exit by `deadline` (epoch ms). */
  | { type: "drain"; deadline: number }
  /** Worker → supervisor: listening with a config applied. */
  | { type: "ready" }
  /** Worker → supervisor: a config version is now in force. */
  | { type: "applied"; version: string; sources: ConfigSource[] };
