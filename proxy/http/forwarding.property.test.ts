// Property tests: whatever header list a client (or a backend) sends, building the next hop's list
// never throws and never lets a hop-by-hop header through.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { buildDownstreamResponseHeaders, buildUpstreamRequestHeaders } from "./forwarding.ts";
import { addConnectionTokens, HOP_BY_HOP_HEADERS } from "./hop-by-hop.ts";
import { compileTrustedProxies } from "./trusted-proxies.ts";

/** Headers the proxy writes itself: a client naming them in Connection removes the client's copy only. */
const OWN_HEADERS = new Set([
  "host",
  "content-length",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "forwarded",
  "x-request-id",
]);

const interesting = [
  ...HOP_BY_HOP_HEADERS,
  ...OWN_HEADERS,
  "expect",
  "x-custom",
  "cookie",
  "set-cookie",
  "strict-transport-security",
  ":authority",
  ":path",
  "x_forwarded_for",
];

/** A header name: a known one in random case, a random token, or anything at all. */
const headerName = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...interesting),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
    )
    .map(([name, upper]) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("")),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/),
  fc.string({ maxLength: 12 }),
);

/** A header value: a Connection-style list of names, or anything at all. */
const headerValue = fc.oneof(
  fc
    .tuple(fc.array(headerName, { maxLength: 4 }), fc.constantFrom(",", ", ", " ,"))
    .map(([names, separator]) => names.join(separator)),
  fc.string({ maxLength: 30 }),
  fc.constantFrom("chunked", "100-continue", "5", "-1", "trailers", "h2c"),
);

const rawHeaders = fc.array(fc.tuple(headerName, headerValue), { maxLength: 24 }).chain((pairs) =>
  // Sometimes an odd-length list: the builder must not trust the shape of its input.
  fc.boolean().map((odd) => {
    const flat = pairs.flat();
    return odd ? [...flat, "X-Orphan"] : flat;
  }),
);

const peer = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4().map((ip) => `::ffff:${ip}`),
  fc.constant(undefined),
  fc.string({ maxLength: 10 }),
);

function connectionNamed(raw: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] ?? "").toLowerCase() === "connection") addConnectionTokens(raw[i + 1] ?? "", named);
  }
  return named;
}

test("buildUpstreamRequestHeaders never throws and never forwards a hop-by-hop header", () => {
  const trustedProxies = compileTrustedProxies(["10.0.0.0/8", "fd00::/8"]);
  fc.assert(
    fc.property(rawHeaders, peer, fc.boolean(), (raw, peerAddress, trust) => {
      const result = buildUpstreamRequestHeaders(raw, {
        peerAddress,
        proto: "https",
        host: "app.example.com",
        hostPort: null,
        listenerPort: 443,
        ...(trust ? { trustedProxies } : {}),
      });
      assert.equal(result.headers.length % 2, 0);
      const named = connectionNamed(raw);
      const counts = new Map<string, number>();
      for (let i = 0; i < result.headers.length; i += 2) {
        const name = (result.headers[i] ?? "").toLowerCase();
        counts.set(name, (counts.get(name) ?? 0) + 1);
        assert.ok(!HOP_BY_HOP_HEADERS.has(name), `hop-by-hop ${name} forwarded`);
        assert.ok(!name.startsWith(":"), `pseudo-header ${name} forwarded`);
        assert.ok(!name.includes("_"), `underscore header ${name} forwarded`);
        assert.ok(name !== "expect" && name !== "", `${JSON.stringify(name)} forwarded`);
        if (named.has(name)) assert.ok(OWN_HEADERS.has(name), `Connection-named ${name} forwarded`);
        assert.equal(typeof result.headers[i + 1], "string");
      }
      assert.ok((counts.get("cookie") ?? 0) <= 1, "more than one Cookie field");
      for (const own of OWN_HEADERS) {
        if (own !== "content-length")
          assert.equal(counts.get(own), 1, `${own} appears ${counts.get(own)} times`);
      }
      assert.ok((counts.get("content-length") ?? 0) <= 1);
      if (!trust || !(peerAddress ?? "").match(/^(10\.|::ffff:10\.|fd)/)) {
        // Untrusted: the client's own forwarding claims are gone.
        const xff = result.headers[result.headers.indexOf("x-forwarded-for") + 1] ?? "";
        assert.ok(!xff.includes(","), `untrusted X-Forwarded-For kept: ${xff}`);
      }
    }),
    { numRuns: 2000 },
  );
});

