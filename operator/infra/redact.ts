// Secret data in printable form: each value replaced by a short digest of its bytes, so that golden
// files, logs and diffs show which Secret changed without ever showing a key.
import { createHash } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";

/** Hex digits of the digest shown: enough to tell values apart, useless to recover them. */
const DIGEST_LENGTH = 16;

/** "<redacted sha256:…>" for a base64 value (the digest is of the decoded bytes). */
export function redactValue(base64: string): string {
  const digest = createHash("sha256").update(Buffer.from(base64, "base64")).digest("hex");
  return `<redacted sha256:${digest.slice(0, DIGEST_LENGTH)}>`;
}

/**
 * A copy of `object` with every data, binaryData and stringData value of a Secret redacted; other
 * kinds are returned as they are.
 */
export function redactSecretData<T extends KubernetesObject>(object: T): T {
  if (object.kind !== "Secret") return object;
  const copy = { ...object } as Record<string, unknown>;
  for (const field of ["data", "binaryData", "stringData"]) {
    const values = copy[field];
    if (typeof values !== "object" || values === null) continue;
    copy[field] = Object.fromEntries(
      Object.entries(values).map(([key, value]) => [
        key,
        field === "stringData"
          ? redactValue(Buffer.from(String(value), "utf8").toString("base64"))
          : redactValue(String(value)),
      ]),
    );
  }
  return copy as T;
}
