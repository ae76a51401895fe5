import assert from "node:assert/strict";
import { test } from "node:test";
import { Histogram, type Metric, Registry } from "prom-client";
import { LabelledHistogram } from "./duration-histogram.ts";

const BUCKETS = [0.1, 1, 10];

function routeHistogram(): LabelledHistogram {
  return new LabelledHistogram({ name: "h", help: "help", labelName: "route", buckets: BUCKETS });
}

test("renders exactly what prom-client's Histogram renders for the same observations", async () => {
  const ours = routeHistogram();
  const oursRegistry = new Registry();
  oursRegistry.registerMetric(ours as unknown as Metric);
  const theirsRegistry = new Registry();
  const theirs = new Histogram({
    name: "h",
    help: "help",
    labelNames: ["route"],
    buckets: BUCKETS,
    registers: [theirsRegistry],
  });
  // On a bound, just above it, below the first, above the last; two routes.
  const observations: [string, number][] = [
    ["a", 0.1],
    ["a", 0.1000001],
    ["a", 0],
    ["a", 11],
    ["b", 1],
    ["b", 5],
  ];
  for (const [route, value] of observations) {
    ours.observe(ours.series(route), value);
    theirs.observe({ route }, value);
  }
  assert.equal(await oursRegistry.metrics(), await theirsRegistry.metrics());
  // The JSON the workers send the supervisor, too (prom-client adds empty exemplar fields).
  const samples = async (registry: Registry) =>
    (await registry.getMetricsAsJSON()).flatMap((metric) =>
      metric.values.map((sample) => ({
        value: sample.value,
        labels: sample.labels,
        metricName: (sample as { metricName?: string }).metricName,
      })),
    );
  assert.deepEqual(await samples(oursRegistry), await samples(theirsRegistry));
});

test("remove drops a series (a removed route starts again from zero); reset zeroes them in place", async () => {
  const histogram = routeHistogram();
  histogram.observe(histogram.series("a"), 1);
  histogram.observe(histogram.series("b"), 1);
  histogram.remove("a");
  let values = (await histogram.get()).values;
  assert.ok(values.every((value) => value.labels.route === "b"));
  histogram.observe(histogram.series("a"), 2);
  values = (await histogram.get()).values;
  const countOfA = values.find((v) => v.metricName === "h_count" && v.labels.route === "a");
  assert.equal(countOfA?.value, 1);
  // A reset zeroes the series in place: a caller still holding one keeps counting into it.
  const held = histogram.series("b");
  histogram.reset();
  assert.ok((await histogram.get()).values.every((value) => value.value === 0));
  histogram.observe(held, 0.5);
  const countOfB = (await histogram.get()).values.find(
    (v) => v.metricName === "h_count" && v.labels.route === "b",
  );
  assert.equal(countOfB?.value, 1);
});
