import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  encodeFatalAlert,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
  TlsAlert,
} from "./client-hello.ts";
import {
  buildClientHelloMessage,
  buildRecords,
  captureClientHello,
} from "./testing/client-hello-builder.ts";

test("a real node:tls ClientHello yields its SNI, ALPN and versions", async () => {
  const bytes = await captureClientHello({
    servername: "Shop.Example.com",
    ALPNProtocols: ["h2", "http/1.1"],
  });
  const parsed = parseClientHello(bytes);
  assert.equal(parsed.status, "complete");
  if (parsed.status !== "complete") return;
  assert.equal(parsed.hello.serverName, "Shop.Example.com");
  assert.deepEqual(parsed.hello.alpnProtocols, ["h2", "http/1.1"]);
  assert.ok(parsed.hello.supportedVersions.includes(0x0304));
  assert.equal(parsed.hello.legacyVersion, 0x0303);
  assert.equal(parsed.hello.recordBytes, bytes.length);
});

test("a ClientHello without SNI parses with an undefined server name", async () => {
  // node:tls sends no SNI when connecting to an IP address without a servername.
  const bytes = await captureClientHello({});
  const parsed = parseClientHello(bytes);
  assert.equal(parsed.status, "complete");
  if (parsed.status === "complete") assert.equal(parsed.hello.serverName, undefined);
});

test("a ClientHello arriving one byte at a time is incomplete until its last byte", async () => {
  const bytes = await captureClientHello({ servername: "a.test" });
  for (let length = 0; length < bytes.length; length++) {
    assert.equal(
      parseClientHello(bytes.subarray(0, length)).status,
      "incomplete",
      `prefix of ${length}`,
    );
  }
  assert.equal(parseClientHello(bytes).status, "complete");
});

test("a ClientHello split across several records (even inside its header) parses the same", () => {
  const message = buildClientHelloMessage({ serverName: "split.example.com", alpn: ["h2"] });
  for (const sizes of [[1], [2, 1, 1], [3], [10, 10, 10], [message.length - 1]]) {
    const parsed = parseClientHello(buildRecords(message, sizes));
    assert.equal(parsed.status, "complete", `fragments ${sizes.join(",")}`);
    if (parsed.status === "complete") assert.equal(parsed.hello.serverName, "split.example.com");
  }
});

test("bytes after the hello's records are left alone", () => {
  const records = buildRecords(buildClientHelloMessage({ serverName: "a.test" }), [50]);
  const withMore = Buffer.concat([records, Buffer.from([23, 3, 3, 0, 1, 0xff])]);
  const parsed = parseClientHello(withMore);
  assert.equal(parsed.status, "complete");
  if (parsed.status === "complete") assert.equal(parsed.hello.recordBytes, records.length);
});

test("garbage, plain HTTP and SSLv2 hellos are invalid at once", () => {
  const cases: [string, Buffer][] = [
    ["HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n")],
    ["SSLv2 hello", Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01])],
    ["alert record", Buffer.from([21, 3, 3, 0, 2, 2, 40])],
    ["record version 2", Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0])],
    ["empty record", Buffer.from([22, 3, 1, 0, 0])],
    ["oversized record", Buffer.from([22, 3, 1, 0x40, 0x01])],
    ["ServerHello", buildRecords(Buffer.from([2, 0, 0, 2, 3, 3]))],
  ];
  for (const [name, bytes] of cases) {
    const parsed = parseClientHello(bytes);
    assert.equal(parsed.status, "invalid", name);
    if (parsed.status === "invalid") assert.equal(parsed.problem, "malformed", name);
  }
});

test("structural lies inside the hello are malformed", () => {
  const good = buildClientHelloMessage({ serverName: "a.test" });
  const trailing = Buffer.concat([good, Buffer.from([0])]);
  trailing.writeUIntBE(good.length - 4 + 1, 1, 3);
  // server_name extension twice: the hello's last extension repeated, lengths fixed up.
  const sni = Buffer.from([0, 0, 0, 11, 0, 9, 0, 0, 6, ...Buffer.from("a.test")]);
  const plain = buildClientHelloMessage({});
  const extensionsAt = plain.length - 2;
  const twice = Buffer.concat([
    plain.subarray(0, extensionsAt),
    Buffer.from([0, sni.length * 2]),
    sni,
    sni,
  ]);
  twice.writeUIntBE(twice.length - 4, 1, 3);
  // Two host_name entries inside one server_name extension.
  const twoNames = Buffer.from([
    0,
    0,
    0,
    20,
    0,
    18,
    0,
    0,
    6,
    ...Buffer.from("a.test"),
    0,
    0,
    6,
    ...Buffer.from("b.test"),
  ]);
  const both = Buffer.concat([
    plain.subarray(0, extensionsAt),
    Buffer.from([0, twoNames.length]),
    twoNames,
  ]);
  both.writeUIntBE(both.length - 4, 1, 3);
  for (const [name, message, reason] of [
    ["trailing byte after extensions", trailing, /after the extensions/],
    ["duplicate extension", twice, /duplicate extension 0/],
    ["two host names", both, /more than one host_name/],
    [
      "control byte in name",
      buildClientHelloMessage({ serverName: "a\u0000b.test" }),
      /non-printable/,
    ],
    ["space in name", buildClientHelloMessage({ serverName: "a b.test" }), /non-printable/],
    ["empty ALPN name", buildClientHelloMessage({ alpn: [""] }), /empty ALPN/],
    ["session id too long", buildClientHelloMessage({ sessionIdLength: 33 }), /session id/],
  ] as const) {
    const parsed = parseClientHello(buildRecords(message));
    assert.equal(parsed.status, "invalid", name);
    if (parsed.status === "invalid") assert.match(parsed.reason, reason, name);
  }
});

