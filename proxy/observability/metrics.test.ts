import assert from "node:assert/strict";
import { test } from "node:test";
import type { Registry } from "prom-client";
import { createPrometheusMetrics, type PrometheusMetrics } from "./metrics.ts";

const FAMILIES = [
  "portcullis_requests_total",
  "portcullis_request_duration_seconds",
  "portcullis_tls_handshakes_total",
  "portcullis_affinity_events_total",
  "portcullis_upstream_failures_total",
  "portcullis_retries_total",
  "portcullis_endpoint_healthy",
  "portcullis_certificate_expiry_timestamp_seconds",
  "portcullis_certificate_reloads_total",
  "portcullis_config_applies_total",
  "portcullis_config_info",
  "portcullis_open_connections",
];

function fresh(): PrometheusMetrics {
  return createPrometheusMetrics(undefined, { defaultMetrics: false });
}

/** Samples of one family: label sets and values (histograms give their buckets, sum and count). */
async function samples(
  registry: Registry,
  name: string,
): Promise<{ labels: Record<string, string | number>; value: number; metricName?: string }[]> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  return (await metric.get()).values as never;
}

function recordOneOfEach(metrics: PrometheusMetrics): void {
  metrics.request("default/web:spec.rules[0]", "default/web-80", 200, 0.004);
  metrics.handshake("full");
  metrics.affinity("default/web-80", "hit");
  metrics.upstreamFailure("default/web-80", "connect");
  metrics.retry("default/web-80");
  metrics.endpointHealth("default/web-80", "0123456789abcdef", true);
  metrics.certificateExpiry("default/tls", 4_102_444_800);
  metrics.certificateReload("default/tls", "ok");
  metrics.configApplied("abc123", "ok");
  metrics.connections(1);
}

test("the metrics text holds every family after one sample of each", async () => {
  const metrics = fresh();
  recordOneOfEach(metrics);
  const text = await metrics.registry.metrics();
  for (const family of FAMILIES) {
    assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), family);
  }
  assert.match(
    text,
    /^portcullis_requests_total\{route="default\/web:spec.rules\[0\]",cluster="default\/web-80",code="200"\} 1$/m,
  );
  assert.match(text, /^portcullis_request_duration_seconds_bucket\{le="0.005",route=.*\} 1$/m);
  assert.match(text, /^portcullis_config_info\{version="abc123"\} 1$/m);
});

test("default process metrics are registered unless turned off", async () => {
  const metrics = createPrometheusMetrics();
  assert.match(await metrics.registry.metrics(), /^process_cpu_seconds_total /m);
  assert.doesNotMatch(await fresh().registry.metrics(), /process_cpu_seconds_total/);
});

test("labelled children are looked up once and then reused from the cache", async () => {
  const metrics = fresh();
  const counter = metrics.registry.getSingleMetric("portcullis_requests_total") as unknown as {
    labels: (...values: string[]) => unknown;
  };
  const original = counter.labels.bind(counter);
  let lookups = 0;
  counter.labels = (...values) => {
    lookups++;
    return original(...values);
  };
  for (let i = 0; i < 100; i++) metrics.request("r", "c", 200, 0.01);
  for (let i = 0; i < 50; i++) metrics.request("r", "c", 503, 0.01);
  assert.equal(lookups, 2);
  const values = await samples(metrics.registry, "portcullis_requests_total");
  assert.deepEqual(
    values.map((v) => [v.labels.code, v.value]),
    [
      ["200", 100],
      ["503", 50],
    ],
  );
});

test("a status outside 100-599 is counted as other, not as a new series per value", async () => {
  const metrics = fresh();
  metrics.request("r", "c", 0, 0.01);
  metrics.request("r", "c", 1234, 0.01);
  const values = await samples(metrics.registry, "portcullis_requests_total");
  assert.deepEqual(
    values.map((v) => [v.labels.code, v.value]),
    [["other", 2]],
  );
});

test("forgetEndpoints drops series of endpoints and clusters that are gone", async () => {
  const metrics = fresh();
  metrics.endpointHealth("a", "e1", true);
  metrics.endpointHealth("a", "e2", false);
  metrics.endpointHealth("b", "e3", true);
  metrics.affinity("b", "hit");
  metrics.retry("b");
  metrics.request("route-b", "b", 200, 0.01);
  metrics.request("route-a", "a", 200, 0.01);

  metrics.forgetEndpoints(new Map([["a", new Set(["e1"])]]));

  const health = await samples(metrics.registry, "portcullis_endpoint_healthy");
  assert.deepEqual(
    health.map((v) => [v.labels.cluster, v.labels.endpoint, v.value]),
    [["a", "e1", 1]],
  );
  assert.deepEqual(await samples(metrics.registry, "portcullis_affinity_events_total"), []);
  assert.deepEqual(await samples(metrics.registry, "portcullis_retries_total"), []);
  const requests = await samples(metrics.registry, "portcullis_requests_total");
  assert.deepEqual(
    requests.map((v) => v.labels.cluster),
    ["a"],
  );
  const durations = await samples(metrics.registry, "portcullis_request_duration_seconds");
  assert.ok(durations.every((v) => v.labels.route === "route-a"));

  // A forgotten series comes back when recorded again.
  metrics.endpointHealth("b", "e3", false);
  metrics.retry("b");
  assert.equal((await samples(metrics.registry, "portcullis_endpoint_healthy")).length, 2);
  assert.equal((await samples(metrics.registry, "portcullis_retries_total"))[0]?.value, 1);
});

test("config_info carries only the applied version; a rejected config leaves it alone", async () => {
  const metrics = fresh();
  metrics.configApplied("v1", "ok");
  metrics.configApplied("v2", "ok");
  metrics.configApplied("v3", "rejected");
  const info = await samples(metrics.registry, "portcullis_config_info");
  assert.deepEqual(
    info.map((v) => [v.labels.version, v.value]),
    [["v2", 1]],
  );
  const applies = await samples(metrics.registry, "portcullis_config_applies_total");
  assert.deepEqual(
    applies.map((v) => [v.labels.outcome, v.value]),
    [
      ["ok", 2],
      ["rejected", 1],
    ],
  );
});

test("open connections go up and down", async () => {
  const metrics = fresh();
  metrics.connections(1);
  metrics.connections(1);
  metrics.connections(-1);
  assert.equal((await samples(metrics.registry, "portcullis_open_connections"))[0]?.value, 1);
});

test("affinity events and handshakes counted between reads all reach the registry", async () => {
  const metrics = fresh();
  const value = async (name: string, label: string): Promise<number | undefined> => {
    const values = await samples(metrics.registry, name);
    return values.find((sample) => Object.values(sample.labels).includes(label))?.value;
  };
  for (let i = 0; i < 3; i++) metrics.affinity("default/web-80", "hit");
  metrics.affinity("default/web-80", "new");
  metrics.handshake("resumed");
  metrics.handshake("resumed");
  assert.equal(await value("portcullis_affinity_events_total", "hit"), 3);
  assert.equal(await value("portcullis_affinity_events_total", "new"), 1);
  assert.equal(await value("portcullis_tls_handshakes_total", "resumed"), 2);
  metrics.affinity("default/web-80", "hit");
  metrics.handshake("resumed");
  assert.equal(await value("portcullis_affinity_events_total", "hit"), 4);
  assert.equal(await value("portcullis_tls_handshakes_total", "resumed"), 3);
  // A read with nothing new counts nothing twice.
  assert.equal(await value("portcullis_affinity_events_total", "hit"), 4);
});
