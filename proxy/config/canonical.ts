// Canonical JSON: object keys sorted recursively, no whitespace. Two equal configs serialise to the
// same bytes whatever order their fields were built in, so their content hash (the config version) is equal.
//
// Written out by hand rather than with a JSON.stringify replacer: the replacer builds a sorted copy of
// every object, which made hashing a 10,000-host config take seconds (measured with
// scripts/bench-control/compile.ts). The output is byte-identical to the replacer form's (tested).
import { createHash } from "node:crypto";

/** JSON text with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  let out = "";
  if (!writeCanonical(value, (text) => (out += text))) out = "null";
  return out;
}

/** sha256 hex of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  // Streamed into the hash in 64 KiB pieces: a 10,000-host config is ~26 MB of JSON, and building that
  // string first cost several times more (allocation and GC) than hashing it (measured).
  const digest = createHash("sha256");
  let buffered = "";
  const write = (text: string): void => {
    buffered += text;
    if (buffered.length >= 65_536) {
      digest.update(buffered);
      buffered = "";
    }
  };
  if (!writeCanonical(value, write)) write("null");
  digest.update(buffered);
  return digest.digest("hex");
}

/**
 * Writes the canonical JSON of `value` piece by piece; false (nothing written) for a value JSON has
 * no text for (undefined, a function, a symbol), which objects leave out and arrays write as null.
 */
function writeCanonical(value: unknown, write: (text: string) => void): boolean {
  if (value === null) {
    write("null");
    return true;
  }
  switch (typeof value) {
    case "string":
      write(JSON.stringify(value));
      return true;
    case "number":
      write(Number.isFinite(value) ? String(value) : "null");
      return true;
    case "boolean":
      write(value ? "true" : "false");
      return true;
    case "object": {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return writeCanonical(toJSON.call(value), write);
      if (Array.isArray(value)) {
        write("[");
        for (let i = 0; i < value.length; i++) {
          if (i > 0) write(",");
          if (!writeCanonical(value[i], write)) write("null");
        }
        write("]");
        return true;
      }
      const record = value as Record<string, unknown>;
      write("{");
      let first = true;
      for (const key of sortedKeys(record)) {
        const item = record[key];
        if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
        write(`${first ? "" : ","}${JSON.stringify(key)}:`);
        first = false;
        writeCanonical(item, write);
      }
      write("}");
      return true;
    }
    default:
      return false;
  }
}

/**
 * Keys sorted, in the order the original JSON.stringify-based form produced: it inserted keys sorted
 * into a fresh object, and JavaScript objects list array-index keys ("0", "17") first, ascending.
 * Keeping that order keeps every config version (content hash) the same as before.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record).sort();
  if (!keys.some(isArrayIndex)) return keys;
  const indices = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return [...indices, ...keys.filter((key) => !isArrayIndex(key))];
}

function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  if (first < 48 || first > 57) return false; // not a digit: the common case, without a regex
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 4294967295;
}
