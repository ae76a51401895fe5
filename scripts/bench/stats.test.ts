import assert from "node:assert/strict";
import { test } from "node:test";
import { percentile, summarize } from "./stats.ts";
import { parseDurationMs, parseScaled } from "./units.ts";

test("summarize: median of odd and even counts, min and max, NaN left out", () => {
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(summarize([4, 1, 2, 3, Number.NaN]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.equal(summarize([Number.NaN]), undefined);
});

test("percentile: nearest rank", () => {
  const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 500);
  assert.equal(percentile(sorted, 99), 990);
  assert.equal(percentile(sorted, 100), 1000);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test("tool units: durations to ms, k/M suffixes", () => {
  assert.equal(parseDurationMs("456.00us"), 0.456);
  assert.equal(parseDurationMs("1.5s"), 1500);
  assert.equal(parseDurationMs("2m"), 120_000);
  assert.throws(() => parseDurationMs("fast"), /not a duration/);
  assert.equal(parseScaled("40.12k"), 40120);
  assert.equal(parseScaled("1.5M"), 1_500_000);
});
