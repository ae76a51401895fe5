// Canonical JSON: object keys sorted recursively, no whitespace. Two equal configs serialise to the
// same bytes whatever order their fields were built in, so their content hash (the config version) is equal.
import { createHash } from "node:crypto";

/** JSON text with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, current: unknown) => {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return current;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(current).sort())
      sorted[key] = (current as Record<string, unknown>)[key];
    return sorted;
  });
}

/** sha256 hex of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}
