import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { canonicalJson, contentHash } from "./canonical.ts";

/** The first implementation (a JSON.stringify replacer): the hand-written one must match it byte for byte. */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, current: unknown) => {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return current;
    // Without a prototype, so that an own "__proto__" key (JSON.parse makes them) is copied as a key
    // rather than handed to Object.prototype's __proto__ setter and lost.
    const sorted: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(current).sort())
      sorted[key] = (current as Record<string, unknown>)[key];
    return sorted;
  });
}

test("canonicalJson matches the JSON.stringify-replacer form for any JSON value", () => {
  const key = fc.oneof(
    fc.string(),
    fc.constantFrom("0", "1", "10", "9", "01", "-1", "4294967295", "a", "__proto__"),
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      fc.integer(),
      fc.string(),
      fc.array(tie("value")),
      fc.dictionary(key, tie("value")),
    ),
  })).value;
  fc.assert(
    fc.property(json, (value) => {
      assert.equal(canonicalJson(value), reference(value));
      assert.equal(contentHash(value), createHash("sha256").update(reference(value)).digest("hex"));
    }),
    { numRuns: 2000 },
  );
});

test("canonicalJson leaves out undefined fields and writes undefined array items as null", () => {
  const value = { b: undefined, a: [undefined, 1], c: { toJSON: () => "x" } };
  assert.equal(canonicalJson(value), reference(value));
  assert.equal(canonicalJson(value), '{"a":[null,1],"c":"x"}');
});

test("contentHash streams large values in pieces and still hashes the whole canonical text", () => {
  const big = {
    items: Array.from({ length: 20_000 }, (_, i) => ({ z: i, a: `item-${i}`, m: [i, null] })),
  };
  assert.equal(contentHash(big), createHash("sha256").update(reference(big)).digest("hex"));
});

test("objects beyond the shape cache's bounds are written the same (many shapes, many keys)", () => {
  const values = [
    // More first keys than the cache holds.
    ...Array.from({ length: 1500 }, (_, i) => ({ [`k${i}`]: i, a: [i], z: { y: i, b: null } })),
    // More shapes under one first key ("same": Object.keys lists it first) than it keeps.
    ...Array.from({ length: 40 }, (_, i) => ({ same: 1, [`x${i}`]: i, b: undefined })),
    // Array-index keys, which Object.keys lists first, ascending.
    ...Array.from({ length: 40 }, (_, i) => ({ same: 1, [`${i}`]: "index", [`${i + 7}`]: i })),
    // A shape with more keys than a cached shape may have, written twice.
    Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`label-${99 - i}`, `${i}`])),
    Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`label-${99 - i}`, `${i}`])),
  ];
  for (const value of values) assert.equal(canonicalJson(value), reference(value));
  assert.equal(canonicalJson(values), reference(values));
});
