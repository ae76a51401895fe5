// The path table of the Kubernetes Ingress documentation
// (kubernetes.io/docs/concepts/services-networking/ingress/#examples), row by row: the Ingress paths
// are compiled the way the compiler does it (matchTypeOf, normalizePath, compareRoutes) and the
// request is matched the way the proxy does it (pathMatches, first match in route order).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  compareRoutes,
  type MatchType,
  matchTypeOf,
  normalizePath,
  pathMatches,
  validatePath,
} from "./paths.ts";

/** An Ingress path as written: its pathType and path. */
type IngressPath = [pathType: string, path: string];

interface CompiledRoute {
  pathType: MatchType;
  path: string;
  /** Index of the Ingress path it came from. */
  from: number;
}

function compileRoutes(paths: readonly IngressPath[]): CompiledRoute[] {
  return paths
    .map(([pathType, path], from) => {
      const matchType = matchTypeOf(pathType);
      assert.ok(matchType, `pathType ${pathType} compiles`);
      return { pathType: matchType, path: normalizePath(matchType, path), from };
    })
    .sort(compareRoutes);
}

/** The Ingress path (index) that serves a request, or undefined (the default backend, or 404). */
function winner(paths: readonly IngressPath[], request: string): number | undefined {
  return compileRoutes(paths).find((r) => pathMatches(r.pathType, r.path, request))?.from;
}

// [row, Ingress paths, request paths, index of the path that must win (undefined: no match)]
const TABLE: [string, IngressPath[], string[], number | undefined][] = [
  ["Prefix / matches all paths", [["Prefix", "/"]], ["/", "/foo", "/foo/bar", "/aaa/bbb/"], 0],
  ["Exact /foo matches /foo", [["Exact", "/foo"]], ["/foo"], 0],
  ["Exact /foo does not match /bar", [["Exact", "/foo"]], ["/bar"], undefined],
  ["Exact /foo does not match /foo/", [["Exact", "/foo"]], ["/foo/"], undefined],
  ["Exact /foo/ does not match /foo", [["Exact", "/foo/"]], ["/foo"], undefined],
  ["Prefix /foo matches /foo and /foo/", [["Prefix", "/foo"]], ["/foo", "/foo/"], 0],
  ["Prefix /foo/ matches /foo and /foo/", [["Prefix", "/foo/"]], ["/foo", "/foo/"], 0],
  ["Prefix /aaa/bb does not match /aaa/bbb", [["Prefix", "/aaa/bb"]], ["/aaa/bbb"], undefined],
  ["Prefix /aaa/bbb matches /aaa/bbb", [["Prefix", "/aaa/bbb"]], ["/aaa/bbb"], 0],
  [
    "Prefix /aaa/bbb/ matches /aaa/bbb (ignores trailing slash)",
    [["Prefix", "/aaa/bbb/"]],
    ["/aaa/bbb"],
    0,
  ],
  [
    "Prefix /aaa/bbb matches /aaa/bbb/ (matches trailing slash)",
    [["Prefix", "/aaa/bbb"]],
    ["/aaa/bbb/"],
    0,
  ],
  ["Prefix /aaa/bbb matches /aaa/bbb/ccc (subpath)", [["Prefix", "/aaa/bbb"]], ["/aaa/bbb/ccc"], 0],
  [
    "Prefix /aaa/bbb does not match /aaa/bbbxyz (no string prefix)",
    [["Prefix", "/aaa/bbb"]],
    ["/aaa/bbbxyz"],
    undefined,
  ],
  [
    "Prefix /, /aaa: /aaa/ccc matches /aaa",
    [
      ["Prefix", "/"],
      ["Prefix", "/aaa"],
    ],
    ["/aaa/ccc"],
    1,
  ],
  [
    "Prefix /, /aaa, /aaa/bbb: /aaa/bbb matches /aaa/bbb",
    [
      ["Prefix", "/"],
      ["Prefix", "/aaa"],
      ["Prefix", "/aaa/bbb"],
    ],
    ["/aaa/bbb"],
    2,
  ],
  [
    "Prefix /, /aaa, /aaa/bbb: /ccc matches /",
    [
      ["Prefix", "/"],
      ["Prefix", "/aaa"],
      ["Prefix", "/aaa/bbb"],
    ],
    ["/ccc"],
    0,
  ],
  ["Prefix /aaa: /ccc uses the default backend", [["Prefix", "/aaa"]], ["/ccc"], undefined],
  [
    "Mixed /foo (Prefix), /foo (Exact): /foo prefers Exact",
    [
      ["Prefix", "/foo"],
      ["Exact", "/foo"],
    ],
    ["/foo"],
    1,
  ],
];

