// HTTP/2 abuse against `portcullis serve`, with raw frames where a client library would refuse: the
// advertised limits, a rapid-reset flood (CVE-2023-44487), resets that leave upstream requests behind,
// more streams than allowed, a CONTINUATION flood (CVE-2024-27316), and the memory an attacking
// connection can make the worker hold.
import assert from "node:assert/strict";
import { connect as http2Connect } from "node:http2";
import { after, before, test } from "node:test";
import { eventually } from "../../proxy/listener/testing/fixtures.ts";
import { get } from "../e2e/support.ts";
import {
  delay,
  FRAME,
  HOST,
  type HostileFixture,
  h2Frame,
  hpackBlock,
  openRawH2,
  type RawH2,
  rssOf,
  startHostileFixture,
} from "./support.ts";

let fixture: HostileFixture;
let workerPid: number;

before(
  async () => {
    fixture = await startHostileFixture();
    const [pid] = await fixture.serve.workerPids();
    assert.ok(pid, "one worker process");
    workerPid = pid;
  },
  { timeout: 60_000 },
);
after(() => fixture?.close(), { timeout: 30_000 });

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const CANCEL = Buffer.from([0, 0, 0, 8]);

/** A request's HEADERS block for `path` on our host. */
function requestBlock(path: string, method = "GET", extra: [string, string][] = []): Buffer {
  return hpackBlock([
    [":method", method],
    [":scheme", "https"],
    [":path", path],
    [":authority", HOST],
    ...extra,
  ]);
}

async function stillServes(): Promise<void> {
  const response = await get({ port: fixture.port, path: "/still-serving", ca: fixture.ca });
  assert.equal(response.status, 200);
}

test("SETTINGS: at most 100 concurrent streams, no server push, 16 KiB header lists", async () => {
  const session = http2Connect(`https://${HOST}:${fixture.port}`, {
    host: "127.0.0.1",
    port: fixture.port,
    servername: HOST,
    ca: fixture.ca,
  } as Parameters<typeof http2Connect>[1]);
  try {
    await new Promise((resolve, reject) => {
      session.once("remoteSettings", resolve);
      session.once("error", reject);
    });
    const settings = session.remoteSettings;
    assert.ok(
      (settings.maxConcurrentStreams ?? Infinity) <= 100,
      `${settings.maxConcurrentStreams}`,
    );
    assert.equal(settings.maxConcurrentStreams, 100);
    assert.equal(settings.enablePush, false);
    assert.equal(settings.maxHeaderListSize, 16 * 1024);
  } finally {
    session.close();
  }
});

test("rapid reset: 10,000 streams opened and cancelled at once → GOAWAY, almost nothing forwarded, nothing left open upstream", {
  timeout: 30_000,
}, async (t) => {
  const { main } = fixture;
  const before = main.requests.length;
  const h2 = await openRawH2(fixture.port, fixture.ca);
  const block = requestBlock("/flood?delay=5000");
  let sent = 0;
  for (let batch = 0; batch < 100 && !h2.closed; batch++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const id = 2 * sent + 1;
      frames.push(h2Frame(FRAME.HEADERS, END_STREAM | END_HEADERS, id, block));
      frames.push(h2Frame(FRAME.RST_STREAM, 0, id, CANCEL));
      sent++;
    }
    if (!(await h2.write(Buffer.concat(frames)))) break;
  }
  await eventually(() => h2.closed || h2.goaway !== undefined, 5000);
  const forwarded = main.requests.length - before;
  t.diagnostic(
    `sent ${sent} HEADERS+RST_STREAM pairs; GOAWAY ${JSON.stringify(h2.goaway)} (last stream ${h2.goaway?.lastStreamId}, error ${h2.goaway?.errorCode}); connection closed: ${h2.closed}; requests forwarded: ${forwarded}`,
  );
  h2.socket.destroy();
  assert.ok(
    h2.goaway !== undefined || h2.closed,
    "the flood got a GOAWAY or the connection closed",
  );
  assert.ok(sent < 10_000 || h2.goaway !== undefined, "the proxy stopped the flood before its end");
  assert.ok(forwarded <= 100, `${forwarded} cancelled requests reached the backend`);
  assert.ok(
    await eventually(() => main.open() === 0, 3000),
    `${main.open()} upstream requests still open`,
  );
  await stillServes();
});

