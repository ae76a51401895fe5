// Aggregation across real worker processes: two forked children record different samples and the
// parent asks each over IPC, then sums them the way the supervisor's /metrics does.
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createPrometheusMetrics } from "./metrics.ts";
import type { WorkerScript } from "./testdata/metrics-worker.ts";
import { aggregateMetrics, fetchAggregatedMetrics, fetchWorkerMetrics } from "./worker-metrics.ts";

const workerScript = join(dirname(fileURLToPath(import.meta.url)), "testdata/metrics-worker.ts");
const started: ChildProcess[] = [];

after(() => {
  for (const child of started) if (child.exitCode === null) child.kill();
});

async function startWorker(script: WorkerScript): Promise<ChildProcess> {
  const child = fork(workerScript, [JSON.stringify(script)], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  started.push(child);
  const [message] = (await once(child, "message")) as [{ type?: string }];
  assert.equal(message.type, "ready");
  return child;
}

function line(text: string, pattern: RegExp): string {
  const found = text.split("\n").find((l) => pattern.test(l));
  assert.ok(found, `a line matching ${pattern}`);
  return found;
}

test("aggregateMetrics combines two worker processes by each family's aggregator", async () => {
  const [a, b] = await Promise.all([
    startWorker({ requests: 3, healthy: true, certificateNotAfter: 2_000, answer: true }),
    startWorker({ requests: 5, healthy: false, certificateNotAfter: 1_000, answer: true }),
  ]);
  const text = await aggregateMetrics(
    await Promise.all([fetchWorkerMetrics(a), fetchWorkerMetrics(b)]),
  );

  // Counters and histograms add up.
  assert.match(line(text, /^portcullis_requests_total\{/), / 8$/);
  assert.match(line(text, /^portcullis_request_duration_seconds_count\{/), / 8$/);
  assert.match(line(text, /^portcullis_request_duration_seconds_bucket\{le="0.0025"/), / 8$/);
  assert.match(line(text, /^portcullis_open_connections /), / 4$/);
  // An endpoint is healthy only if every worker says so; the earliest expiry shows.
  assert.match(line(text, /^portcullis_endpoint_healthy\{/), / 0$/);
  assert.match(line(text, /^portcullis_certificate_expiry_timestamp_seconds\{/), / 1000$/);
  // Both workers applied v1: it is reported once, not once per worker.
  assert.match(line(text, /^portcullis_config_info\{/), /version="v1"\} 1$/);
  // Default process metrics come through too (CPU time summed over the workers).
  assert.match(text, /^process_cpu_seconds_total \d/m);
});

test("fetchWorkerMetrics rejects when a worker does not answer in time", async () => {
  const wedged = await startWorker({
    requests: 0,
    healthy: true,
    certificateNotAfter: 0,
    answer: false,
  });
  await assert.rejects(fetchWorkerMetrics(wedged, 200), /did not answer within 200 ms/);
});

test("fetchWorkerMetrics rejects when the worker exits before answering", async () => {
  const worker = await startWorker({
    requests: 0,
    healthy: true,
    certificateNotAfter: 0,
    answer: false,
  });
  const pending = fetchWorkerMetrics(worker, 5_000);
  worker.kill();
  await assert.rejects(pending, /exited before it answered/);
  await assert.rejects(fetchWorkerMetrics(worker), /has no IPC channel/);
});

test("fetchAggregatedMetrics skips exited workers and adds the supervisor's own registry", async () => {
  const [live, dead] = await Promise.all([
    startWorker({ requests: 2, healthy: true, certificateNotAfter: 5, answer: true }),
    startWorker({ requests: 7, healthy: true, certificateNotAfter: 5, answer: true }),
  ]);
  dead.kill();
  await once(dead, "exit");
  const supervisor = createPrometheusMetrics(undefined, { defaultMetrics: false });
  supervisor.request("default/web", "default/web-80", 200, 0.002);

  const text = await fetchAggregatedMetrics([live, dead], [supervisor.registry]);
  assert.match(line(text, /^portcullis_requests_total\{/), / 3$/);
});
