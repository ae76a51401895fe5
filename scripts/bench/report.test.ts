import assert from "node:assert/strict";
import { test } from "node:test";
import { parseBenchOptions } from "./options.ts";
import {
  addSample,
  type BenchResults,
  buildReport,
  buildResultsTable,
  formatRatio,
  formatValue,
  handshakeCeiling,
} from "./report.ts";

function results(): BenchResults {
  return {
    startedAt: "2026-01-01T00:00:00.000Z",
    command: "npm run bench",
    options: parseBenchOptions([]),
    machine: {
      cpuModel: "Test CPU",
      cores: 2,
      kernel: "6.1",
      versions: { nginx: "nginx/1.22.1" },
      portcullis: "abc123",
    },
    layout: ["Layout: test"],
    proxies: ["nginx", "haproxy", "portcullis"],
    samples: {},
    probes: {},
    crypto: undefined,
    runs: [],
    notes: [],
    durationSeconds: 12,
  };
}

test("a figure's row: medians with ranges, and Portcullis ÷ each peer from the medians", () => {
  const r = results();
  for (const [kind, values] of [
    ["nginx", [40_000, 46_000, 45_000]],
    ["haproxy", [48_000, 47_000, 47_500]],
    ["portcullis", [23_000, 22_000, 24_000]],
  ] as const) {
    for (const v of values) addSample(r, "h1.rate", kind, v);
  }
  const table = buildResultsTable(r);
  const row = table.split("\n").find((l) => l.startsWith("| HTTP/1.1 keep-alive req/s"));
  assert.equal(
    row,
    "| HTTP/1.1 keep-alive req/s (wrk -c50) ↑ | 45.0k (40.0k–46.0k) | 47.5k (47.0k–48.0k) | 23.0k (22.0k–24.0k) | 0.51× | 0.48× |",
  );
  // Figures without samples have no row.
  assert.equal(table.split("\n").length, 3);
});

test("a missing proxy shows a dash and no ratio", () => {
  const r = results();
  addSample(r, "fixed.p99", "nginx", 1.234);
  addSample(r, "fixed.p99", "portcullis", 2.5);
  const row = buildResultsTable(r).split("\n")[2];
  assert.equal(
    row,
    "| p99 latency at the fixed rate (HTTP/1.1) (ms) ↓ | 1.23 | — | 2.50 | 2.03× | — |",
  );
});

test("a context figure (utilisation) has no arrow and no ratio", () => {
  const r = results();
  addSample(r, "full-rsa.proxyBusy", "nginx", 50);
  addSample(r, "full-rsa.proxyBusy", "portcullis", 60);
  const row = buildResultsTable(r).split("\n")[2];
  assert.equal(
    row,
    "| full handshakes RSA-2048: proxy CPU utilisation (%) | 50.0 | — | 60.0 | — | — |",
  );
});

test("number formats per unit", () => {
  assert.equal(formatValue(1234.4, "req/s"), "1,234");
  assert.equal(formatValue(45_800, "req/s"), "45.8k");
  assert.equal(formatValue(0.456, "ms"), "0.46");
  assert.equal(formatValue(22.7, "µs"), "22.7");
  assert.equal(formatValue(99.99, "%"), "99.9");
  assert.equal(formatValue(100, "%"), "100.0");
  assert.equal(formatValue(Number.NaN, "MiB"), "—");
  assert.equal(formatRatio(1, 0), "—");
  assert.equal(formatRatio(undefined, 2), "—");
});

test("handshake crypto ceiling: one signature and two X25519 operations", () => {
  assert.equal(Math.round(handshakeCeiling(52_000, 26_000)), 10_400);
});

test("the report names the machine, versions, layout, command and notes", () => {
  const r = results();
  r.notes.push("A note.");
  const report = buildReport(r);
  for (const part of [
    "Test CPU, 2 CPUs",
    "nginx 1.22.1",
    "Portcullis abc123",
    "- Layout: test",
    "`npm run bench`",
    "- A note.",
  ]) {
    assert.ok(report.includes(part), `${part} in:\n${report}`);
  }
});
