import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import {
  createAccessLogger,
  formatAccessRecord,
  formatMilliseconds,
  MAX_ACCESS_FIELD_CHARS,
  stripQuery,
} from "./access-log.ts";
import type { AccessRecord } from "./ports.ts";

const RECORD: AccessRecord = {
  method: "GET",
  host: "app.example.com",
  path: "/app-1/items?session=SECRET3&user=me",
  status: 200,
  durationMs: 1.23456,
  route: "default/web:spec.rules[0].http.paths[0]",
  cluster: "default/web-80",
  endpoint: "0123456789abcdef",
  bytesSent: 512,
  protocol: "HTTP/1.1",
  clientAddress: "10.0.0.1",
};

function capture() {
  const stream = new PassThrough();
  let text = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
  });
  return { stream, text: () => text };
}

test("an access line is the record's fields only, with the query cut from the path", () => {
  // A caller passing more than an AccessRecord (the headers, say) must not get them logged.
  const careless = {
    ...RECORD,
    headers: { cookie: "session=SECRET1", authorization: "Bearer SECRET2" },
    cookie: "session=SECRET1",
  };
  const line = formatAccessRecord(careless, Date.UTC(2026, 0, 1));
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), [
    "timestamp",
    "level",
    "message",
    "component",
    "method",
    "host",
    "path",
    "status",
    "durationMs",
    "route",
    "cluster",
    "endpoint",
    "bytesSent",
    "protocol",
    "clientAddress",
  ]);
  assert.equal(parsed.timestamp, "2026-01-01T00:00:00.000Z");
  assert.equal(parsed.path, "/app-1/items");
  assert.equal(parsed.durationMs, 1.235);
  assert.doesNotMatch(line, /session|Bearer|SECRET|\?/);
});

test("stripQuery cuts at ? or #, and bounds the length", () => {
  assert.equal(stripQuery("/a/b"), "/a/b");
  assert.equal(stripQuery("/a?x=1"), "/a");
  assert.equal(stripQuery("/a#frag?x"), "/a");
  assert.equal(stripQuery("?x"), "");
  const long = stripQuery(`/${"a".repeat(10_000)}`);
  assert.equal(long.length, MAX_ACCESS_FIELD_CHARS + 1);
  assert.ok(long.endsWith("…"));
});

test("strings from the client are escaped, so a line cannot be split or forged", () => {
  const line = formatAccessRecord({
    ...RECORD,
    host: 'evil"\n{"status":1}',
    path: "/x\u0000\u2028",
  });
  assert.equal(line.includes("\n"), false);
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.equal(parsed.host, 'evil"\n{"status":1}');
  assert.equal(parsed.status, 200);
});

test("lines are buffered and written together after the flush interval", async () => {
  const { stream, text } = capture();
  let writes = 0;
  const write = stream.write.bind(stream);
  stream.write = ((chunk: string) => {
    writes++;
    return write(chunk);
  }) as typeof stream.write;
  const logger = createAccessLogger({ stream, flushIntervalMs: 30 });
  for (let i = 0; i < 100; i++) logger.log(RECORD);
  await nextTurn();
  assert.equal(writes, 0);
  await sleep(60);
  assert.equal(writes, 1);
  assert.equal(text().split("\n").filter(Boolean).length, 100);
  logger.close();
});

test("a full buffer is written at once; close flushes and stops", () => {
  const { stream, text } = capture();
  const logger = createAccessLogger({ stream, flushChars: 1 });
  logger.log(RECORD);
  assert.equal(text().split("\n").filter(Boolean).length, 1);
  logger.close();
  logger.log(RECORD);
  logger.flush();
  assert.equal(text().split("\n").filter(Boolean).length, 1);
});

test("batches are dropped and counted when the stream falls too far behind", () => {
  // A stream nobody reads: its queue only grows.
  const stream = new PassThrough({ highWaterMark: 1 });
  const logger = createAccessLogger({ stream, flushChars: 1, maxQueuedChars: 1_000 });
  for (let i = 0; i < 20; i++) logger.log(RECORD);
  assert.ok(logger.dropped > 0);
  assert.ok(stream.writableLength < 2_000);
  logger.close();
});

test("formatMilliseconds writes what String(Math.round(ms * 1000) / 1000) writes", () => {
  const reference = (ms: number): string => {
    const rounded = Math.round(ms * 1000) / 1000;
    return Number.isFinite(rounded) ? String(rounded) : "null";
  };
  for (const ms of [0, 0.001, 0.01, 0.1, 1, 1.5, 1.23456, 10.05, 999.999, 1000, 2_147_483.647]) {
    assert.equal(formatMilliseconds(ms), reference(ms), String(ms));
  }
  for (const ms of [-1.5, 2_147_483.648, 1e300, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(formatMilliseconds(ms), reference(ms), String(ms));
  }
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 0, max: 10_000_000 }).map((micros) => micros / 1000),
        fc.double(),
      ),
      (ms) => formatMilliseconds(ms) === reference(ms),
    ),
    { numRuns: 5_000 },
  );
});

test("every string field reads back as it was written, whatever its characters", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "grapheme-ascii" }),
      (text, ascii) => {
        for (const value of [text, ascii, `${ascii}"\\${ascii}`]) {
          const parsed = JSON.parse(
            formatAccessRecord({ ...RECORD, method: value, route: value, clientAddress: value }),
          ) as Record<string, unknown>;
          assert.equal(parsed.method, value);
          assert.equal(parsed.route, value);
          assert.equal(parsed.clientAddress, value);
        }
      },
    ),
    { numRuns: 2_000 },
  );
});
