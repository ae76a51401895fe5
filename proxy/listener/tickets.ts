// Session-ticket keys shared by every proxy process and replica without any coordination: each
// derives the key of the current period from a shared secret and the clock,
//   epoch = floor(unixSeconds / rotationSeconds)
//   keys  = HKDF-SHA256(secret, salt, "epoch=<epoch>;period=<rotationSeconds>", 48 bytes)
// so replicas with the same secret and synchronised clocks hold the same key and switch at the same
// instant, and a ticket issued by one is accepted by all.
//
// Where the keys go: Node (24, 26) encrypts and decrypts tickets with the keys of the TLS server's own
// (initial) context only, never with an SNI context's, so the listener applies them with
// server.setTicketKeys() on every TLS server, and on SNI contexts merely as a safeguard (README.md).
//
// Node holds one ticket key per server (no "previous key still decrypts" list in its public API),
// so a ticket dies at the boundary after it was issued: once per period each client does one full
// handshake, then gets a ticket under the new key.
import { hkdfSync } from "node:crypto";
import { SecretBytes } from "../config/secret-bytes.ts";

/** Bytes of key material Node expects: 16 key name + 16 HMAC key + 16 AES key. */
export const TICKET_KEYS_BYTES = 48;
/** Shortest shared secret accepted: 256 bits. */
export const MIN_TICKET_SECRET_BYTES = 32;
const HKDF_SALT = Buffer.from("portcullis.dev/session-ticket-keys/v1", "utf8");

/** The rotation period a time falls in. */
export function ticketEpochAt(unixMs: number, rotationSeconds: number): number {
  return Math.floor(unixMs / 1000 / rotationSeconds);
}

/**
 * The 48-byte ticket keys of one period. Deterministic: every holder of `secret` derives the same
 * bytes for the same (epoch, rotationSeconds); the period is part of the input so fleets running
 * different periods never share a key by accident.
 */
export function deriveTicketKeys(
  secret: SecretBytes,
  epoch: number,
  rotationSeconds: number,
): SecretBytes {
  const info = Buffer.from(`epoch=${epoch};period=${rotationSeconds}`, "utf8");
  return new SecretBytes(
    new Uint8Array(hkdfSync("sha256", secret.reveal(), HKDF_SALT, info, TICKET_KEYS_BYTES)),
  );
}

/** Time and timers, injectable so tests can drive rotation. */
export interface TicketClock {
  /** Current Unix time in milliseconds. */
  now(): number;
  /** Schedules `callback` after `delayMs`; returns a cancel function. Must not keep the process alive. */
  schedule(callback: () => void, delayMs: number): () => void;
}

/** The real clock: Date.now and unref'd timers (a pending rotation must not keep a process alive). */
export const systemTicketClock: TicketClock = {
  now: () => Date.now(),
  schedule(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** Options of TicketKeyRing. */
export interface TicketKeyRingOptions {
  /** The shared secret (at least 32 bytes), typically read from a mounted Secret file. */
  readonly secret: SecretBytes | Uint8Array;
  /** Rotation period in seconds (config listener.sessionTicketRotationSeconds). */
  readonly rotationSeconds: number;
  /** Default systemTicketClock. */
  readonly clock?: TicketClock | undefined;
}

/** Called with the new keys and their epoch whenever the current keys change. */
export type TicketKeysListener = (keys: SecretBytes, epoch: number) => void;

/**
 * The current session-ticket keys, rotated exactly at each period boundary. Listeners (the TLS
 * servers and their SNI contexts) are told synchronously on every change.
 */
export class TicketKeyRing {
  readonly #secret: SecretBytes;
  readonly #clock: TicketClock;
  readonly #listeners = new Set<TicketKeysListener>();
  #rotationSeconds: number;
  #epoch: number;
  #keys: SecretBytes;
  #cancel: (() => void) | undefined;
  #closed = false;

  constructor(options: TicketKeyRingOptions) {
    const secret =
      options.secret instanceof SecretBytes ? options.secret : new SecretBytes(options.secret);
    if (secret.length < MIN_TICKET_SECRET_BYTES) {
      throw new RangeError(
        `The session-ticket secret holds ${secret.length} bytes; at least ${MIN_TICKET_SECRET_BYTES} are required`,
      );
    }
    validateRotation(options.rotationSeconds);
    this.#secret = secret;
    this.#clock = options.clock ?? systemTicketClock;
    this.#rotationSeconds = options.rotationSeconds;
    this.#epoch = ticketEpochAt(this.#clock.now(), this.#rotationSeconds);
    this.#keys = deriveTicketKeys(this.#secret, this.#epoch, this.#rotationSeconds);
    this.#schedule();
  }

  /** The keys in force now (48 bytes; reveal() only to hand them to node:tls). */
  get keys(): SecretBytes {
    return this.#keys;
  }

  /** The period the current keys belong to. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The rotation period in seconds. */
  get rotationSeconds(): number {
    return this.#rotationSeconds;
  }

  /** Subscribes to key changes; returns the unsubscribe function. */
  onRotate(listener: TicketKeysListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Changes the period (a new config); re-derives and notifies if that changes the keys. */
  setRotationSeconds(rotationSeconds: number): void {
    validateRotation(rotationSeconds);
    if (rotationSeconds === this.#rotationSeconds) return;
    this.#rotationSeconds = rotationSeconds;
    this.#refresh(true);
  }

  /** Stops the rotation timer; the current keys stay readable. */
  close(): void {
    this.#closed = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #refresh(force: boolean): void {
    const epoch = ticketEpochAt(this.#clock.now(), this.#rotationSeconds);
    if (force || epoch !== this.#epoch) {
      this.#epoch = epoch;
      this.#keys = deriveTicketKeys(this.#secret, epoch, this.#rotationSeconds);
      for (const listener of this.#listeners) listener(this.#keys, epoch);
    }
    this.#schedule();
  }

  /**
   * Arms one timer for the next boundary. A timer that fires early (clocks and timers disagree by a
   * millisecond now and then) finds the same epoch and simply re-arms for the remainder.
   */
  #schedule(): void {
    this.#cancel?.();
    if (this.#closed) return;
    const nextBoundaryMs = (this.#epoch + 1) * this.#rotationSeconds * 1000;
    const delay = Math.max(1, nextBoundaryMs - this.#clock.now());
    this.#cancel = this.#clock.schedule(() => this.#refresh(false), delay);
  }
}

function validateRotation(rotationSeconds: number): void {
  if (!Number.isInteger(rotationSeconds) || rotationSeconds < 1 || rotationSeconds > 86_400 * 7) {
    throw new RangeError(
      `Ticket rotation period ${rotationSeconds} s is not an integer in [1, 604800]`,
    );
  }
}
