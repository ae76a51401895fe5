// Metrics across worker processes. The proxy runs one worker per core, started with
// child_process.fork and sharing the listening ports through reusePort, so prom-client's node:cluster
// plumbing (AggregatorRegistry.clusterMetrics) does not apply. Instead:
//
//   supervisor /metrics ──► fetchWorkerMetrics(child) ──IPC request──► worker: serveWorkerMetrics
//                       ◄── aggregateMetrics([...])   ◄──IPC response── collectWorkerMetrics(registry)
//
// Each worker answers a request on its IPC channel with its registry as JSON; the supervisor sums the
// answers with AggregatorRegistry.aggregate, using each family's `aggregator` (sum by default; min, max,
// first or omit where summing would lie; see metrics.ts) and renders one Prometheus text document.
//
// A scrape fails when any live worker does not answer in time. Serving the sum of the others instead
// would make every counter dip and then jump back, which Prometheus reads as a reset followed by a burst
// of traffic; a failed scrape is an honest gap.
import type { ChildProcess } from "node:child_process";
import type { Registry } from "prom-client";
import { AggregatorRegistry } from "./prom-client-parts.ts";

/** One registry's metrics as JSON (Registry.getMetricsAsJSON): what a worker sends over IPC. */
export type WorkerMetrics = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** IPC message types; prefixed so they cannot be mistaken for the other messages on the channel. */
export const METRICS_REQUEST = "portcullis:metrics-request";
export const METRICS_RESPONSE = "portcullis:metrics-response";

/** Default time a worker has to answer, in milliseconds; well inside Prometheus' 10 s scrape timeout. */
export const DEFAULT_WORKER_METRICS_TIMEOUT_MS = 2_000;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}

interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  metrics?: WorkerMetrics;
  error?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isRequest(message: unknown): message is MetricsRequest {
  return isRecord(message) && message.type === METRICS_REQUEST && typeof message.id === "number";
}

function isResponse(message: unknown): message is MetricsResponse {
  return isRecord(message) && message.type === METRICS_RESPONSE && typeof message.id === "number";
}

/** A worker's metrics, ready to send to the supervisor. */
export function collectWorkerMetrics(registry: Registry): Promise<WorkerMetrics> {
  return registry.getMetricsAsJSON();
}

/** The IPC end a worker answers on: `process` in a forked child. */
export interface MetricsChannel {
  send?: NodeJS.Process["send"];
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
}

/**
 * In a worker: answers the supervisor's metrics requests on `channel` (the IPC channel of a forked
 * process by default). Returns a function that stops answering. Throws when the process has no IPC
 * channel, since then nobody could ever ask.
 */
export function serveWorkerMetrics(
  registry: Registry,
  channel: MetricsChannel = process,
): () => void {
  const send = channel.send?.bind(channel);
  if (!send) throw new Error("Cannot serve worker metrics: this process has no IPC channel");
  const reply = (response: MetricsResponse): void => {
    // A supervisor that went away mid-request is not this worker's problem; drop the answer.
    send(response, undefined, {}, () => {});
  };
  const onMessage = (message: unknown): void => {
    if (!isRequest(message)) return;
    collectWorkerMetrics(registry).then(
      (metrics) => reply({ type: METRICS_RESPONSE, id: message.id, metrics }),
      (error: unknown) => reply({ type: METRICS_RESPONSE, id: message.id, error: String(error) }),
    );
  };
  channel.on("message", onMessage);
  return () => {
    channel.off("message", onMessage);
  };
}

let nextRequestId = 0;

/**
 * In the supervisor: asks one forked worker for its metrics. Rejects when the worker is not connected,
 * exits, reports an error, or does not answer within `timeoutMs`.
 */
export function fetchWorkerMetrics(
  worker: ChildProcess,
  timeoutMs: number = DEFAULT_WORKER_METRICS_TIMEOUT_MS,
): Promise<WorkerMetrics> {
  return new Promise((resolve, reject) => {
    if (!worker.connected) {
      reject(new Error(`Worker ${worker.pid} has no IPC channel to ask for metrics`));
      return;
    }
    const id = nextRequestId++;
    const finish = (error: Error | undefined, metrics?: WorkerMetrics): void => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("disconnect", onGone);
      if (error) reject(error);
      else resolve(metrics ?? []);
    };
    const onMessage = (message: unknown): void => {
      if (!isResponse(message) || message.id !== id) return;
      if (message.error !== undefined) {
        finish(new Error(`Worker ${worker.pid} failed to collect metrics: ${message.error}`));
      } else finish(undefined, message.metrics);
    };
    const onGone = (): void => finish(new Error(`Worker ${worker.pid} exited before it answered`));
    const timer = setTimeout(
      () => finish(new Error(`Worker ${worker.pid} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    worker.on("message", onMessage);
    worker.once("disconnect", onGone);
    const request: MetricsRequest = { type: METRICS_REQUEST, id };
    worker.send(request, (error) => {
      if (error) finish(error);
    });
  });
}

/**
 * In the supervisor: one Prometheus text document from several registries' JSON (the workers', and the
 * supervisor's own if it keeps one). Families combine by their `aggregator`; see docs/metrics.md.
 */
export function aggregateMetrics(workers: readonly WorkerMetrics[]): Promise<string> {
  return AggregatorRegistry.aggregate([...workers]).metrics();
}

/**
 * In the supervisor: what /metrics serves. Asks every connected worker (a worker that is not connected
 * has exited, and its counts went with it) and adds `own` registries, such as the supervisor's. Rejects
 * when a connected worker fails to answer; see the file comment for why that fails the whole scrape.
 */
export async function fetchAggregatedMetrics(
  workers: readonly ChildProcess[],
  own: readonly Registry[] = [],
  timeoutMs: number = DEFAULT_WORKER_METRICS_TIMEOUT_MS,
): Promise<string> {
  const answers = await Promise.all([
    ...workers.filter((worker) => worker.connected).map((w) => fetchWorkerMetrics(w, timeoutMs)),
    ...own.map(collectWorkerMetrics),
  ]);
  return aggregateMetrics(answers);
}

/** The content type of aggregateMetrics' output (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;
