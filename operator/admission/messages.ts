// Field errors printed the way k8s.io/apimachinery/pkg/util/validation/field prints them, so that
// `portcullis check` and `kubectl apply` against a real API server say the same words. The API
// server renders each bad value with Go's fmt/json; the helpers below reproduce that rendering
// (%q for strings, %v for numbers, encoding/json for everything else).

/**
 * The error kinds of a field error; the names are the StatusCause types the API server returns.
 * "FieldValueUnknown" stands for a strict-decoding failure (an unknown field), which the API
 * server reports before validation runs.
 */
export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueTypeInvalid"
  | "FieldValueNotSupported"
  | "FieldValueTooLong"
  | "FieldValueTooMany"
  | "FieldValueDuplicate"
  | "FieldValueForbidden"
  | "InternalError"
  | "FieldValueUnknown";

/** One error, before it is handed out as an AdmissionError. */
export interface FieldError {
  /** Field path as the API server prints it; "" is the nil path (printed "<nil>"). */
  field: string;
  /** What kind of error; decides, among other things, whether CEL rules still run. */
  type: FieldErrorType;
  /** The complete line: "<field>: <body>". */
  message: string;
}

/** Marks a bad value the API server leaves out of the message (field.OmitValueType). */
export const OMIT: unique symbol = Symbol("omit");

const TYPE_TEXT: Record<Exclude<FieldErrorType, "FieldValueUnknown">, string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueTypeInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueTooLong: "Too long",
  FieldValueTooMany: "Too many",
  FieldValueDuplicate: "Duplicate value",
  FieldValueForbidden: "Forbidden",
  InternalError: "Internal error",
};

/** Error kinds whose body never shows the value (ErrorBody's first case). */
const VALUELESS: ReadonlySet<FieldErrorType> = new Set([
  "FieldValueRequired",
  "FieldValueForbidden",
  "FieldValueTooLong",
  "InternalError",
]);

/** A field path printed as field.Path.String() prints it: the nil path is "<nil>". */
export function printPath(field: string): string {
  return field === "" ? "<nil>" : field;
}

/** field.Path.Child. */
export function child(parent: string, name: string): string {
  return parent === "" ? name : `${parent}.${name}`;
}

/** field.Path.Index. */
export function index(parent: string, i: number): string {
  return `${parent}[${i}]`;
}

function fieldError(
  type: Exclude<FieldErrorType, "FieldValueUnknown">,
  field: string,
  value: unknown,
  detail: string,
): FieldError {
  let body = TYPE_TEXT[type];
  if (!VALUELESS.has(type) && value !== OMIT) body += `: ${formatBadValue(value)}`;
  if (detail !== "") body += `: ${detail}`;
  return { field, type, message: `${printPath(field)}: ${body}` };
}

/** field.Required. */
export function required(field: string, detail = ""): FieldError {
  return fieldError("FieldValueRequired", field, "", detail);
}

/** field.Invalid. */
export function invalid(field: string, value: unknown, detail: string): FieldError {
  return fieldError("FieldValueInvalid", field, value, detail);
}

/** field.TypeInvalid. */
export function typeInvalid(field: string, value: unknown, detail: string): FieldError {
  return fieldError("FieldValueTypeInvalid", field, value, detail);
}

/** field.NotSupported: the detail lists the supported values, each strconv.Quote'd. */
export function notSupported(
  field: string,
  value: unknown,
  supported: readonly string[],
): FieldError {
  const detail =
    supported.length > 0 ? `supported values: ${supported.map(goQuote).join(", ")}` : "";
  return fieldError("FieldValueNotSupported", field, value, detail);
}

/** field.TooLong (the value is never shown). */
export function tooLong(field: string, maxLength: number): FieldError {
  const detail =
    maxLength >= 0
      ? `may not be more than ${maxLength} ${maxLength === 1 ? "byte" : "bytes"}`
      : "value is too long";
  return fieldError("FieldValueTooLong", field, OMIT, detail);
}

/** field.TooMany. */
export function tooMany(field: string, actual: number, max: number): FieldError {
  const detail =
    max >= 0 ? `must have at most ${max} ${max === 1 ? "item" : "items"}` : "has too many items";
  return fieldError("FieldValueTooMany", field, actual >= 0 ? actual : OMIT, detail);
}

/** field.Duplicate. */
export function duplicate(field: string, value: unknown): FieldError {
  return fieldError("FieldValueDuplicate", field, value, "");
}

/** field.Forbidden. */
export function forbidden(field: string, detail: string): FieldError {
  return fieldError("FieldValueForbidden", field, "", detail);
}

/** field.InternalError. */
export function internalError(field: string, detail: string): FieldError {
  return fieldError("InternalError", field, "", detail);
}

/** A strict-decoding failure: `unknown field "spec.foo"`. */
export function unknownField(field: string): FieldError {
  return { field, type: "FieldValueUnknown", message: `unknown field ${goQuote(field)}` };
}

/**
 * The value part of ErrorBody: Go's %v for numbers and booleans, %q for strings, and
 * encoding/json for anything else (null, objects, arrays).
 */
export function formatBadValue(value: unknown): string {
  if (typeof value === "string") return goQuote(value);
  if (typeof value === "boolean") return String(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return goNumber(value);
  return goJSON(value);
}

/**
 * A JSON number as the API server holds it: int64 when it has no fraction (and fits), else a
 * float64 printed with Go's %v.
 */
export function goNumber(value: number): string {
  return isInt64(value) ? BigInt(value).toString() : goFloat(value);
}

/** Whether the API server's JSON decoder would read this number as an int64. */
export function isInt64(value: number): boolean {
  return Number.isInteger(value) && Math.abs(value) < 2 ** 63;
}

/**
 * Go's %v for a float64: the shortest digits that round-trip, in %e form when the exponent is
 * below -4 or at least 6 (strconv's 'g' with shortest precision), with a two-digit exponent.
 */
export function goFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const [mantissa = "0", exp = "0"] = value.toExponential().split("e");
  const exponent = Number(exp);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return String(value);
}

/**
 * Go's strconv.Quote: printable characters as they are, the usual escapes, and \x, \u or \U for
 * everything else.
 */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case "\\":
        out += "\\\\";
        continue;
      case "\x07":
        out += "\\a";
        continue;
      case "\b":
        out += "\\b";
        continue;
      case "\f":
        out += "\\f";
        continue;
      case "\n":
        out += "\\n";
        continue;
      case "\r":
        out += "\\r";
        continue;
      case "\t":
        out += "\\t";
        continue;
      case "\v":
        out += "\\v";
        continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff)
      out += "\\ufffd"; // a lone surrogate is invalid UTF-8 in Go
    else if (isGoPrintable(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\U${cp.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isGoPrintable(ch: string): boolean {
  return PRINTABLE.test(ch);
}

/**
 * Go's encoding/json for decoded JSON values: object keys sorted, and <, >, &, U+2028 and
 * U+2029 escaped as encoding/json does by default.
 */
export function goJSON(value: unknown): string {
  const json = JSON.stringify(sortKeys(value), (_key, v: unknown) =>
    typeof v === "bigint" ? Number(v) : v,
  );
  if (json === undefined) return "null";
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(compareBytes)) {
      sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return sorted;
  }
  return value;
}

/** Go's string order (bytes of UTF-8), which sort.Strings and encoding/json use. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
