// Host attacks, path tricks and header names, over real TLS to `portcullis serve`, asserted on what the
// backend received: the host and path the proxy routed by are the host and path the backend sees,
// refused requests send zero bytes to a backend, and no hop-by-hop or underscore header crosses.
import assert from "node:assert/strict";
import { connect as http2Connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import {
  HOST,
  type HostileFixture,
  mark,
  rawTls,
  type SeenRequest,
  startHostileFixture,
} from "./support.ts";

let fixture: HostileFixture;

before(
  async () => {
    fixture = await startHostileFixture();
  },
  { timeout: 60_000 },
);
after(() => fixture?.close(), { timeout: 30_000 });

/** Sends `raw` and asserts 400, a closed connection and zero bytes at any backend. */
async function assertRefused(raw: string): Promise<void> {
  const since = mark(fixture);
  const answer = await rawTls(fixture.port, raw, { ca: fixture.ca, timeoutMs: 3000 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(answer.statuses, [400], `answer: ${JSON.stringify(answer.text.slice(0, 120))}`);
  assert.ok(answer.closed, "the connection was closed");
  assert.deepEqual(since(), { requests: [], bytes: 0 });
}

/** Sends one request (HTTP/1.1, Connection: close) and returns the status and what the backend saw. */
async function forwarded(
  raw: string,
): Promise<{ status: number; seen: SeenRequest | undefined; backend: string }> {
  const counts = fixture.backends.map((b) => b.requests.length);
  const answer = await rawTls(fixture.port, raw, { ca: fixture.ca, timeoutMs: 3000 });
  const index = fixture.backends.findIndex((b, i) => b.requests.length > (counts[i] ?? 0));
  const backend = fixture.backends[index];
  return {
    status: answer.statuses[0] ?? 0,
    seen: backend?.requests[counts[index] ?? 0],
    backend: backend?.name ?? "none",
  };
}

function header(seen: SeenRequest | undefined, name: string): string[] {
  const raw = seen?.rawHeaders ?? [];
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === name) values.push(raw[i + 1] ?? "");
  }
  return values;
}

const H = `Host: ${HOST}\r\n`;

describe("host attacks", () => {
  const refused: Array<[string, string]> = [
    ["duplicate Host, same value", `GET /x HTTP/1.1\r\n${H}${H}\r\n`],
    ["duplicate Host, another host", `GET /x HTTP/1.1\r\n${H}Host: evil.example.com\r\n\r\n`],
    [
      "duplicate Host, spelled differently",
      `GET /x HTTP/1.1\r\nhost: ${HOST}\r\nHOST: ${HOST}\r\n\r\n`,
    ],
    [
      "absolute-form target naming another host",
      `GET https://evil.example.com/x HTTP/1.1\r\n${H}\r\n`,
    ],
    ["absolute-form target with another port", `GET https://${HOST}:8443/x HTTP/1.1\r\n${H}\r\n`],
    [
      "absolute-form target with userinfo",
      `GET https://${HOST}@evil.example.com/x HTTP/1.1\r\nHost: evil.example.com\r\n\r\n`,
    ],
    ["missing Host (HTTP/1.1)", "GET /x HTTP/1.1\r\n\r\n"],
    ["missing Host (HTTP/1.0)", "GET /x HTTP/1.0\r\n\r\n"],
    ["empty Host", "GET /x HTTP/1.1\r\nHost: \r\n\r\n"],
    ["HTTP/0.9 request line", "GET /x\r\n\r\n"],
    ["HTTP/0.9 request line with a Host after it", `GET /x\r\n${H}\r\n`],
    ["Host with userinfo", `GET /x HTTP/1.1\r\nHost: user@${HOST}\r\n\r\n`],
    ["Host with two ports", `GET /x HTTP/1.1\r\nHost: ${HOST}:443:443\r\n\r\n`],
    ["Host with a space inside", `GET /x HTTP/1.1\r\nHost: ${HOST} evil.example.com\r\n\r\n`],
    ["Host with an underscore", "GET /x HTTP/1.1\r\nHost: shop_x.example.com\r\n\r\n"],
    ["Host percent-encoded", "GET /x HTTP/1.1\r\nHost: shop%2eexample.com\r\n\r\n"],
    ["Host with a zero port", `GET /x HTTP/1.1\r\nHost: ${HOST}:0\r\n\r\n`],
  ];
  for (const [name, raw] of refused) {
    test(`${name} → 400, closed, nothing forwarded`, () => assertRefused(raw));
  }

  test("the host routed by is the Host the backend sees (case, trailing dot, port, absolute form)", async () => {
    for (const raw of [
      `GET /h1 HTTP/1.1\r\nHost: SHOP.Example.COM.\r\nConnection: close\r\n\r\n`,
      `GET /h2 HTTP/1.1\r\nHost: ${HOST}:443\r\nConnection: close\r\n\r\n`,
      `GET https://${HOST}/h3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      `GET https://${HOST.toUpperCase()}:443/h4 HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
    ]) {
      const { status, seen } = await forwarded(raw);
      assert.equal(status, 200, raw);
      assert.deepEqual(header(seen, "host"), [HOST], raw);
      assert.match(seen?.url ?? "", /^\/h\d$/, raw);
    }
    const { seen } = await forwarded(
      `GET /h5 HTTP/1.1\r\nHost: ${HOST}:443\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(header(seen, "x-forwarded-host"), [`${HOST}:443`]);
  });

  test("HTTP/2: Host differing from :authority → 400 and nothing forwarded; :authority is the Host the backend sees", async () => {
    const since = mark(fixture);
    const [mismatch] = await h2Requests([
      { ":path": "/x", ":authority": HOST, host: "evil.example.com" },
    ]);
    assert.equal(mismatch?.status, 400);
    assert.deepEqual(since(), { requests: [], bytes: 0 });
    const [ok] = await h2Requests([{ ":path": "/h2-host", ":authority": "Shop.Example.com" }]);
    assert.equal(ok?.status, 200);
    const seen = fixture.main.requests.at(-1);
    assert.equal(seen?.url, "/h2-host");
    assert.deepEqual(header(seen, "host"), [HOST]);
  });
});

describe("paths", () => {
  /** [request path, backend that must get it ("main" or "other"), path it must get] or [path, 400]. */
  const table: Array<[string, string, string] | [string, 400]> = [
    ["/app-2/../x", "main", "/x"],
    ["/x/../app-2/y", "other", "/app-2/y"],
    ["/app-2/%2e%2e/x", "main", "/x"],
    ["/app-2/%2E%2e/x", "main", "/x"],
    ["/app-2/.%2e/x", "main", "/x"],
    ["/app-2/%2e./x", "main", "/x"],
    ["/x/%2e/app-2", "main", "/x/app-2"],
    ["/app-2/./y", "other", "/app-2/y"],
    ["//app-2//y", "other", "/app-2/y"],
    ["/app-2//..//x", "main", "/x"],
    ["/%61pp-2/y", "other", "/app-2/y"],
    ["/app-2/%7ey", "other", "/app-2/~y"],
    ["/app-2/%c3%a9", "other", "/app-2/%C3%A9"],
    ["/../../etc/passwd", "main", "/etc/passwd"],
    ["/app-2/%252f", "other", "/app-2/%252f"],
    ["/app-2/x?y=../../z&q=%2f", "other", "/app-2/x?y=../../z&q=%2f"],
    ["/app-2/a%2fb", 400],
    ["/app-2/a%2Fb", 400],
    ["/app-2%2f..%2fx", 400],
    ["/x/..%2fapp-2", 400],
    ["/app-2/a%5cb", 400],
    ["/app-2/a%5C..%5Cx", 400],
    ["/app-2\\..\\x", 400],
    ["/app-2/..;/x", 400],
    ["/app-2/%2e%2e;/x", 400],
    ["/app-2/%00", 400],
    ["/app-2/%0d%0aX-Injected:%201", 400],
    ["/app-2/a%zz", 400],
    ["/app-2/#fragment", 400],
  ];

  test("HTTP/1.1: the path matched is the path forwarded; encoded slashes, backslashes and ..; refused", async () => {
    const failures: string[] = [];
    for (const [path, expectBackend, expectPath] of table) {
      const raw = `GET ${path} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
      if (expectBackend === 400) {
        const since = mark(fixture);
        const answer = await rawTls(fixture.port, raw, { ca: fixture.ca, timeoutMs: 3000 });
        await new Promise((resolve) => setTimeout(resolve, 20));
        const reached = since();
        if (answer.statuses[0] !== 400 || !answer.closed || reached.bytes !== 0) {
          failures.push(
            `${path}: ${answer.statuses} closed=${answer.closed} bytes=${reached.bytes}`,
          );
        }
        continue;
      }
      const { status, seen, backend } = await forwarded(raw);
      if (status !== 200 || backend !== expectBackend || seen?.url !== expectPath) {
        failures.push(
          `${path}: ${status} at ${backend} as ${seen?.url} (expected ${expectBackend} ${expectPath})`,
        );
      }
    }
    assert.deepEqual(failures, []);
  });

  test("HTTP/2: the same table over :path", async () => {
    const failures: string[] = [];
    for (const [path, expectBackend, expectPath] of table) {
      // A raw backslash or "#" cannot be refused by the client library: it refuses nothing, so send all.
      const counts = fixture.backends.map((b) => b.requests.length);
      const since = mark(fixture);
      const [answer] = await h2Requests([{ ":path": path, ":authority": HOST }]);
      if (expectBackend === 400) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const reached = since();
        if (answer?.status !== 400 || reached.bytes !== 0) {
          failures.push(`${path}: ${answer?.status ?? answer?.error} bytes=${reached.bytes}`);
        }
        continue;
      }
      const index = fixture.backends.findIndex((b, i) => b.requests.length > (counts[i] ?? 0));
      const seen = fixture.backends[index]?.requests[counts[index] ?? 0];
      const backend = fixture.backends[index]?.name;
      if (answer?.status !== 200 || backend !== expectBackend || seen?.url !== expectPath) {
        failures.push(`${path}: ${answer?.status} at ${backend} as ${seen?.url}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});

describe("header names", () => {
  test("names with underscores are dropped, never forwarded (X_Forwarded_For, Content_Length, Transfer_Encoding…)", async () => {
    const { status, seen } = await forwarded(
      `POST /underscores HTTP/1.1\r\n${H}X_Forwarded_For: 203.0.113.7\r\nX_Real_IP: 203.0.113.7\r\nContent_Length: 100\r\nTransfer_Encoding: chunked\r\nX_Request_Id: forged\r\nX-Plain: kept\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
    );
    assert.equal(status, 200);
    const names = (seen?.rawHeaders ?? []).filter((_, i) => i % 2 === 0);
    assert.deepEqual(
      names.filter((n) => n.includes("_")),
      [],
      "no underscore header reached the backend",
    );
    assert.ok(!(seen?.rawHeaders ?? []).join("\n").includes("203.0.113.7"));
    assert.deepEqual(header(seen, "x-plain"), ["kept"]);
    assert.deepEqual(header(seen, "x-forwarded-for"), ["127.0.0.1"]);
    assert.equal(seen?.bodyBytes, 2);
  });

  test("hop-by-hop headers, and every header named in Connection, are never forwarded; framing and the proxy's own headers survive", async () => {
    const { status, seen } = await forwarded(
      `POST /hop HTTP/1.1\r\n${H}` +
        "Connection: close, X-Secret, X-Forwarded-For, Cookie, Content-Length, Host, X-Request-Id\r\n" +
        "X-Secret: s3cret\r\nCookie: session=abc\r\nKeep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\n" +
        "TE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n" +
        "Proxy-Authorization: Basic dTpw\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert.equal(status, 200);
    const names = (seen?.rawHeaders ?? [])
      .filter((_, i) => i % 2 === 0)
      .map((n) => n.toLowerCase());
    for (const name of [
      "x-secret",
      "cookie",
      "keep-alive",
      "proxy-connection",
      "te",
      "trailer",
      "upgrade",
      "http2-settings",
      "proxy-authorization",
      "transfer-encoding",
    ]) {
      assert.ok(!names.includes(name), `${name} reached the backend`);
    }
    for (const value of header(seen, "connection")) assert.match(value, /^(keep-alive|close)$/i);
    // Connection cannot remove what the proxy adds, nor the body's framing.
    assert.deepEqual(header(seen, "host"), [HOST]);
    assert.deepEqual(header(seen, "x-forwarded-for"), ["127.0.0.1"]);
    assert.equal(header(seen, "x-request-id").length, 1);
    assert.deepEqual(header(seen, "content-length"), ["5"]);
    assert.equal(seen?.bodyBytes, 5);
  });

  test("response: hop-by-hop headers and those the backend names in Connection never reach the client", async () => {
    const answer = await rawTls(
      fixture.port,
      `GET /response?hop=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      { ca: fixture.ca },
    );
    assert.deepEqual(answer.statuses, [200]);
    const head = answer.text.slice(0, answer.text.indexOf("\r\n\r\n")).toLowerCase();
    assert.ok(!head.includes("x-internal"), head);
    assert.ok(!head.includes("backend secret"), head);
    assert.ok(!head.includes("proxy-authenticate"), head);
    assert.ok(!head.includes("trailer:"), head);
    assert.ok(!head.includes("timeout=5"), head);
  });
});

/** Requests over one HTTP/2 connection; each resolves with a status, or an error for a reset stream. */
async function h2Requests(
  list: readonly Record<string, string>[],
): Promise<Array<{ status?: number; error?: string }>> {
  const session = http2Connect(`https://${HOST}:${fixture.port}`, {
    host: "127.0.0.1",
    port: fixture.port,
    servername: HOST,
    ca: fixture.ca,
  } as Parameters<typeof http2Connect>[1]);
  session.on("error", () => {});
  try {
    const results: Array<{ status?: number; error?: string }> = [];
    for (const headers of list) {
      results.push(
        await new Promise((resolve) => {
          const timer = setTimeout(() => resolve({ error: "timed out" }), 5000);
          const stream = session.request(headers);
          stream.on("response", (h) => {
            stream.resume();
            stream.on("end", () => {
              clearTimeout(timer);
              resolve({ status: Number(h[":status"]) });
            });
          });
          stream.on("error", (error) => {
            clearTimeout(timer);
            resolve({ error: error.message });
          });
          stream.end();
        }),
      );
    }
    return results;
  } finally {
    session.close();
  }
}