test("resets after forwarding: 5 rounds of 100 streams reset once the backend has them; every upstream request is aborted", {
  timeout: 30_000,
}, async (t) => {
  const { main } = fixture;
  const h2 = await openRawH2(fixture.port, fixture.ca);
  let nextId = 1;
  const cleared: number[] = [];
  for (let round = 0; round < 5; round++) {
    const before = main.requests.length;
    const ids: number[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      ids.push(nextId);
      frames.push(
        h2Frame(
          FRAME.HEADERS,
          END_STREAM | END_HEADERS,
          nextId,
          requestBlock(`/held?delay=20000&r=${round}`),
        ),
      );
      nextId += 2;
    }
    await h2.write(Buffer.concat(frames));
    assert.ok(
      await eventually(() => main.requests.length - before >= 100, 5000),
      `round ${round}: the backend got ${main.requests.length - before} of 100`,
    );
    const resetAt = Date.now();
    await h2.write(Buffer.concat(ids.map((id) => h2Frame(FRAME.RST_STREAM, 0, id, CANCEL))));
    assert.ok(
      await eventually(() => main.open() === 0, 3000),
      `round ${round}: ${main.open()} upstream requests still open 3 s after the resets`,
    );
    cleared.push(Date.now() - resetAt);
  }
  t.diagnostic(
    `upstream requests aborted within ${Math.max(...cleared)} ms of the client's resets`,
  );
  assert.ok(!h2.closed, "resets at this pace are allowed");
  h2.socket.destroy();
});

test("150 streams opened at once on one connection: at most 100 reach the backend", {
  timeout: 30_000,
}, async (t) => {
  const { main } = fixture;
  const before = main.requests.length;
  const h2 = await openRawH2(fixture.port, fixture.ca);
  const frames: Buffer[] = [];
  for (let i = 0; i < 150; i++) {
    frames.push(
      h2Frame(FRAME.HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, requestBlock("/over?delay=3000")),
    );
  }
  await h2.write(Buffer.concat(frames));
  await delay(1500);
  const reached = main.requests.length - before;
  t.diagnostic(
    `backend got ${reached}; server frames: ${JSON.stringify(Object.fromEntries(h2.received))}; GOAWAY ${JSON.stringify(h2.goaway)}`,
  );
  h2.socket.destroy();
  assert.ok(reached <= 100, `${reached} concurrent requests from one connection`);
  assert.ok(
    await eventually(() => main.open() === 0, 3000),
    "upstream requests ended with the connection",
  );
});

test("CONTINUATION flood: an endless header block is cut off (GOAWAY or close) long before 16 MiB", {
  timeout: 30_000,
}, async (t) => {
  const h2 = await openRawH2(fixture.port, fixture.ca);
  const rssBefore = await rssOf(workerPid);
  await h2.write(h2Frame(FRAME.HEADERS, END_STREAM, 1, requestBlock("/continuation")));
  const filler = hpackBlock([["x-filler", "a".repeat(16_000)]]);
  let sentBytes = 0;
  for (let i = 0; i < 1024 && !h2.closed; i++) {
    if (!(await h2.write(h2Frame(FRAME.CONTINUATION, 0, 1, filler)))) break;
    sentBytes += filler.length;
  }
  await eventually(() => h2.closed || h2.goaway !== undefined, 5000);
  const growth = (await rssOf(workerPid)) - rssBefore;
  t.diagnostic(
    `sent ${(sentBytes / 1024).toFixed(0)} KiB of CONTINUATION before the cut; GOAWAY ${JSON.stringify(h2.goaway)}; worker RSS +${(growth / 1048576).toFixed(1)} MiB`,
  );
  h2.socket.destroy();
  assert.ok(h2.goaway !== undefined || h2.closed);
  assert.ok(sentBytes < 16 * 1024 * 1024, "the flood was stopped");
  assert.ok(growth < 32 * 1024 * 1024, `worker RSS grew ${growth} bytes`);
  await stillServes();
});

