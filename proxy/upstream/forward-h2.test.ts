// forward() behind an HTTP/2 downstream (the compat API a TLS listener with ALPN h2 uses).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type ClientHttp2Session, connect, type OutgoingHttpHeaders } from "node:http2";
import { after, before, describe, test } from "node:test";
import { PoolRegistry } from "./pool.ts";
import {
  headerNames,
  headerValues,
  type RecordingBackend,
  startBackend,
  startProxy,
  type TestProxy,
  testCluster,
} from "./testing.ts";

let backend: RecordingBackend;
let proxy: TestProxy;
let session: ClientHttp2Session;
const pools = new PoolRegistry();
const limit = 64 * 1024;

before(async () => {
  backend = await startBackend({
    respond: (_req, res, recorded) => {
      res.writeHead(200, [
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
        "Connection",
        "keep-alive",
        "Keep-Alive",
        "timeout=5",
        "X-Body-Bytes",
        String(Buffer.concat(recorded.body).length),
      ]);
      res.end(Buffer.concat(recorded.body));
    },
  });
  proxy = await startProxy({
    pools,
    cluster: testCluster({ maxRequestBodyBytes: limit }),
    endpoints: [{ address: "127.0.0.1", port: backend.port, service: "team/app" }],
    http2: true,
  });
  session = connect(`http://127.0.0.1:${proxy.port}`);
});

after(async () => {
  session.close();
  await proxy.close();
  await backend.close();
  await pools.destroy();
});

function h2request(
  headers: OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      responseHeaders = h;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

describe("HTTP/2 downstream", () => {
  test("pseudo-headers are not forwarded; :authority becomes Host; Set-Cookie survives", async () => {
    const before = backend.requests.length;
    const res = await h2request({
      ":path": "/h2?q=1",
      ":authority": "App.Example.com",
      cookie: ["a=1", "b=2"],
    });
    assert.equal(res.headers[":status"], 200);
    assert.deepEqual(res.headers["set-cookie"], ["a=1", "b=2"]);
    assert.equal(res.headers.connection, undefined);
    const received = backend.requests[before];
    assert.equal(received?.url, "/h2?q=1");
    assert.ok(!headerNames(received?.rawHeaders ?? []).some((name) => name.startsWith(":")));
    assert.deepEqual(headerValues(received?.rawHeaders ?? [], "host"), ["app.example.com"]);
    // HTTP/2 cookie crumbs arrive as the one Cookie field HTTP/1.1 allows.
    assert.deepEqual(headerValues(received?.rawHeaders ?? [], "cookie"), ["a=1; b=2"]);
  });

  test("a request body of unknown length streams upstream", async () => {
    const body = randomBytes(40_000);
    const res = await h2request(
      { ":method": "POST", ":path": "/upload", ":authority": "a.example" },
      body,
    );
    assert.equal(res.headers[":status"], 200);
    assert.equal(res.headers["x-body-bytes"], String(body.length));
    assert.ok(res.body.equals(body));
  });

  test("a body over the limit is refused with 413 and never completes upstream", async () => {
    const before = backend.requests.length;
    const res = await h2request(
      { ":method": "POST", ":path": "/upload", ":authority": "a.example" },
      randomBytes(limit + 1),
    );
    assert.equal(res.headers[":status"], 413);
    assert.ok(backend.requests.slice(before).every((request) => !request.complete));
  });

  test("a Content-Length over the limit is refused before connecting", async () => {
    const before = backend.requests.length;
    const res = await h2request(
      {
        ":method": "POST",
        ":path": "/upload",
        ":authority": "a.example",
        "content-length": String(limit + 1),
      },
      randomBytes(limit + 1),
    );
    assert.equal(res.headers[":status"], 413);
    assert.equal(backend.requests.length, before);
  });

  test("Host disagreeing with :authority is refused", async () => {
    const before = backend.requests.length;
    const res = await h2request({ ":path": "/", ":authority": "a.example", host: "b.example" });
    assert.equal(res.headers[":status"], 400);
    assert.equal(backend.requests.length, before);
  });
});
