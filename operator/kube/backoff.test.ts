import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "./backoff.ts";

test("delays double from initialMs up to maxMs", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  const delays = Array.from({ length: 7 }, () => backoff.next(0));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(backoff.failures, 7);
});

test("jitter takes up to its fraction off each delay, never adds to it", () => {
  const low = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0.999_999 });
  const high = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0 });
  assert.equal(low.next(0), 500);
  assert.equal(high.next(0), 1000);
  const capped = new Backoff({ initialMs: 1000, maxMs: 2000, jitter: 0.5, random: () => 0 });
  for (let i = 0; i < 10; i++) assert.ok(capped.next(0) <= 2000);
});

test("starts over only after a healthy stretch of resetAfterMs", () => {
  const backoff = new Backoff({ initialMs: 100, jitter: 0, resetAfterMs: 5000 });
  assert.equal(backoff.next(0), 100);
  assert.equal(backoff.next(0), 200);
  backoff.markHealthy(1000);
  assert.equal(backoff.next(5999), 400, "healthy for 4999 ms: keeps growing");
  backoff.markHealthy(10_000);
  backoff.markHealthy(12_000); // still the stretch that began at 10 000
  assert.equal(backoff.next(15_000), 100, "healthy for 5000 ms: starts over");
  assert.equal(backoff.next(15_000), 200, "a failure ends the healthy stretch");
});

test("reset starts over at once", () => {
  const backoff = new Backoff({ initialMs: 100, jitter: 0 });
  backoff.next(0);
  backoff.next(0);
  backoff.reset();
  assert.equal(backoff.next(0), 100);
});

test("rejects nonsense options", () => {
  assert.throws(() => new Backoff({ initialMs: 0 }), RangeError);
  assert.throws(() => new Backoff({ maxMs: Number.NaN }), RangeError);
  assert.throws(() => new Backoff({ factor: 0.5 }), RangeError);
  assert.throws(() => new Backoff({ jitter: 2 }), RangeError);
});
