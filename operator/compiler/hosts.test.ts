// The host table of the Kubernetes Ingress documentation
// (kubernetes.io/docs/concepts/services-networking/ingress/#hostname-wildcards), and the order in
// which the proxy tries virtual hosts: exact names, then wildcards, then the catch-all "*".
import assert from "node:assert/strict";
import { test } from "node:test";
import { ANY_HOST, compareHosts, hostMatches, isWildcard, validateHost } from "./hosts.ts";

/** The virtual host serving a request host: the first that matches, in compiled order. */
function pick(virtualHosts: readonly string[], requestHost: string): string | undefined {
  return [...virtualHosts].sort(compareHosts).find((v) => hostMatches(v, requestHost));
}

// [Ingress host, Host header, match?] — the documentation's rows, then the exact-name rows.
const TABLE: [string, string, boolean][] = [
  ["*.foo.com", "bar.foo.com", true], // matches based on shared suffix
  ["*.foo.com", "baz.bar.foo.com", false], // wildcard only covers a single DNS label
  ["*.foo.com", "foo.com", false], // wildcard only covers a single DNS label
  ["foo.bar.com", "foo.bar.com", true],
  ["foo.bar.com", "bar.com", false],
  ["foo.bar.com", "x.foo.bar.com", false],
];

for (const [host, header, expected] of TABLE) {
  test(`Ingress docs host table: ${host} vs Host ${header} → ${expected ? "match" : "no match"}`, () => {
    assert.equal(hostMatches(host, header), expected);
  });
}

test('a rule without a host ("*") matches every host', () => {
  for (const header of ["foo.com", "bar.foo.com", "localhost"])
    assert.equal(hostMatches(ANY_HOST, header), true, header);
});

test("a wildcard needs a non-empty label before its suffix", () => {
  assert.equal(hostMatches("*.foo.com", ".foo.com"), false);
  assert.equal(hostMatches("*.foo.com", "barfoo.com"), false);
});

test("virtual host order: exact names, then wildcards (more labels first), then *", () => {
  const hosts = ["*", "*.foo.com", "foo.com", "*.bar.foo.com", "bar.foo.com", "a.example.com"];
  assert.deepEqual([...hosts].sort(compareHosts), [
    "a.example.com",
    "bar.foo.com",
    "foo.com",
    "*.bar.foo.com",
    "*.foo.com",
    "*",
  ]);
});

test("an exact host beats a wildcard, a wildcard beats *, for the docs' request hosts", () => {
  const virtualHosts = ["*", "*.foo.com", "bar.foo.com"];
  assert.equal(pick(virtualHosts, "bar.foo.com"), "bar.foo.com");
  assert.equal(pick(virtualHosts, "qux.foo.com"), "*.foo.com");
  assert.equal(pick(virtualHosts, "baz.bar.foo.com"), "*");
  assert.equal(pick(virtualHosts, "foo.com"), "*");
  assert.equal(pick(["*.foo.com"], "foo.com"), undefined);
});

test("isWildcard and validateHost", () => {
  assert.equal(isWildcard("*.foo.com"), true);
  assert.equal(isWildcard("foo.com"), false);
  assert.equal(validateHost("foo.bar.com"), undefined);
  assert.equal(validateHost("*.foo.com"), undefined);
  assert.match(validateHost("*foo.com") ?? "", /lower-case DNS name/);
  assert.match(validateHost("foo.*.com") ?? "", /lower-case DNS name/);
  assert.match(validateHost("Foo.com") ?? "", /lower-case DNS name/);
  assert.match(validateHost(`${"a".repeat(64)}.com`) ?? "", /lower-case DNS name/);
  assert.equal(validateHost("1.2.3.4"), "must be a DNS name, not an IP address");
  assert.equal(validateHost(`${"a.".repeat(127)}com`), "must be no more than 253 characters");
});
