// forward() over real loopback sockets: a recording backend, a minimal proxy, real clients.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { Agent, createServer, request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { buildUpstreamRequestHeaders } from "../http/forwarding.ts";
import { compileTrustedProxies } from "../http/trusted-proxies.ts";
import { type ForwardOutcome, forward } from "./forward.ts";
import { PoolRegistry } from "./pool.ts";
import {
  headerNames,
  headerValues,
  type RecordingBackend,
  rawExchange,
  startBackend,
  startProxy,
  type TestProxy,
  testCluster,
} from "./testing.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function setup(
  options: {
    backend?: Parameters<typeof startBackend>[0];
    cluster?: Parameters<typeof testCluster>[0];
    trusted?: string[];
    hsts?: string;
    onResponseStart?: (status: number) => readonly string[] | undefined;
  } = {},
): Promise<{ backend: RecordingBackend; proxy: TestProxy; pools: PoolRegistry }> {
  const backend = await startBackend(options.backend);
  const pools = new PoolRegistry();
  const proxy = await startProxy({
    pools,
    cluster: testCluster(options.cluster),
    endpoints: [{ address: "127.0.0.1", port: backend.port, service: "team/app" }],
    ...(options.trusted ? { trustedProxies: compileTrustedProxies(options.trusted) } : {}),
    ...(options.hsts ? { hsts: options.hsts } : {}),
    ...(options.onResponseStart ? { onResponseStart: options.onResponseStart } : {}),
  });
  cleanups.push(backend.close, proxy.close, () => pools.destroy());
  return { backend, proxy, pools };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface ClientResponse {
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

function send(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | Buffer[];
    agent?: Agent;
  },
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path ?? "/",
        headers: { host: "app.example.com", ...options.headers },
        agent: options.agent ?? false,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

const sha256 = (data: Buffer | Buffer[]): string =>
  createHash("sha256")
    .update(Array.isArray(data) ? Buffer.concat(data) : data)
    .digest("hex");

describe("request header hygiene", () => {
  test("hop-by-hop headers and headers named in Connection never reach the backend", async () => {
    const { backend, proxy } = await setup();
    const response = await rawExchange(
      proxy.port,
      [
        "GET /hop HTTP/1.1",
        "Host: app.example.com",
        "Connection: close, X-Secret, x-other",
        "X-Secret: 1",
        "X-Other: 2",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "TE: trailers, gzip",
        "Trailer: X-Checksum",
        "HTTP2-Settings: AAMAAABkAAQAAP__",
        "Expect: 100-continue",
        "X-Kept: yes",
        "",
        "",
      ].join("\r\n"),
    );
    // Node's server answers the Expect itself (100 Continue) before the proxy's response.
    assert.match(response, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.equal(backend.requests.length, 1);
    const names = headerNames(backend.requests[0]?.rawHeaders ?? []);
    for (const forbidden of [
      "x-secret",
      "x-other",
      "keep-alive",
      "proxy-connection",
      "proxy-authorization",
      "te",
      "trailer",
      "http2-settings",
      "expect",
      "transfer-encoding",
      "upgrade",
    ]) {
      assert.ok(!names.includes(forbidden), `${forbidden} reached the backend`);
    }
    assert.deepEqual(headerValues(backend.requests[0]?.rawHeaders ?? [], "x-kept"), ["yes"]);
    // undici's own connection management header is the only Connection the backend sees.
    assert.deepEqual(headerValues(backend.requests[0]?.rawHeaders ?? [], "connection"), [
      "keep-alive",
    ]);
  });

  test("the host the backend sees is the routed host; X-Forwarded-* describe the client", async () => {
    const { backend, proxy } = await setup();
    const res = await send(proxy.port, { headers: { host: "App.Example.COM.:8080" } });
    assert.equal(res.status, 200);
    const raw = backend.requests[0]?.rawHeaders ?? [];
    assert.deepEqual(headerValues(raw, "host"), ["app.example.com"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-host"), ["app.example.com:8080"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-for"), ["127.0.0.1"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-proto"), ["http"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-port"), [String(proxy.port)]);
    assert.deepEqual(headerValues(raw, "forwarded"), [
      'for=127.0.0.1;proto=http;host="app.example.com:8080"',
    ]);
    assert.match(headerValues(raw, "x-request-id")[0] ?? "", /^[0-9a-f-]{36}$/);
  });

  test("spoofed forwarding headers from an untrusted peer are dropped", async () => {
    const { backend, proxy } = await setup();
    await send(proxy.port, {
      headers: {
        "x-forwarded-for": "6.6.6.6",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "evil.example",
        "x-forwarded-port": "443",
        forwarded: "for=6.6.6.6;proto=https",
        "x-request-id": "chosen-by-client",
      },
    });
    const raw = backend.requests[0]?.rawHeaders ?? [];
    assert.deepEqual(headerValues(raw, "x-forwarded-for"), ["127.0.0.1"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-proto"), ["http"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-host"), ["app.example.com"]);
    assert.deepEqual(headerValues(raw, "forwarded"), [
      "for=127.0.0.1;proto=http;host=app.example.com",
    ]);
    assert.notEqual(headerValues(raw, "x-request-id")[0], "chosen-by-client");
    assert.ok(!JSON.stringify(raw).includes("6.6.6.6"));
  });

  test("forwarding headers from a trusted peer are kept and appended to", async () => {
    const { backend, proxy } = await setup({ trusted: ["127.0.0.0/8"] });
    await send(proxy.port, {
      headers: {
        "x-forwarded-for": ["203.0.113.7", "10.0.0.1"],
        "x-forwarded-proto": "https",
        forwarded: 'for="[2001:db8::7]";proto=https',
        "x-request-id": "req-123",
      },
    });
    const raw = backend.requests[0]?.rawHeaders ?? [];
    assert.deepEqual(headerValues(raw, "x-forwarded-for"), ["203.0.113.7, 10.0.0.1, 127.0.0.1"]);
    assert.deepEqual(headerValues(raw, "x-forwarded-proto"), ["https"]);
    assert.deepEqual(headerValues(raw, "forwarded"), [
      'for="[2001:db8::7]";proto=https, for=127.0.0.1;proto=http;host=app.example.com',
    ]);
    assert.deepEqual(headerValues(raw, "x-request-id"), ["req-123"]);
  });

  test("headers with underscores are dropped", async () => {
    const { backend, proxy } = await setup();
    await send(proxy.port, {
      headers: { x_forwarded_for: "6.6.6.6", "x-real_ip": "6.6.6.6", "x-ok": "1" },
    });
    const names = headerNames(backend.requests[0]?.rawHeaders ?? []);
    assert.ok(!names.some((name) => name.includes("_")));
    assert.ok(names.includes("x-ok"));
  });

  test("duplicate, malformed and mismatching Host headers are refused before the backend", async () => {
    const { backend, proxy } = await setup();
    for (const head of [
      "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n",
      "GET / HTTP/1.1\r\nHost: user@a.example\r\n",
      "GET http://b.example/ HTTP/1.1\r\nHost: a.example\r\n",
      "GET / HTTP/1.1\r\n",
    ]) {
      const response = await rawExchange(proxy.port, `${head}Connection: close\r\n\r\n`);
      assert.match(response, /^HTTP\/1\.1 400 /, head);
    }
    assert.equal(backend.requests.length, 0);
  });

  test("WebSocket upgrades get 501; an h2c offer is ignored and the request forwarded", async () => {
    const { backend, proxy } = await setup();
    const ws = await rawExchange(
      proxy.port,
      "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert.match(ws, /^HTTP\/1\.1 501 /);
    assert.equal(backend.requests.length, 0);
    const h2c = await rawExchange(
      proxy.port,
      "GET /h2c HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    assert.match(h2c, /^HTTP\/1\.1 200 /);
    const names = headerNames(backend.requests[0]?.rawHeaders ?? []);
    assert.ok(!names.includes("upgrade") && !names.includes("http2-settings"));
  });
});

describe("response header hygiene", () => {
  test("hop-by-hop response headers are stripped, Set-Cookie kept apart, HSTS added", async () => {
    const { proxy } = await setup({
      hsts: "max-age=31536000",
      backend: {
        respond: (_req, res) => {
          res.writeHead(200, [
            "Connection",
            "X-Internal",
            "X-Internal",
            "secret",
            "Keep-Alive",
            "timeout=5",
            "Set-Cookie",
            "a=1; Path=/",
            "Set-Cookie",
            "b=2; Path=/",
            "Strict-Transport-Security",
            "max-age=0",
            "Upgrade",
            "h2c",
            "X-Kept",
            "yes",
          ]);
          res.end("body");
        },
      },
    });
    const res = await send(proxy.port, {});
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "body");
    assert.deepEqual(headerValues(res.rawHeaders, "set-cookie"), ["a=1; Path=/", "b=2; Path=/"]);
    assert.deepEqual(headerValues(res.rawHeaders, "strict-transport-security"), [
      "max-age=31536000",
    ]);
    assert.deepEqual(headerValues(res.rawHeaders, "x-internal"), []);
    assert.deepEqual(headerValues(res.rawHeaders, "upgrade"), []);
    assert.deepEqual(headerValues(res.rawHeaders, "x-kept"), ["yes"]);
    // Node re-frames the body for this connection; the backend's framing is not relayed.
    assert.deepEqual(headerValues(res.rawHeaders, "keep-alive"), []);
  });
});

describe("onResponseStart", () => {
  test("sees the upstream status and adds headers (an affinity cookie) next to the backend's", async () => {
    const seen: number[] = [];
    const { proxy } = await setup({
      backend: { respond: (_req, res) => res.writeHead(201, ["Set-Cookie", "app=1"]).end() },
      onResponseStart: (status) => {
        seen.push(status);
        return ["set-cookie", "affinity=signed; Path=/; HttpOnly"];
      },
    });
    const res = await send(proxy.port, {});
    assert.equal(res.status, 201);
    assert.deepEqual(seen, [201]);
    assert.deepEqual(headerValues(res.rawHeaders, "set-cookie"), [
      "app=1",
      "affinity=signed; Path=/; HttpOnly",
    ]);
  });
});

describe("bodies", () => {
  test("1 MiB request and response bodies stream both ways over one reused upstream connection", async () => {
    const { backend, proxy } = await setup({
      backend: {
        respond: (_req, res, recorded) => {
          // Echo the body back, reversed in chunk order, so the test sees a response computed from it.
          const body = Buffer.concat(recorded.body);
          res.writeHead(200, { "content-type": "application/octet-stream", "x-sha": sha256(body) });
          for (let i = 0; i < body.length; i += 64 * 1024)
            res.write(body.subarray(i, i + 64 * 1024));
          res.end();
        },
      },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    for (const chunked of [false, true, false, true]) {
      const body = randomBytes(1024 * 1024);
      const res = await send(proxy.port, {
        method: "PUT",
        path: "/upload",
        agent,
        // Several writes without Content-Length: the client uses chunked encoding.
        body: chunked ? [body.subarray(0, 300_000), body.subarray(300_000)] : body,
        headers: chunked ? {} : { "content-length": String(body.length) },
      });
      assert.equal(res.status, 200);
      assert.equal(headerValues(res.rawHeaders, "x-sha")[0], sha256(body));
      assert.equal(res.body.length, body.length);
      assert.equal(sha256(res.body), sha256(body));
    }
    assert.equal(backend.requests.length, 4);
    assert.equal(backend.connections(), 1, "upstream keep-alive connection reused");
  });

  test("a Content-Length over the limit gets 413 and not a byte reaches the backend", async () => {
    const { backend, proxy } = await setup({ cluster: { maxRequestBodyBytes: 1000 } });
    const response = await rawExchange(
      proxy.port,
      `POST /upload HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 1001\r\n\r\n${"x".repeat(1001)}`,
    );
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.equal(backend.requests.length, 0);
    assert.equal(backend.connections(), 0);
    assert.equal(proxy.outcomes.at(-1)?.ok, false);
  });

  test("a chunked body crossing the limit is cut off: 413, the backend gets at most the limit", async () => {
    const limit = 100_000;
    const { backend, proxy } = await setup({ cluster: { maxRequestBodyBytes: limit } });
    const chunks = Array.from({ length: 8 }, () => randomBytes(30_000));
    const res = await send(proxy.port, { method: "POST", path: "/upload", body: chunks }).catch(
      (error: unknown) => error,
    );
    // The proxy answers 413 while the client may still be sending; either the client reads the 413
    // or its connection is closed under it. Both are correct; the backend side is what matters.
    if (!(res instanceof Error)) assert.equal((res as ClientResponse).status, 413);
    const outcome = proxy.outcomes.at(-1);
    assert.equal(outcome?.ok, false);
    assert.equal(outcome?.ok === false && outcome.error.code, "PC_BODY_TOO_LARGE");
    assert.ok(backend.bodyBytes() <= limit, `backend received ${backend.bodyBytes()} bytes`);
    // The upstream request was aborted: whatever the backend saw of it, it never saw a complete body.
    assert.ok(backend.requests.every((request) => !request.complete));
  });

  test("a small chunked body under the limit passes", async () => {
    const { backend, proxy } = await setup({ cluster: { maxRequestBodyBytes: 10 } });
    const res = await send(proxy.port, {
      method: "POST",
      body: [Buffer.from("12345"), Buffer.from("67890")],
    });
    assert.equal(res.status, 200);
    assert.equal(Buffer.concat(backend.requests[0]?.body ?? []).toString(), "1234567890");
  });
});

describe("response framing", () => {
  test("HEAD, 204 and 304 responses carry no body and keep the connection usable", async () => {
    const { backend, proxy } = await setup({
      backend: {
        respond: (req, res) => {
          if (req.url === "/204") res.writeHead(204).end();
          else if (req.url === "/304") res.writeHead(304, { etag: '"x"' }).end();
          else
            res
              .writeHead(200, { "content-length": "5" })
              .end(req.method === "HEAD" ? undefined : "hello");
        },
      },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    const head = await send(proxy.port, { method: "HEAD", agent });
    assert.equal(head.status, 200);
    assert.deepEqual(headerValues(head.rawHeaders, "content-length"), ["5"]);
    assert.equal(head.body.length, 0);
    assert.equal((await send(proxy.port, { path: "/204", agent })).status, 204);
    const notModified = await send(proxy.port, { path: "/304", agent });
    assert.equal(notModified.status, 304);
    assert.deepEqual(headerValues(notModified.rawHeaders, "etag"), ['"x"']);
    const get = await send(proxy.port, { agent });
    assert.equal(get.body.toString(), "hello");
    assert.equal(backend.requests.length, 4);
  });

  test("a backend answering before reading the body is relayed", async () => {
    const { proxy } = await setup({
      backend: {
        respondEarly: true,
        respond: (_req, res) => res.writeHead(401, { "www-authenticate": "Basic" }).end("no"),
      },
    });
    const res = await send(proxy.port, {
      method: "POST",
      body: randomBytes(200_000),
      headers: { "content-length": "200000" },
    }).catch((error: unknown) => error);
    // The client sees the 401, or (if still uploading when the backend hung up) a closed connection.
    if (!(res instanceof Error)) assert.equal((res as ClientResponse).status, 401);
    assert.ok(proxy.outcomes.length >= 1);
  });
});

describe("backpressure", () => {
  test("a slow client slows the backend down instead of filling the proxy's memory", async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const { proxy } = await setup({
      backend: {
        respond: (_req, res) => {
          res.writeHead(200, { "content-length": String(total) });
          const chunk = Buffer.alloc(64 * 1024, 1);
          const pump = (): void => {
            while (written < total) {
              written += chunk.length;
              if (!res.write(chunk)) {
                res.once("drain", pump);
                return;
              }
            }
            res.end();
          };
          pump();
        },
      },
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: proxy.port,
          path: "/big",
          headers: { host: "a.example" },
          agent: false,
        },
        resolve,
      );
      req.on("error", reject);
      req.end();
    });
    res.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Socket buffers on loopback hold a few MiB; the rest must still be waiting in the backend.
    assert.ok(written < total / 2, `backend wrote ${written} bytes while the client read nothing`);
    let received = 0;
    res.on("data", (chunk: Buffer) => {
      received += chunk.length;
    });
    res.resume();
    await once(res, "end");
    assert.equal(received, total);
  });
});

describe("failures", () => {
  test("connection refused is a typed, retryable error; the next endpoint gets the request with its body", async () => {
    const backend = await startBackend({
      respond: (_req, res, recorded) => res.end(Buffer.concat(recorded.body)),
    });
    const pools = new PoolRegistry();
    const dead = await closedPort();
    const proxy = await startProxy({
      pools,
      cluster: testCluster({ retryAttempts: 1 }),
      endpoints: [
        { address: "127.0.0.1", port: dead, service: "team/app" },
        { address: "127.0.0.1", port: backend.port, service: "team/app" },
      ],
    });
    cleanups.push(backend.close, proxy.close, () => pools.destroy());
    const res = await send(proxy.port, {
      method: "PUT",
      body: Buffer.from("payload"),
      headers: { "content-length": "7" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "payload");
    const first = proxy.outcomes[0];
    assert.ok(first && !first.ok);
    assert.equal(first.error.code, "PC_UPSTREAM_CONNECT");
    assert.equal(first.error.status, 502);
    assert.equal(first.error.failure, "connect");
    assert.equal(first.requestSent, false);
    assert.equal(first.retryable, true);
    assert.equal(proxy.outcomes[1]?.ok, true);
    // The same with a chunked body: nothing of it was consumed by the failed attempt.
    const chunked = await send(proxy.port, {
      method: "PUT",
      body: [Buffer.from("pay"), Buffer.from("load")],
    });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), "payload");
  });

  test("a reset before any response byte is retried for a bodiless idempotent request only; the retry gets a new connection", async () => {
    // The backend resets the first request of each kind (as a keep-alive connection closed under a
    // reuse, or a backend dying with the request in hand), and answers every later one.
    const resetOnce = new Set<string>();
    const { backend, proxy } = await setup({
      cluster: { retryAttempts: 1 },
      backend: {
        respond: (req, res) => {
          const kind = `${req.method} ${req.url}`;
          if (!resetOnce.has(kind)) {
            resetOnce.add(kind);
            res.socket?.destroy();
            return;
          }
          res.end("second try");
        },
      },
    });
    const get = await send(proxy.port, { path: "/get" });
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), "second try");
    const [reset, retried] = proxy.outcomes.slice(-2);
    assert.ok(reset && !reset.ok);
    assert.equal(reset.error.code, "PC_UPSTREAM_RESET");
    assert.equal(reset.requestSent, true);
    assert.equal(reset.responseStarted, false);
    assert.equal(reset.retryable, true);
    assert.equal(retried?.ok, true);
    assert.equal(backend.requests.filter((r) => r.url === "/get").length, 2);

    // A PUT with a body was read by the first attempt: it cannot be sent again.
    const put = await send(proxy.port, {
      method: "PUT",
      path: "/put",
      body: Buffer.from("payload"),
      headers: { "content-length": "7" },
    });
    assert.equal(put.status, 502);
    const putOutcome = proxy.outcomes.at(-1);
    assert.ok(putOutcome && !putOutcome.ok);
    assert.equal(putOutcome.error.code, "PC_UPSTREAM_RESET");
    assert.equal(putOutcome.retryable, false);

    // A POST without a body is still not idempotent.
    const post = await send(proxy.port, { method: "POST", path: "/post" });
    assert.equal(post.status, 502);
    const postOutcome = proxy.outcomes.at(-1);
    assert.ok(postOutcome && !postOutcome.ok);
    assert.equal(postOutcome.retryable, false);
  });

  test("a refused POST is not retried and answers 502", async () => {
    const pools = new PoolRegistry();
    const proxy = await startProxy({
      pools,
      cluster: testCluster({ retryAttempts: 3 }),
      endpoints: [{ address: "127.0.0.1", port: await closedPort(), service: "team/app" }],
    });
    cleanups.push(proxy.close, () => pools.destroy());
    const res = await send(proxy.port, {
      method: "POST",
      body: Buffer.from("x"),
      headers: { "content-length": "1" },
    });
    assert.equal(res.status, 502);
    assert.equal(proxy.outcomes.length, 1);
    const outcome = proxy.outcomes[0];
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_UPSTREAM_CONNECT");
    assert.equal(outcome.retryable, false);
  });

  test("a backend that never answers times out at responseMs with 504", async () => {
    const responseMs = 300;
    const { backend, proxy } = await setup({
      cluster: { timeouts: { connectMs: 1000, responseMs, upstreamIdleMs: 10_000 } },
      backend: { respond: () => {} },
    });
    const started = performance.now();
    const res = await send(proxy.port, {});
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.ok(elapsed >= responseMs * 0.9 && elapsed < responseMs + 1500, `took ${elapsed} ms`);
    const outcome = proxy.outcomes.at(-1);
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_UPSTREAM_TIMEOUT");
    assert.equal(outcome.requestSent, true);
    assert.equal(outcome.retryable, false);
    assert.equal(backend.requests.length, 1);
  });

  test("a client that goes away aborts the upstream request", async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    const { proxy } = await setup({
      backend: {
        respond: (req) => {
          req.socket.on("close", () => upstreamClosed());
        },
      },
    });
    const req = httpRequest({
      host: "127.0.0.1",
      port: proxy.port,
      path: "/slow",
      headers: { host: "app.example.com" },
    });
    req.on("error", () => {});
    req.end();
    await new Promise((resolve) => setTimeout(resolve, 100));
    req.destroy();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const outcome = proxy.outcomes.at(-1);
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_CLIENT_ABORTED");
  });

  test("aborting the signal aborts the upstream request", async () => {
    const backend = await startBackend({ respond: () => {} });
    const pools = new PoolRegistry();
    const controller = new AbortController();
    let outcome: ForwardOutcome | undefined;
    const server = createServer(async (req, res) => {
      const upstreamHeaders = buildUpstreamRequestHeaders(req.rawHeaders, {
        peerAddress: req.socket.remoteAddress,
        proto: "http",
        host: "a.example",
        hostPort: null,
        listenerPort: 80,
      });
      setTimeout(() => controller.abort(), 100);
      outcome = await forward({
        req,
        res,
        pools,
        endpoint: { address: "127.0.0.1", port: backend.port, service: "team/app" },
        cluster: testCluster(),
        upstreamHeaders,
        path: "/",
        signal: controller.signal,
      });
      res.destroy();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanups.push(
      backend.close,
      () => pools.destroy(),
      () => new Promise((resolve) => server.close(() => resolve())),
    );
    await rawExchange(
      (server.address() as AddressInfo).port,
      "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
    );
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_CLIENT_ABORTED");
    assert.equal(outcome.requestSent, true);
    // The backend saw its connection closed.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(backend.requests.length, 1);
  });

  test("an upstream failure after the response started breaks the downstream response", async () => {
    const { proxy } = await setup({
      backend: {
        respond: (_req, res) => {
          res.writeHead(200, { "content-length": "1000" });
          res.write("partial");
          setTimeout(() => res.destroy(), 50);
        },
      },
    });
    const error = await send(proxy.port, {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error, "the client must see a broken response, not a complete one");
    const outcome = proxy.outcomes.at(-1);
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.responseStarted, true);
    assert.equal(outcome.error.code, "PC_UPSTREAM_RESET");
  });
});