/** What undici's onResponseStart receives: lower-case names, repeated values in arrays. */
function parseLikeUndici(raw: readonly string[]): Record<string, string | string[]> {
  const parsed: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    const value = raw[i + 1] ?? "";
    const seen = Object.hasOwn(parsed, name) ? parsed[name] : undefined;
    if (seen === undefined)
      Object.defineProperty(parsed, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else if (typeof seen === "string") parsed[name] = [seen, value];
    else seen.push(value);
  }
  return parsed;
}

test("buildDownstreamResponseHeaders never throws and never relays a hop-by-hop header", () => {
  fc.assert(
    fc.property(
      rawHeaders,
      fc.constantFrom("strings", "buffers", "parsed"),
      fc.option(fc.string({ maxLength: 20 })),
      (raw, form, hsts) => {
        const input =
          form === "buffers"
            ? raw.map((part) => Buffer.from(part, "latin1"))
            : form === "parsed"
              ? parseLikeUndici(raw)
              : raw;
        const headers = buildDownstreamResponseHeaders(input, { hsts });
        const named = connectionNamed(raw);
        for (let i = 0; i < headers.length; i += 2) {
          const name = (headers[i] ?? "").toLowerCase();
          assert.ok(!HOP_BY_HOP_HEADERS.has(name), `hop-by-hop ${name} relayed`);
          if (name !== "strict-transport-security" || hsts === null) {
            assert.ok(!named.has(name), `Connection-named ${name} relayed`);
          }
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test("the forwarding headers of each request are its own, whatever the requests before it", () => {
  // buildUpstreamRequestHeaders reuses the previous request's strings when peer, scheme and host
  // repeat; a sequence drawn from a few of each makes every kind of partial repeat happen.
  const context = fc.record({
    peerAddress: fc.constantFrom(
      "10.0.0.1",
      "10.0.0.2",
      "::ffff:10.0.0.1",
      "2001:db8::1",
      undefined,
    ),
    proto: fc.constantFrom("http" as const, "https" as const),
    host: fc.constantFrom("a.example.com", "b.example.com", "[2001:db8::2]"),
    hostPort: fc.constantFrom(null, 443, 8443),
    listenerPort: fc.constantFrom(443, 8443),
  });
  const forwardingOf = (headers: readonly string[]): string[] =>
    headers.filter((_, i) => i % 2 === 1 && /^(x-forwarded-|forwarded)/.test(headers[i - 1] ?? ""));
  fc.assert(
    fc.property(fc.array(context, { minLength: 2, maxLength: 12 }), (contexts) => {
      for (const current of contexts) {
        const built = buildUpstreamRequestHeaders([], current).headers;
        // The same request after a request from elsewhere: nothing may carry over either way.
        buildUpstreamRequestHeaders([], {
          ...current,
          peerAddress: "10.0.0.9",
          host: "other.test",
        });
        const fresh = buildUpstreamRequestHeaders([], current).headers;
        assert.deepEqual(forwardingOf(built), forwardingOf(fresh));
        const authority =
          current.hostPort === null ? current.host : `${current.host}:${current.hostPort}`;
        const values = new Map<string, string>();
        for (let i = 0; i + 1 < built.length; i += 2)
          values.set(built[i] ?? "", built[i + 1] ?? "");
        assert.equal(values.get("x-forwarded-host"), authority);
        assert.equal(values.get("x-forwarded-proto"), current.proto);
        assert.match(values.get("forwarded") ?? "", new RegExp(`;proto=${current.proto};host=`));
        assert.ok((values.get("forwarded") ?? "").includes(authority));
        const peer = current.peerAddress?.replace(/^::ffff:/, "") ?? "unknown";
        assert.equal(values.get("x-forwarded-for"), peer);
        assert.ok(
          (values.get("forwarded") ?? "").startsWith(
            `for=${peer.includes(":") ? `"[${peer}]"` : peer};`,
          ),
        );
      }
    }),
    { numRuns: 500 },
  );
});
