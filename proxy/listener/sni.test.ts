import assert from "node:assert/strict";
import { test } from "node:test";
import { buildHostTable, buildNameCoverage, normalizeServerName } from "./sni.ts";

test("server names are compared lower-case without a trailing dot", () => {
  assert.equal(normalizeServerName("Shop.Example.COM."), "shop.example.com");
  assert.equal(normalizeServerName(""), undefined);
  assert.equal(normalizeServerName("."), undefined);
  assert.equal(normalizeServerName(undefined), undefined);
  assert.equal(normalizeServerName(false), undefined);
});

test("an exact host beats a wildcard, whatever the order of entries", () => {
  for (const entries of [
    [
      ["*.example.com", "wild"],
      ["shop.example.com", "exact"],
    ],
    [
      ["shop.example.com", "exact"],
      ["*.example.com", "wild"],
    ],
  ] as const) {
    const table = buildHostTable(entries);
    assert.equal(table.lookup("shop.example.com"), "exact");
    assert.equal(table.lookup("SHOP.example.com."), "exact");
    assert.equal(table.lookup("cart.example.com"), "wild");
  }
});

test("a wildcard covers exactly one label", () => {
  const table = buildHostTable([["*.example.com", "wild"]]);
  assert.equal(table.lookup("a.example.com"), "wild");
  assert.equal(table.lookup("example.com"), undefined);
  assert.equal(table.lookup("a.b.example.com"), undefined);
  assert.equal(table.lookup(".example.com"), undefined);
  assert.equal(table.lookup("aexample.com"), undefined);
});

test("the catch-all answers unknown and absent names; without it they find nothing", () => {
  const withCatchAll = buildHostTable([
    ["a.test", 1],
    ["*", 2],
  ]);
  assert.equal(withCatchAll.lookup("zzz.test"), 2);
  assert.equal(withCatchAll.lookup(undefined), 2);
  const without = buildHostTable([["a.test", 1]]);
  assert.equal(without.lookup("zzz.test"), undefined);
  assert.equal(without.lookup(undefined), undefined);
});

test("the first entry for a repeated pattern wins", () => {
  const table = buildHostTable([
    ["A.test", 1],
    ["a.test", 2],
    ["*.b.test", 3],
    ["*.B.test", 4],
  ]);
  assert.equal(table.size, 2);
  assert.equal(table.lookup("a.test"), 1);
  assert.equal(table.lookup("x.b.test"), 3);
});

test("certificate coverage follows the browser rules", () => {
  const covers = buildNameCoverage(["*.example.com", "Example.com", "*", "bad*.other.com"]);
  assert.ok(covers("example.com"));
  assert.ok(covers("shop.example.com"));
  assert.ok(covers("SHOP.EXAMPLE.COM."));
  assert.ok(!covers("a.b.example.com"));
  assert.ok(!covers("other.com"));
  assert.ok(!covers("badx.other.com"));
  assert.ok(!covers(""));
});