test("a second handshake message after the ClientHello is refused", () => {
  const message = buildClientHelloMessage({ serverName: "a.test" });
  const parsed = parseClientHello(
    buildRecords(Buffer.concat([message, Buffer.from([20, 0, 0, 0])])),
  );
  assert.equal(parsed.status, "invalid");
});

test("a hello needing more than the limit is too large, without waiting for it", () => {
  const message = buildClientHelloMessage({ serverName: "big.test", paddingBytes: 20_000 });
  const records = buildRecords(message, [16_000]);
  const parsed = parseClientHello(records.subarray(0, 100));
  assert.equal(parsed.status, "invalid");
  if (parsed.status === "invalid") assert.equal(parsed.problem, "too-large");
  const small = buildClientHelloMessage({ serverName: "a.test", paddingBytes: 500 });
  const limited = parseClientHello(buildRecords(small), 256);
  assert.equal(limited.status, "invalid");
  assert.equal(MAX_CLIENT_HELLO_BYTES, 16 * 1024);
});

test("a fatal alert record is seven bytes in the TLS 1.2 record format", () => {
  assert.deepEqual([...encodeFatalAlert(TlsAlert.UnrecognizedName)], [21, 3, 3, 0, 2, 2, 112]);
});

// Property tests: the parser is total (never throws) and its answer does not depend on how the
// bytes were cut into records or segments.

const hostLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
const hostName = fc
  .array(hostLabel, { minLength: 1, maxLength: 5 })
  .map((labels) => labels.join("."));

test("property: arbitrary bytes never make the parser throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const parsed = parseClientHello(bytes);
      assert.ok(["complete", "incomplete", "invalid"].includes(parsed.status));
    }),
    { numRuns: 2000 },
  );
});

test("property: bytes behind a valid record header never make the parser throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), (body) => {
      const bytes = Buffer.concat([
        Buffer.from([22, 3, 1, (body.length >> 8) & 0xff, body.length & 0xff]),
        body,
      ]);
      parseClientHello(bytes);
      parseClientHello(
        Buffer.concat([Buffer.from([22, 3, 1, 0, body.length + 4, 1, 0, 0, body.length]), body]),
      );
    }),
    { numRuns: 2000 },
  );
});

test("property: any record fragmentation of a hello yields the same SNI and ALPN", () => {
  fc.assert(
    fc.property(
      fc.option(hostName, { nil: undefined }),
      fc.option(
        fc.array(fc.constantFrom("h2", "http/1.1", "acme-tls/1"), { minLength: 1, maxLength: 3 }),
        {
          nil: undefined,
        },
      ),
      fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 12 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 2000 }),
      (serverName, alpn, fragments, sessionIdLength, paddingBytes) => {
        const message = buildClientHelloMessage({
          serverName,
          alpn,
          sessionIdLength,
          paddingBytes,
        });
        const records = buildRecords(message, fragments);
        const parsed = parseClientHello(records);
        assert.equal(parsed.status, "complete");
        if (parsed.status !== "complete") return;
        assert.equal(parsed.hello.serverName, serverName);
        assert.deepEqual(parsed.hello.alpnProtocols, alpn ?? []);
        assert.equal(parsed.hello.recordBytes, records.length);
      },
    ),
    { numRuns: 500 },
  );
});

test("property: every strict prefix of a fragmented hello is incomplete", () => {
  fc.assert(
    fc.property(
      hostName,
      fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 6 }),
      fc.nat(),
      (name, fragments, cut) => {
        const records = buildRecords(buildClientHelloMessage({ serverName: name }), fragments);
        const prefix = records.subarray(0, cut % records.length);
        assert.equal(parseClientHello(prefix).status, "incomplete");
      },
    ),
    { numRuns: 500 },
  );
});

test("property: flipping one byte of a hello never throws and never invents a different SNI silently", () => {
  fc.assert(
    fc.property(hostName, fc.nat(), fc.integer({ min: 1, max: 255 }), (name, where, xor) => {
      const records = buildRecords(
        buildClientHelloMessage({ serverName: name, alpn: ["h2"] }),
        [30],
      );
      const mutated = Buffer.from(records);
      const index = where % mutated.length;
      mutated[index] = (mutated[index] as number) ^ xor;
      const parsed = parseClientHello(mutated);
      if (parsed.status === "complete" && parsed.hello.serverName !== name) {
        // Only possible if the flipped byte is inside the name itself, and the result is still printable.
        assert.ok(
          parsed.hello.serverName === undefined || /^[\x21-\x7e]+$/.test(parsed.hello.serverName),
        );
      }
    }),
    { numRuns: 2000 },
  );
});
