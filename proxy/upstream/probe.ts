// Active health checks: one GET through the endpoint's own pool, so a probe exercises what real
// requests use (connect timeout, TLS verification, keep-alive connections) and costs no extra handshake.
import type { Dispatcher } from "undici";
import type { UpstreamPool } from "./pool.ts";

/** Largest probe response body read to its end; beyond it the connection is dropped instead. */
const MAX_PROBE_BODY_BYTES = 64 * 1024;

/** undici accepts a per-request TLS server name; its published types omit it. */
type DispatchOptions = Dispatcher.DispatchOptions & { servername?: string };

/**
 * Sends `GET path` to the pool's endpoint and resolves true for a 2xx or 3xx answer within `timeoutMs`
 * (connecting included), false for anything else: another status, an error, a timeout, an abort. The
 * Host header is the endpoint's address:port. Never rejects.
 */
export function probeEndpoint(
  pool: UpstreamPool,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const handler = new ProbeHandler(resolve, timeoutMs, signal);
    const options: DispatchOptions = {
      path,
      method: "GET",
      headers: ["user-agent", "portcullis-health-check", "accept", "*/*"],
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    };
    if (pool.servername !== null) options.servername = pool.servername;
    pool.dispatcher.dispatch(options, handler);
  });
}

class ProbeHandler implements Dispatcher.DispatchHandler {
  readonly #resolve: (healthy: boolean) => void;
  readonly #timer: NodeJS.Timeout;
  readonly #signal: AbortSignal | undefined;
  #controller: Dispatcher.DispatchController | null = null;
  #healthy = false;
  #bytes = 0;
  #done = false;

  readonly #giveUp = (): void => {
    this.#controller?.abort(new Error("health probe abandoned"));
    this.#settle(false);
  };

  constructor(
    resolve: (healthy: boolean) => void,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ) {
    this.#resolve = resolve;
    this.#signal = signal;
    this.#timer = setTimeout(this.#giveUp, timeoutMs);
    signal?.addEventListener("abort", this.#giveUp, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(new Error("health probe abandoned"));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.#healthy = statusCode >= 200 && statusCode < 400;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#bytes > MAX_PROBE_BODY_BYTES) {
      // The verdict is known; do not read a large body just to keep the connection.
      const healthy = this.#healthy;
      controller.abort(new Error("health probe body too large"));
      this.#settle(healthy);
    }
  }

  onResponseEnd(): void {
    this.#settle(this.#healthy);
  }

  onResponseError(): void {
    this.#settle(false);
  }

  #settle(healthy: boolean): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#giveUp);
    this.#resolve(healthy);
  }
}
