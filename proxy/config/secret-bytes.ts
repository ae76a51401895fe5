// Bytes that must never be printed: private keys, session ticket keys. Every way a value reaches a
// log line, an error or a JSON document (String(), template literals, JSON.stringify, util.inspect,
// console.log) prints "[redacted]"; the bytes come out only through an explicit reveal().
import { inspect } from "node:util";

const REDACTED = "[redacted]";

/** A redacting holder of secret bytes (such as a PEM private key). */
export class SecretBytes {
  readonly #value: Buffer;

  /** Copies `value`, so later changes to the caller's buffer do not reach this one. */
  constructor(value: Uint8Array) {
    this.#value = Buffer.from(value);
  }

  /** The bytes themselves; hand them only to what needs them (node:crypto, a file write). */
  reveal(): Buffer {
    return this.#value;
  }

  /** Number of bytes; safe to print. */
  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `SecretBytes(${REDACTED})`;
  }
}
