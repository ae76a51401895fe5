import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  buildDownstreamResponseHeaders,
  buildUpstreamRequestHeaders,
  type ForwardingContext,
} from "./forwarding.ts";
import { addConnectionTokens } from "./hop-by-hop.ts";
import { compileTrustedProxies, unmapIPv4 } from "./trusted-proxies.ts";
import { classifyUpgrade } from "./upgrade.ts";

const context = (overrides: Partial<ForwardingContext> = {}): ForwardingContext => ({
  peerAddress: "198.51.100.9",
  proto: "https",
  host: "app.example.com",
  hostPort: null,
  listenerPort: 443,
  generateRequestId: () => "generated-id",
  ...overrides,
});

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] ?? "", flat[i + 1] ?? ""]);
  return out;
}

describe("buildUpstreamRequestHeaders", () => {
  test("a plain request: Host first, end-to-end headers in order, forwarding headers last", () => {
    const result = buildUpstreamRequestHeaders(
      [
        "Host",
        "App.example.com",
        "Accept",
        "*/*",
        "Cookie",
        "a=1",
        "Cookie",
        "b=2",
        "User-Agent",
        "t",
      ],
      context(),
    );
    assert.deepEqual(pairs(result.headers), [
      ["host", "app.example.com"],
      ["Accept", "*/*"],
      ["User-Agent", "t"],
      ["cookie", "a=1; b=2"],
      ["x-forwarded-for", "198.51.100.9"],
      ["x-forwarded-proto", "https"],
      ["x-forwarded-host", "app.example.com"],
      ["x-forwarded-port", "443"],
      ["forwarded", "for=198.51.100.9;proto=https;host=app.example.com"],
      ["x-request-id", "generated-id"],
    ]);
    assert.equal(result.requestId, "generated-id");
    assert.equal(result.contentLength, null);
    assert.equal(result.chunked, false);
  });

  test("IPv6 and IPv4-mapped peers, and explicit Host ports", () => {
    const v6 = buildUpstreamRequestHeaders(
      [],
      context({ peerAddress: "2001:db8::1", hostPort: 8443 }),
    );
    const map = new Map(pairs(v6.headers));
    assert.equal(map.get("x-forwarded-for"), "2001:db8::1");
    assert.equal(
      map.get("forwarded"),
      'for="[2001:db8::1]";proto=https;host="app.example.com:8443"',
    );
    assert.equal(map.get("x-forwarded-host"), "app.example.com:8443");
    const mapped = buildUpstreamRequestHeaders([], context({ peerAddress: "::ffff:192.0.2.4" }));
    assert.equal(new Map(pairs(mapped.headers)).get("x-forwarded-for"), "192.0.2.4");
    const gone = buildUpstreamRequestHeaders([], context({ peerAddress: undefined }));
    assert.equal(
      new Map(pairs(gone.headers)).get("forwarded"),
      "for=unknown;proto=https;host=app.example.com",
    );
  });

  test("pseudo-headers, Expect and Host never pass; Transfer-Encoding is reported, not forwarded", () => {
    const result = buildUpstreamRequestHeaders(
      [
        ":method",
        "POST",
        ":authority",
        "a",
        ":path",
        "/",
        "expect",
        "100-continue",
        "transfer-encoding",
        "chunked",
      ],
      context(),
    );
    assert.ok(
      !result.headers.some(
        (name) => name.startsWith(":") || name === "expect" || name === "transfer-encoding",
      ),
    );
    assert.equal(result.chunked, true);
  });

  test("Content-Length: one canonical value; conflicting or malformed ones are reported invalid", () => {
    assert.equal(
      buildUpstreamRequestHeaders(["Content-Length", "42"], context()).contentLength,
      42,
    );
    const same = buildUpstreamRequestHeaders(
      ["Content-Length", "5", "content-length", "5"],
      context(),
    );
    assert.equal(same.contentLength, 5);
    assert.equal(same.headers.filter((name) => name.toLowerCase() === "content-length").length, 1);
    for (const bad of [
      ["5", "6"],
      ["-1"],
      ["1e3"],
      [" 5"],
      ["5,5"],
      ["0x10"],
      ["9999999999999999"],
    ]) {
      const raw = bad.flatMap((value) => ["Content-Length", value]);
      assert.equal(
        buildUpstreamRequestHeaders(raw, context()).contentLength,
        "invalid",
        JSON.stringify(bad),
      );
    }
  });

  test("Connection cannot remove Content-Length", () => {
    const result = buildUpstreamRequestHeaders(
      ["Connection", "content-length", "Content-Length", "3"],
      context(),
    );
    assert.equal(result.contentLength, 3);
    assert.ok(result.headers.includes("content-length"));
  });

  test("a trusted peer's X-Request-Id is kept only when well-formed", () => {
    const trustedProxies = compileTrustedProxies(["198.51.100.0/24"]);
    const kept = buildUpstreamRequestHeaders(
      ["X-Request-Id", "abc-123"],
      context({ trustedProxies }),
    );
    assert.equal(kept.requestId, "abc-123");
    const badId = buildUpstreamRequestHeaders(
      ["X-Request-Id", 'a b"c'],
      context({ trustedProxies }),
    );
    assert.equal(badId.requestId, "generated-id");
    const untrusted = buildUpstreamRequestHeaders(["X-Request-Id", "abc-123"], context());
    assert.equal(untrusted.requestId, "generated-id");
    assert.equal(
      untrusted.headers.filter((name) => name.toLowerCase() === "x-request-id").length,
      1,
    );
  });

  test("a trusted peer's X-Forwarded-Proto/Host/Port win over ours", () => {
    const trustedProxies = compileTrustedProxies(["198.51.100.9"]);
    const result = buildUpstreamRequestHeaders(
      ["X-Forwarded-Proto", "http", "X-Forwarded-Host", "public.example", "X-Forwarded-Port", "80"],
      context({ trustedProxies }),
    );
    const map = new Map(pairs(result.headers));
    assert.equal(map.get("x-forwarded-proto"), "http");
    assert.equal(map.get("x-forwarded-host"), "public.example");
    assert.equal(map.get("x-forwarded-port"), "80");
  });

  test("odd-length or empty raw lists do not throw", () => {
    assert.doesNotThrow(() => buildUpstreamRequestHeaders(["X-Orphan"], context()));
    assert.doesNotThrow(() => buildUpstreamRequestHeaders(["", "v", "Connection", ""], context()));
  });
});

