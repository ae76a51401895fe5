// Ingress path semantics, per the table in the Kubernetes Ingress documentation:
// - Exact matches the URL path exactly (case-sensitive);
// - Prefix matches element-wise on "/"-separated segments: "/foo" matches "/foo", "/foo/" and
//   "/foo/bar" but not "/foobar"; a trailing slash on the Prefix path is ignored;
// - ImplementationSpecific means Prefix here (documented in docs/reference.md).
// Longest path wins; on a tie, Exact beats Prefix.
import { compareStrings } from "../api/keys.ts";

export type MatchType = "Exact" | "Prefix";

/** Sequences the API server refuses in Exact and Prefix paths; we refuse them in every path. */
const FORBIDDEN_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"];
const FORBIDDEN_SUFFIXES = ["/..", "/."];

/** Why a path cannot be routed, or undefined when it can. */
export function validatePath(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  for (const sequence of FORBIDDEN_SEQUENCES) {
    if (path.includes(sequence)) return `must not contain '${sequence}'`;
  }
  for (const suffix of FORBIDDEN_SUFFIXES) {
    if (path.endsWith(suffix)) return `cannot end with '${suffix}'`;
  }
  if (/[\s?#]/.test(path)) return "must not contain whitespace, '?' or '#'";
  return undefined;
}

/** The match type an Ingress pathType compiles to. */
export function matchTypeOf(pathType: string | undefined): MatchType | undefined {
  if (pathType === "Exact") return "Exact";
  if (pathType === "Prefix" || pathType === "ImplementationSpecific") return "Prefix";
  return undefined;
}

/** Canonical form: a Prefix path loses its trailing slash ("/foo/" and "/foo" are the same prefix). */
export function normalizePath(matchType: MatchType, path: string): string {
  if (matchType === "Prefix" && path.length > 1 && path.endsWith("/"))
    return path.replace(/\/+$/, "") || "/";
  return path;
}

/** Whether a request path matches a normalised route path. Used by tests and by the proxy's router. */
export function pathMatches(matchType: MatchType, routePath: string, requestPath: string): boolean {
  if (matchType === "Exact") return requestPath === routePath;
  if (routePath === "/") return requestPath.startsWith("/");
  return requestPath === routePath || requestPath.startsWith(`${routePath}/`);
}

/** Route order: longest path first; on equal paths Exact before Prefix; then by path text for determinism. */
export function compareRoutes(
  a: { pathType: MatchType; path: string },
  b: { pathType: MatchType; path: string },
): number {
  if (a.path.length !== b.path.length) return b.path.length - a.path.length;
  if (a.pathType !== b.pathType) return a.pathType === "Exact" ? -1 : 1;
  return compareStrings(a.path, b.path);
}
