import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildWrkArgs, parseWrkOutput } from "./wrk.ts";

const sample = (name: string): string =>
  readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

test("wrk: rate, request count and --latency percentiles in their units", () => {
  const result = parseWrkOutput(sample("wrk-latency.txt"));
  assert.equal(result.requests, 7681);
  assert.equal(result.seconds, 3.04);
  assert.equal(result.requestsPerSecond, 2530.73);
  assert.deepEqual(result.latencyMs, { p50: 12.24, p75: 21.05, p90: 66.5, p99: 229.89 });
  assert.equal(result.non2xx, 0);
  assert.equal(result.socketErrors, 0);
});

test("wrk: non-2xx answers are counted", () => {
  const result = parseWrkOutput(sample("wrk-errors.txt"));
  assert.equal(result.non2xx, 5156);
  assert.equal(result.requests, 5156);
});

test("wrk: socket errors are summed and microsecond latencies parse", () => {
  const result = parseWrkOutput(sample("wrk-connect-errors.txt"));
  assert.equal(result.socketErrors, 6450);
  assert.equal(result.requests, 0);
  assert.equal(result.latencyMs.p99, 0);
});

test("wrk: output without --latency or a summary is refused", () => {
  assert.throws(() => parseWrkOutput("Running 1s test\n"), /unrecognised wrk output/);
  const withoutLatency = sample("wrk-latency.txt").replace(/ {5}99%.*\n/, "");
  assert.throws(() => parseWrkOutput(withoutLatency), /no 99% latency/);
});

test("wrk: argv has one thread, the connections, the loopback script and the cookie", () => {
  assert.deepEqual(
    buildWrkArgs({
      url: "https://shop.example.com:8443/app-1/",
      script: "/tmp/x.lua",
      connections: 50,
      seconds: 10,
      headers: ["Cookie: SRV=s1"],
    }),
    [
      "-t1",
      "-c50",
      "-d10s",
      "--latency",
      "--timeout",
      "5s",
      "-s",
      "/tmp/x.lua",
      "-H",
      "Cookie: SRV=s1",
      "https://shop.example.com:8443/app-1/",
    ],
  );
});
