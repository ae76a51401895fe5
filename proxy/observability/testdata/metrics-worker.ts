// A stand-in proxy worker for worker-metrics.test.ts: records the samples its parent sends, then answers
// metrics requests over IPC like a real worker would.
import { createPrometheusMetrics } from "../metrics.ts";
import { serveWorkerMetrics } from "../worker-metrics.ts";

/** What the test asks this worker to record. */
export interface WorkerScript {
  requests: number;
  healthy: boolean;
  certificateNotAfter: number;
  /** Whether to answer metrics requests at all (false simulates a wedged worker). */
  answer: boolean;
}

const script = JSON.parse(process.argv[2] ?? "{}") as WorkerScript;
const metrics = createPrometheusMetrics();
for (let i = 0; i < script.requests; i++)
  metrics.request("default/web", "default/web-80", 200, 0.002);
metrics.endpointHealth("default/web-80", "0123456789abcdef", script.healthy);
metrics.certificateExpiry("default/tls", script.certificateNotAfter);
metrics.configApplied("v1", "ok");
metrics.connections(2);
if (script.answer) serveWorkerMetrics(metrics.registry);
else process.on("message", () => {});
process.send?.({ type: "ready" });
