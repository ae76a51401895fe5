import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildH2loadArgs, parseH2loadLog, parseH2loadOutput } from "./h2load.ts";

const sample = (name: string): string =>
  readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

test("h2load: the main duration's rate, request counts, status classes and protocol", () => {
  const summary = parseH2loadOutput(sample("h2load-h2.txt"));
  assert.deepEqual(summary, {
    requestsPerSecond: 12075.33,
    done: 36226,
    succeeded: 36226,
    failed: 0,
    errored: 0,
    timeout: 0,
    status2xx: 36226,
    non2xx: 0,
    protocol: "h2",
  });
});

test("h2load: an HTTP/1.1 fixed-rate run", () => {
  const summary = parseH2loadOutput(sample("h2load-h1-rps.txt"));
  assert.equal(summary.requestsPerSecond, 2000);
  assert.equal(summary.protocol, "http/1.1");
  assert.equal(summary.done, 6000);
});

test("h2load: output without results is refused", () => {
  assert.throws(() => parseH2loadOutput("starting benchmark...\n"), /unrecognised h2load output/);
});

test("h2load log: nearest-rank percentiles in ms, failed streams (-1) left out", () => {
  const lines = [];
  for (let i = 1; i <= 100; i++) lines.push(`17955037535900${i}\t200\t${i * 1000}`);
  lines.push("1795503753599999\t-1\t5");
  const latency = parseH2loadLog(`${lines.join("\n")}\n`);
  assert.equal(latency.count, 100);
  assert.equal(latency.failed, 1);
  assert.equal(latency.p50, 50);
  assert.equal(latency.p99, 99);
  assert.equal(latency.max, 100);
});

test("h2load log: empty gives NaN percentiles", () => {
  const latency = parseH2loadLog("");
  assert.equal(latency.count, 0);
  assert.ok(Number.isNaN(latency.p99));
});

test("h2load: argv connects to loopback with SNI shop.example.com, rate per client for --h1", () => {
  const args = buildH2loadArgs({
    port: 8443,
    path: "/app-1/",
    clients: 50,
    streams: 1,
    seconds: 10,
    http1: true,
    rpsPerClient: 40,
    headers: ["Cookie: a=b"],
    logFile: "/tmp/log",
  });
  assert.ok(args.includes("--connect-to=127.0.0.1:8443"));
  assert.ok(args.includes("--h1"));
  assert.ok(args.includes("--rps=40"));
  assert.ok(args.includes("-D10"));
  assert.equal(args.at(-1), "https://shop.example.com:8443/app-1/");
});