describe("buildDownstreamResponseHeaders", () => {
  test("Buffers in, latin1 strings out; hop-by-hop and Connection-named headers removed", () => {
    const raw = [
      Buffer.from("Content-Type"),
      Buffer.from("text/html"),
      Buffer.from("Connection"),
      Buffer.from("keep-alive, X-Hop"),
      Buffer.from("X-Hop"),
      Buffer.from("1"),
      Buffer.from("Transfer-Encoding"),
      Buffer.from("chunked"),
      Buffer.from("Set-Cookie"),
      Buffer.from("a=1"),
      Buffer.from("Set-Cookie"),
      Buffer.from("b=2"),
      Buffer.from("X-Utf8"),
      Buffer.from("caf\u00c3\u00a9", "latin1"),
    ];
    assert.deepEqual(pairs(buildDownstreamResponseHeaders(raw)), [
      ["Content-Type", "text/html"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["X-Utf8", "caf\u00c3\u00a9"],
    ]);
  });

  test("undici's parsed object: repeated values become separate entries", () => {
    const headers = buildDownstreamResponseHeaders({
      "content-type": "text/plain",
      connection: "close, x-hop",
      "x-hop": "1",
      "keep-alive": "timeout=5",
      "set-cookie": ["a=1", "b=2"],
      "x-missing": undefined,
    });
    assert.deepEqual(pairs(headers), [
      ["content-type", "text/plain"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ]);
  });

  test("a Connection naming only keep-alive or close removes nothing else; one naming more does", () => {
    for (const connection of ["keep-alive", " Keep-Alive ", "close", "CLOSE"]) {
      const headers = buildDownstreamResponseHeaders({
        connection,
        "keep-alive": "timeout=5",
        "x-a": "1",
      });
      assert.deepEqual(pairs(headers), [["x-a", "1"]], connection);
    }
    for (const connection of ["keep-alive, x-a", "x-a", ["keep-alive", "x-a"]]) {
      const headers = buildDownstreamResponseHeaders({ connection, "x-a": "1", "x-b": "2" });
      assert.deepEqual(pairs(headers), [["x-b", "2"]], String(connection));
    }
  });

  test("HSTS from the policy replaces the backend's; extra headers are appended", () => {
    const headers = buildDownstreamResponseHeaders(
      ["strict-transport-security", "max-age=0", "x", "1"],
      {
        hsts: "max-age=63072000; includeSubDomains",
        extra: ["set-cookie", "affinity=abc"],
      },
    );
    assert.deepEqual(pairs(headers), [
      ["x", "1"],
      ["strict-transport-security", "max-age=63072000; includeSubDomains"],
      ["set-cookie", "affinity=abc"],
    ]);
    const untouched = buildDownstreamResponseHeaders(["strict-transport-security", "max-age=5"]);
    assert.deepEqual(untouched, ["strict-transport-security", "max-age=5"]);
  });
});

describe("helpers", () => {
  test("addConnectionTokens lower-cases, trims and skips empty elements", () => {
    const tokens = new Set<string>();
    addConnectionTokens(" Keep-Alive ,, X-Foo,close ,", tokens);
    assert.deepEqual([...tokens].sort(), ["close", "keep-alive", "x-foo"]);
  });

  test("classifyUpgrade", () => {
    assert.equal(classifyUpgrade([]), "none");
    assert.equal(classifyUpgrade(["Upgrade", "h2c"]), "h2c");
    assert.equal(classifyUpgrade(["upgrade", "H2C, websocket"]), "other");
    assert.equal(classifyUpgrade(["Upgrade", "websocket"]), "other");
    assert.equal(classifyUpgrade(["Upgrade", " , "]), "none");
  });

  test("compileTrustedProxies matches ranges, single hosts and IPv4-mapped peers", () => {
    const trusted = compileTrustedProxies(["10.0.0.0/8", "192.0.2.7", "fd00::/8"]);
    assert.equal(trusted.includes("10.200.0.1"), true);
    assert.equal(trusted.includes("::ffff:10.200.0.1"), true);
    assert.equal(trusted.includes("192.0.2.7"), true);
    assert.equal(trusted.includes("192.0.2.8"), false);
    assert.equal(trusted.includes("fd12::1"), true);
    assert.equal(trusted.includes("fe80::1"), false);
    assert.equal(trusted.includes(undefined), false);
    assert.equal(trusted.includes("not an ip"), false);
    assert.deepEqual(trusted.ranges, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
    assert.equal(compileTrustedProxies([]).includes("127.0.0.1"), false);
  });

  test("compileTrustedProxies refuses invalid entries loudly", () => {
    for (const bad of [
      "10.0.0.0/33",
      "10.0.0.0/",
      "example.com",
      "10.0.0.0/8/1",
      "fd00::/129",
      "10.0.0.0/-1",
    ]) {
      assert.throws(() => compileTrustedProxies([bad]), TypeError, bad);
    }
  });

  test("unmapIPv4", () => {
    assert.equal(unmapIPv4("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(unmapIPv4("::FFFF:192.0.2.1"), "192.0.2.1");
    assert.equal(unmapIPv4("::ffff:1:2"), "::ffff:1:2");
    assert.equal(unmapIPv4("2001:db8::1"), "2001:db8::1");
  });
});
