import assert from "node:assert/strict";
import { test } from "node:test";
import { parseGoDuration } from "./go-duration.ts";

test("reads what Go's time.ParseDuration reads, in nanoseconds", () => {
  const cases: [string, bigint][] = [
    ["0", 0n],
    ["-0", 0n],
    ["+5s", 5_000_000_000n],
    ["1h30m", 5_400_000_000_000n],
    ["-1.5h", -5_400_000_000_000n],
    [".5s", 500_000_000n],
    ["5.s", 5_000_000_000n],
    ["1us", 1_000n],
    ["1\u00b5s", 1_000n],
    ["1\u03bcs", 1_000n],
    ["1.0000000001s", 1_000_000_000n],
    ["9223372036854775807ns", 9_223_372_036_854_775_807n],
    ["-9223372036854775808ns", -9_223_372_036_854_775_808n],
    ["2562047h47m16.854775807s", 9_223_372_036_854_775_807n],
  ];
  for (const [text, nanoseconds] of cases) assert.equal(parseGoDuration(text), nanoseconds, text);
});

test("refuses what Go refuses", () => {
  for (const text of [
    "",
    "-",
    "s",
    ".s",
    "1",
    "1d",
    "1e3s",
    "1h 2m",
    "9223372036854775808ns",
    "2562048h",
    "99999999999999999999ns",
  ]) {
    assert.equal(parseGoDuration(text), undefined, text);
  }
});
