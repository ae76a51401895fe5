// Canonical JSON: object keys sorted recursively, no whitespace. Two equal configs serialise to the
// same bytes whatever order their fields were built in, so their content hash (the config version) is equal.
//
// Written out by hand rather than with a JSON.stringify replacer: the replacer builds a sorted copy of
// every object, which made hashing a 10,000-host config take seconds (measured with
// scripts/bench-control/compile.ts). The output is byte-identical to the replacer form's (tested).
import { createHash, type Hash } from "node:crypto";

/** JSON text with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  const writer = new CanonicalWriter(null);
  if (!writer.value(value)) writer.text += "null";
  return writer.text;
}

/** sha256 hex of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  // Streamed into the hash in 64 KiB pieces: a 10,000-host config is ~26 MB of JSON, and building that
  // string first cost several times more (allocation and GC) than hashing it (measured).
  const digest = createHash("sha256");
  const writer = new CanonicalWriter(digest);
  if (!writer.value(value)) writer.text += "null";
  digest.update(writer.text);
  return digest.digest("hex");
}

/** Size at which the text written so far is handed to the hash (when there is one). */
const FLUSH_CHARS = 65_536;

/**
 * The keys of an object shape, sorted, with their `"key":` prefixes. Configs hold millions of objects
 * of a few dozen shapes; sorting each object's keys anew took a third of the time spent hashing a
 * 10,000-host config (measured: hashing it and its 20,000 clusters 570–640 → 390–480 ms, and
 * compiling 10,000 Ingresses 2.2–2.6 → 1.8–1.9 s, medians of 3, alternating runs).
 */
interface Shape {
  /** The keys in Object.keys order: what identifies the shape. */
  readonly keys: readonly string[];
  /** The keys in canonical order. */
  readonly sorted: readonly string[];
  /** `"key":` for each key of `sorted`. */
  readonly quoted: readonly string[];
}

/**
 * Shapes seen, by their first key. Bounded in every direction, since keys come from user input too
 * (labels, annotations): objects beyond the bounds are sorted each time, as before.
 */
const shapesByFirstKey = new Map<string, Shape[]>();
const MAX_FIRST_KEYS = 1024;
const MAX_SHAPES_PER_FIRST_KEY = 8;
const MAX_KEYS_PER_CACHED_SHAPE = 32;

function shapeOf(record: Record<string, unknown>): Shape {
  const keys = Object.keys(record);
  const first = keys.length === 0 ? "" : (keys[0] as string);
  const known = shapesByFirstKey.get(first);
  if (known !== undefined) {
    for (const shape of known) if (sameKeys(shape.keys, keys)) return shape;
  }
  const sorted = sortKeys(keys);
  const shape: Shape = { keys, sorted, quoted: sorted.map((key) => `${JSON.stringify(key)}:`) };
  if (keys.length > MAX_KEYS_PER_CACHED_SHAPE) return shape;
  if (known !== undefined) {
    if (known.length < MAX_SHAPES_PER_FIRST_KEY) known.push(shape);
  } else if (shapesByFirstKey.size < MAX_FIRST_KEYS) {
    shapesByFirstKey.set(first, [shape]);
  }
  return shape;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Appends the canonical JSON of values to `text`, handing it to `digest` in pieces when there is one.
 * One object with a string field rather than a write callback per token: the callback's call and
 * closure were most of the cost.
 */
class CanonicalWriter {
  text = "";
  readonly #digest: Hash | null;

  constructor(digest: Hash | null) {
    this.#digest = digest;
  }

  /**
   * Writes `value`; false (nothing written) for a value JSON has no text for (undefined, a function, a
   * symbol), which objects leave out and arrays write as null.
   */
  value(value: unknown): boolean {
    if (value === null) {
      this.text += "null";
      return true;
    }
    switch (typeof value) {
      case "string":
        this.text += JSON.stringify(value);
        return true;
      case "number":
        this.text += Number.isFinite(value) ? String(value) : "null";
        return true;
      case "boolean":
        this.text += value ? "true" : "false";
        return true;
      case "object":
        this.#object(value as object);
        if (this.#digest !== null && this.text.length >= FLUSH_CHARS) {
          this.#digest.update(this.text);
          this.text = "";
        }
        return true;
      default:
        return false;
    }
  }

  #object(value: object): void {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      if (!this.value(toJSON.call(value))) this.text += "null";
      return;
    }
    if (Array.isArray(value)) {
      this.text += "[";
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.text += ",";
        if (!this.value(value[i])) this.text += "null";
      }
      this.text += "]";
      return;
    }
    const record = value as Record<string, unknown>;
    const { sorted, quoted } = shapeOf(record);
    this.text += "{";
    let first = true;
    for (let i = 0; i < sorted.length; i++) {
      const item = record[sorted[i] as string];
      if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
      if (first) first = false;
      else this.text += ",";
      this.text += quoted[i] as string;
      this.value(item);
    }
    this.text += "}";
  }
}

/**
 * Keys sorted, in the order the original JSON.stringify-based form produced: it inserted keys sorted
 * into a fresh object, and JavaScript objects list array-index keys ("0", "17") first, ascending.
 * Keeping that order keeps every config version (content hash) the same as before.
 */
function sortKeys(unsorted: readonly string[]): string[] {
  const keys = [...unsorted].sort();
  if (!keys.some(isArrayIndex)) return keys;
  const indices = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return [...indices, ...keys.filter((key) => !isArrayIndex(key))];
}

function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  if (first < 48 || first > 57) return false; // not a digit: the common case, without a regex
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 4294967295;
}
