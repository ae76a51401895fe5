import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type HostResult, parseAuthority, validateHost } from "./host.ts";

const h1 = (rawHeaders: string[], target = "/"): HostResult =>
  validateHost({ rawHeaders, target, httpVersionMajor: 1 });
const h2 = (rawHeaders: string[], target = "/"): HostResult =>
  validateHost({ rawHeaders, target, httpVersionMajor: 2 });

function reason(result: HostResult): string {
  return result.ok ? "ok" : result.reason;
}

describe("validateHost (HTTP/1)", () => {
  test("normalises case, trailing dot and port", () => {
    assert.deepEqual(h1(["Host", "App.Example.COM."]), {
      ok: true,
      host: "app.example.com",
      port: null,
    });
    assert.deepEqual(h1(["host", "app.example.com:8443"]), {
      ok: true,
      host: "app.example.com",
      port: 8443,
    });
    assert.deepEqual(h1(["host", "app.example.com:"]), {
      ok: true,
      host: "app.example.com",
      port: null,
    });
    assert.deepEqual(h1(["host", "192.0.2.1:80"]), { ok: true, host: "192.0.2.1", port: 80 });
    assert.deepEqual(h1(["host", "[2001:DB8::1]:443"]), {
      ok: true,
      host: "[2001:db8::1]",
      port: 443,
    });
    assert.deepEqual(h1(["host", "localhost"]), { ok: true, host: "localhost", port: null });
  });

  test("rejects a missing or duplicate Host", () => {
    assert.equal(reason(h1([])), "MissingHost");
    assert.equal(reason(h1(["Host", "a.example", "host", "a.example"])), "DuplicateHost");
    assert.equal(reason(h1(["Host", "a.example", "HOST", "b.example"])), "DuplicateHost");
  });

  test("rejects malformed hosts", () => {
    for (const bad of [
      "",
      "user@a.example",
      "a.example:80:80",
      "a example",
      "a.example\t",
      "a..example",
      ".a.example",
      "a_b.example",
      "a%2eexample",
      "-a.example",
      "a-.example",
      "a.example:0",
      "a.example:65536",
      "a.example:+80",
      "a.example:8o",
      "a.example,b.example",
      "[::1",
      "[::1]x",
      "[fe80::1%25eth0]",
      "[not-ipv6]",
      "::1",
      "1.2.3",
      "0x7f.1",
      "127.0.0.01",
      "256.1.1.1",
      "1.2.3.4.5",
      `${"a".repeat(64)}.example`,
      `${"a.".repeat(127)}aa`,
      "a/b",
      "a\\b",
      "ä.example",
    ]) {
      assert.equal(reason(h1(["Host", bad])), "InvalidHost", JSON.stringify(bad));
    }
  });

  test("absolute-form targets must agree with Host", () => {
    assert.equal(reason(h1(["Host", "a.example"], "http://a.example/x")), "ok");
    assert.equal(reason(h1(["Host", "a.example:80"], "http://A.example/x")), "ok");
    assert.equal(reason(h1(["Host", "a.example"], "https://a.example:443/")), "ok");
    assert.equal(reason(h1(["Host", "a.example"], "HTTP://a.example?q")), "ok");
    assert.equal(reason(h1(["Host", "a.example"], "http://b.example/x")), "HostMismatch");
    assert.equal(reason(h1(["Host", "a.example"], "http://a.example:8080/x")), "HostMismatch");
    assert.equal(reason(h1(["Host", "a.example:443"], "http://a.example/x")), "HostMismatch");
    assert.equal(reason(h1(["Host", "a.example"], "http://user@a.example/x")), "InvalidTarget");
    assert.equal(reason(h1(["Host", "a.example"], "ftp://a.example/x")), "InvalidTarget");
    assert.equal(reason(h1(["Host", "a.example"], "a.example:443")), "InvalidTarget");
    assert.equal(reason(h1(["Host", "a.example"], "http://a_b.example/")), "InvalidTarget");
    assert.equal(reason(h1(["Host", "a.example"], "*")), "ok");
  });
});

describe("validateHost (HTTP/2)", () => {
  test("uses :authority, or Host when there is none", () => {
    assert.deepEqual(h2([":authority", "A.example:8443", ":path", "/"]), {
      ok: true,
      host: "a.example",
      port: 8443,
    });
    assert.deepEqual(h2(["host", "a.example"]), { ok: true, host: "a.example", port: null });
  });

  test("Host and :authority must agree when both are present", () => {
    assert.equal(reason(h2([":authority", "a.example", "host", "A.EXAMPLE"])), "ok");
    assert.equal(reason(h2([":authority", "a.example", "host", "b.example"])), "HostMismatch");
    assert.equal(reason(h2([":authority", "a.example", "host", "a.example:444"])), "HostMismatch");
  });

  test("rejects missing, duplicate and malformed authorities, and non-origin :path", () => {
    assert.equal(reason(h2([":method", "GET"])), "MissingHost");
    assert.equal(
      reason(h2([":authority", "a.example", ":authority", "a.example"])),
      "DuplicateHost",
    );
    assert.equal(
      reason(h2([":authority", "a.example", "host", "a.example", "host", "b.example"])),
      "DuplicateHost",
    );
    assert.equal(reason(h2([":authority", "user@a.example"])), "InvalidHost");
    assert.equal(reason(h2([":authority", "a.example", "host", "bad host"])), "InvalidHost");
    assert.equal(reason(h2([":authority", "a.example"], "http://a.example/")), "InvalidTarget");
  });
});

test("parseAuthority never throws on arbitrary input", () => {
  for (const input of ["[", "]", "[]", "[:]", ":", "::", "[::]:", "\u0000", "a:b:c", "[[::1]]"]) {
    assert.doesNotThrow(() => parseAuthority(input));
  }
});
