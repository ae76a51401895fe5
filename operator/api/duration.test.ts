import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDurationMs, parseDurationSeconds } from "./duration.ts";

test("parseDurationMs reads the Go duration syntax", () => {
  assert.equal(parseDurationMs("90s"), 90_000);
  assert.equal(parseDurationMs("1h30m"), 5_400_000);
  assert.equal(parseDurationMs("250ms"), 250);
  assert.equal(parseDurationMs("1.5s"), 1_500);
  assert.equal(parseDurationMs("2m3s4ms"), 123_004);
});

test("parseDurationMs rejects what the schema pattern rejects", () => {
  for (const bad of ["", "5", "s", "5d", "-1s", "1 h", "1h 2m"]) {
    assert.equal(parseDurationMs(bad), undefined, bad);
  }
});

test("parseDurationSeconds rounds up", () => {
  assert.equal(parseDurationSeconds("1ms"), 1);
  assert.equal(parseDurationSeconds("12h"), 43_200);
});
