import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  canonicalizePathEncoding,
  normalizeRequestTarget,
  removeDotSegments,
} from "./request-target.ts";

/** [target, expected path, expected query] — or [target, "error"]. */
const cases: Array<[string, string, string?]> = [
  // Already normal: returned as is.
  ["/", "/", ""],
  ["/app-1/items", "/app-1/items", ""],
  ["/a/b/", "/a/b/", ""],
  ["/a.b/c..d/.e", "/a.b/c..d/.e", ""],
  ["/@:!$&'()*+,;=", "/@:!$&'()*+,;=", ""],
  // Query preserved byte for byte, even with dot segments and encodings inside it.
  ["/search?q=a%2fb&x=/../y", "/search", "?q=a%2fb&x=/../y"],
  ["/a?", "/a", "?"],
  ["/a/../b?x=%2e%2e", "/b", "?x=%2e%2e"],
  // Dot segments.
  ["/a/./b", "/a/b", ""],
  ["/a/b/../c", "/a/c", ""],
  ["/a/b/..", "/a/", ""],
  ["/a/b/.", "/a/b/", ""],
  ["/..", "/", ""],
  ["/../../etc/passwd", "/etc/passwd", ""],
  ["/a/../../b", "/b", ""],
  ["/.", "/", ""],
  // Encoded dots are dot segments too.
  ["/%2e%2e/admin", "/admin", ""],
  ["/public/%2E%2e/admin", "/admin", ""],
  ["/public/.%2e/admin", "/admin", ""],
  ["/a/%2e/b", "/a/b", ""],
  ["/%2e%2e%2e", "/...", ""],
  // Empty segments merged.
  ["//", "/", ""],
  ["//a//b///c", "/a/b/c", ""],
  ["/a//", "/a/", ""],
  ["/a/.//../b", "/b", ""],
  // Encodings: unreserved decoded, the rest upper-cased, raw specials encoded.
  ["/%7euser", "/~user", ""],
  ["/%41%62%2D%5f", "/Ab-_", ""],
  ["/a%3ab", "/a%3Ab", ""],
  ["/a%20b", "/a%20b", ""],
  ["/caf%c3%a9", "/caf%C3%A9", ""],
  ["/a|b{c}", "/a%7Cb%7Bc%7D", ""],
  ['/"<>^`', "/%22%3C%3E%5E%60", ""],
  ["/a[b]", "/a%5Bb%5D", ""],
  // Refused.
  ["", "error"],
  ["*", "error"],
  ["http://example.com/a", "error"],
  ["a/b", "error"],
  ["/a%2Fb", "error"],
  ["/a%2fb", "error"],
  ["/a%5Cb", "error"],
  ["/a%5cb", "error"],
  ["/a\\b", "error"],
  ["/a\\..\\b", "error"],
  ["/a\u0000b", "error"],
  ["/a%00b", "error"],
  ["/a%0d%0ab", "error"],
  ["/a%7F", "error"],
  ["/a\tb", "error"],
  ["/a b", "error"],
  ["/a\u007fb", "error"],
  ["/a#frag", "error"],
  ["/a?b#frag", "error"],
  ["/a?b\u0001", "error"],
  ["/a?b c", "error"],
  ["/a%", "error"],
  ["/a%4", "error"],
  ["/a%zz", "error"],
  ["/a%g0", "error"],
  ["/caf\u00e9", "error"],
  ["/a?\u00e9", "error"],
  // Dot segments with ;parameters: a servlet container resolves them after stripping the parameters.
  ["/public/..;/admin", "error"],
  ["/public/..;x=1/admin", "error"],
  ["/public/.;/admin", "error"],
  ["/public/%2e%2e;/admin", "error"],
  ["/public/..;", "error"],
  // Not dot segments: kept.
  ["/a/...;/b", "/a/...;/b", ""],
  ["/a/b..;/c", "/a/b..;/c", ""],
  ["/a;b/../c", "/c", ""],
];

test("normalizeRequestTarget table", () => {
  for (const [target, path, query] of cases) {
    const result = normalizeRequestTarget(target);
    if (path === "error") {
      assert.ok("error" in result, `${JSON.stringify(target)} should be refused`);
      assert.equal(typeof result.error, "string");
    } else {
      assert.deepEqual(result, { path, query }, JSON.stringify(target));
    }
  }
});

test("the normal form is a fixed point", () => {
  for (const [target, path] of cases) {
    if (path === "error") continue;
    assert.deepEqual(normalizeRequestTarget(path), { path, query: "" }, JSON.stringify(target));
  }
});

test("errors never echo the target", () => {
  const result = normalizeRequestTarget("/secret-token%2Fx");
  assert.ok("error" in result);
  assert.ok(!result.error.includes("secret-token"));
});

test("canonicalizePathEncoding encodes non-ASCII route paths as UTF-8 and keeps slashes and dots", () => {
  assert.equal(canonicalizePathEncoding("/café"), "/caf%C3%A9");
  assert.equal(canonicalizePathEncoding("/😀"), "/%F0%9F%98%80");
  assert.equal(canonicalizePathEncoding("/%7euser//x/../y"), "/~user//x/../y");
  assert.deepEqual(canonicalizePathEncoding("/a?b"), { error: "'?' or '#' in path" });
});

test("removeDotSegments follows RFC 3986 §5.2.4 examples (absolute paths)", () => {
  assert.equal(removeDotSegments("/a/b/c/./../../g"), "/a/g");
  assert.equal(removeDotSegments("/mid/content=5/../6"), "/mid/6");
});

const targetChars = fc.constantFrom(
  "/",
  ".",
  "..",
  "%2e",
  "%2E",
  "%2f",
  "%5c",
  "\\",
  "%",
  "%4",
  "%41",
  "%7e",
  "%c3%a9",
  "a",
  "Z",
  "~",
  "?",
  "#",
  "&",
  "=",
  " ",
  "\u0000",
  "\u00e9",
  "|",
);

test("property: never throws; a normalised path never holds '//', '/./' or '/../'", () => {
  const target = fc.oneof(
    fc.string(),
    fc.array(targetChars, { maxLength: 40 }).map((parts) => `/${parts.join("")}`),
  );
  fc.assert(
    fc.property(target, (input) => {
      const result = normalizeRequestTarget(input);
      if ("error" in result) return;
      const { path } = result;
      assert.ok(path.startsWith("/"));
      assert.ok(!path.includes("//"), path);
      assert.ok(!path.includes("/./"), path);
      assert.ok(!path.includes("/../"), path);
      assert.ok(!path.endsWith("/.") && !path.endsWith("/.."), path);
      assert.ok(!/%2f|%5c|\\/i.test(path), path);
      // Idempotent: normalising the output changes nothing.
      assert.deepEqual(normalizeRequestTarget(path), { path, query: "" });
    }),
    { numRuns: 2000 },
  );
});