for (const [row, paths, requests, expected] of TABLE) {
  test(`Ingress docs path table: ${row}`, () => {
    for (const request of requests) {
      assert.equal(winner(paths, request), expected, `request ${request}`);
      // Input order must not matter: the same table with the paths reversed picks the same path.
      const reversed = [...paths].reverse();
      const fromReversed = winner(reversed, request);
      assert.equal(
        fromReversed === undefined ? undefined : paths.length - 1 - fromReversed,
        expected,
        `request ${request} (paths reversed)`,
      );
    }
  });
}

test("Mixed Exact and Prefix: the Exact path wins only for itself", () => {
  const paths: IngressPath[] = [
    ["Prefix", "/foo"],
    ["Exact", "/foo"],
  ];
  assert.equal(winner(paths, "/foo/"), 0);
  assert.equal(winner(paths, "/foo/bar"), 0);
  assert.equal(winner(paths, "/foobar"), undefined);
});

test("the longest path wins before the match type: Exact /foo/ beats Prefix /foo for /foo/", () => {
  const paths: IngressPath[] = [
    ["Prefix", "/foo"],
    ["Exact", "/foo/"],
  ];
  assert.equal(winner(paths, "/foo/"), 1);
  assert.equal(winner(paths, "/foo"), 0);
});

test("ImplementationSpecific compiles to Prefix", () => {
  assert.equal(matchTypeOf("ImplementationSpecific"), "Prefix");
  assert.equal(matchTypeOf("Prefix"), "Prefix");
  assert.equal(matchTypeOf("Exact"), "Exact");
  assert.equal(matchTypeOf("Regex"), undefined);
  assert.equal(matchTypeOf(undefined), undefined);
  assert.equal(winner([["ImplementationSpecific", "/docs/"]], "/docs/intro"), 0);
  assert.equal(winner([["ImplementationSpecific", "/docs/"]], "/docsite"), undefined);
});

test("normalizePath drops a Prefix path's trailing slashes, never an Exact path's, never the root", () => {
  assert.equal(normalizePath("Prefix", "/foo/"), "/foo");
  assert.equal(normalizePath("Prefix", "/foo"), "/foo");
  assert.equal(normalizePath("Prefix", "/"), "/");
  assert.equal(normalizePath("Exact", "/foo/"), "/foo/");
  assert.equal(normalizePath("Exact", "/"), "/");
});

test("compareRoutes: longest first, Exact before Prefix on a tie, then by text", () => {
  const routes: { pathType: MatchType; path: string }[] = [
    { pathType: "Prefix", path: "/" },
    { pathType: "Prefix", path: "/b" },
    { pathType: "Exact", path: "/b" },
    { pathType: "Prefix", path: "/a" },
    { pathType: "Prefix", path: "/aaa/bbb" },
  ];
  assert.deepEqual(
    [...routes].sort(compareRoutes).map((r) => `${r.pathType} ${r.path}`),
    ["Prefix /aaa/bbb", "Exact /b", "Prefix /a", "Prefix /b", "Prefix /"],
  );
});

test("validatePath refuses what the API server refuses in Exact and Prefix paths", () => {
  assert.equal(validatePath("/static/v1"), undefined);
  assert.equal(validatePath("/"), undefined);
  assert.equal(validatePath("static"), "must be an absolute path");
  assert.equal(validatePath("/a//b"), "must not contain '//'");
  assert.equal(validatePath("/a/./b"), "must not contain '/./'");
  assert.equal(validatePath("/a/../b"), "must not contain '/../'");
  assert.equal(validatePath("/a%2fb"), "must not contain '%2f'");
  assert.equal(validatePath("/a/.."), "cannot end with '/..'");
  assert.equal(validatePath("/a/."), "cannot end with '/.'");
  assert.equal(validatePath("/a b"), "must not contain whitespace, '?' or '#'");
  assert.equal(validatePath("/a?b"), "must not contain whitespace, '?' or '#'");
});