const ATTACKERS = 10;
const STREAMS = 100;
/** Generous bound on what one attacking connection may make the worker hold, documented in docs/security.md. */
const MAX_BYTES_PER_CONNECTION = 12 * 1024 * 1024;

test("a body trickled over HTTP/2 reaches the backend only once complete, and whole", async () => {
  const { main } = fixture;
  const before = main.requests.length;
  const h2 = await openRawH2(fixture.port, fixture.ca);
  await h2.write(
    h2Frame(FRAME.HEADERS, END_HEADERS, 1, requestBlock("/h2-trickle?echo=1", "POST")),
  );
  for (let i = 0; i < 5; i++) {
    await h2.write(h2Frame(FRAME.DATA, 0, 1, Buffer.from("0123456789")));
    await delay(100);
  }
  assert.equal(main.requests.length, before, "nothing forwarded while the body is incomplete");
  await h2.write(h2Frame(FRAME.DATA, END_STREAM, 1, Buffer.from("end")));
  assert.ok(
    await eventually(
      () => main.requests.length > before && (main.requests.at(-1)?.complete ?? false),
      3000,
    ),
  );
  assert.equal(main.requests.at(-1)?.bodyBytes, 53);
  h2.socket.destroy();
});

test(`memory: ${ATTACKERS} connections × ${STREAMS} streams, each with 8 KiB of headers and a body that never ends`, {
  timeout: 45_000,
}, async (t) => {
  const { main } = fixture;
  await stillServes();
  await delay(500);
  const rssBefore = await rssOf(workerPid);
  const before = main.requests.length;
  const headers: [string, string][] = Array.from({ length: 16 }, (_, i) => [
    `x-attack-${i}`,
    "v".repeat(500),
  ]);
  const body = Buffer.alloc(16 * 1024, "b");
  const attackers: RawH2[] = [];
  for (let c = 0; c < ATTACKERS; c++) {
    const h2 = await openRawH2(fixture.port, fixture.ca);
    const frames: Buffer[] = [];
    for (let s = 0; s < STREAMS; s++) {
      frames.push(
        h2Frame(
          FRAME.HEADERS,
          END_HEADERS,
          2 * s + 1,
          requestBlock(`/memory?c=${c}`, "POST", headers),
        ),
      );
    }
    await h2.write(Buffer.concat(frames));
    attackers.push(h2);
  }
  // The bodies' first 16 KiB each, within the connection's flow-control window as the proxy opens it
  // (it re-credits what it has read): the attack is what a compliant client can hold open.
  for (const h2 of attackers) {
    for (let s = 0; s < STREAMS; s++) {
      assert.ok(await h2.writeData(2 * s + 1, 0, body), "the proxy opened its window for the body");
    }
  }
  // Every stream is held by the proxy (its body never ends): give the worker time to take them all.
  await delay(2000);
  const rssAttacked = await rssOf(workerPid);
  const forwarded = main.requests.length - before;
  const alive = attackers.filter((h2) => !h2.closed && !h2.goaway).length;
  for (const h2 of attackers) h2.socket.destroy();
  const perConnection = (rssAttacked - rssBefore) / ATTACKERS;
  t.diagnostic(
    `${ATTACKERS * STREAMS} streams held by the proxy (${forwarded} forwarded), ${alive} connections alive; worker RSS ${(rssBefore / 1048576).toFixed(0)} → ${(rssAttacked / 1048576).toFixed(0)} MiB: ${(perConnection / 1048576).toFixed(2)} MiB per attacking connection (${(perConnection / STREAMS / 1024).toFixed(0)} KiB per stream)`,
  );
  assert.equal(alive, ATTACKERS, "within the limits, no connection was refused");
  assert.equal(forwarded, 0, "incomplete bodies hold no backend connection");
  assert.ok(perConnection <= MAX_BYTES_PER_CONNECTION, `${perConnection} bytes per connection`);
  await stillServes();
});
