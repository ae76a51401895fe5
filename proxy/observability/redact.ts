// The last line of defence for log fields. Callers must never log cookies, authorization headers or key
// material; this step makes sure a slip does not leak one anyway. It errs towards redacting: a field
// called `keyFile` loses its (harmless) value, a field called `cookie` never shows its (harmful) one.
import type { LogFields } from "./ports.ts";

/** What a redacted field's value becomes: the name stays, so the slip is visible and can be fixed. */
export const REDACTED = "[redacted]";

/** Name fragments that mark a field as sensitive wherever they appear ("sessionToken", "x-api-secret"). */
const SENSITIVE_FRAGMENTS = [
  "cookie",
  "authorization",
  "secret",
  "token",
  "password",
  "passwd",
  "passphrase",
  "credential",
  "privatekey",
  "apikey",
];

/** Whole words that mark a field as sensitive ("key", "auth"), too short to match as fragments. */
const SENSITIVE_WORDS = new Set(["key", "keys", "auth"]);

/** Splits "keyFile", "private_key", "Set-Cookie" into lower-case words. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

const verdicts = new Map<string, boolean>();

/**
 * Whether a field name looks like it holds a secret: cookie, set-cookie, authorization,
 * proxy-authorization, key, secret, token, password and their spellings (case, `-`, `_`, camelCase).
 */
export function isSensitiveName(name: string): boolean {
  let verdict = verdicts.get(name);
  if (verdict === undefined) {
    const squashed = name.toLowerCase().replace(/[^a-z0-9]/g, "");
    verdict =
      SENSITIVE_FRAGMENTS.some((fragment) => squashed.includes(fragment)) ||
      words(name).some((word) => SENSITIVE_WORDS.has(word) || word.endsWith("key"));
    // Field names are a small, fixed set in code, so remembering verdicts stays small; the guard
    // keeps it so even if a caller builds names from data.
    if (verdicts.size < 10_000) verdicts.set(name, verdict);
  }
  return verdict;
}

/** Whether a value looks like key material whatever its field is called (a PEM private key). */
function isSensitiveValue(value: unknown): boolean {
  return typeof value === "string" && value.includes("PRIVATE KEY");
}

/**
 * A copy of `fields` in which every sensitive field (by name, or by a PEM private key in its value)
 * has the value REDACTED. Returns `fields` itself when nothing needed redacting.
 */
export function redactFields(fields: LogFields): LogFields {
  let result: LogFields | undefined;
  for (const name of Object.keys(fields)) {
    if (!isSensitiveName(name) && !isSensitiveValue(fields[name])) continue;
    result ??= { ...fields };
    result[name] = REDACTED;
  }
  return result ?? fields;
}
