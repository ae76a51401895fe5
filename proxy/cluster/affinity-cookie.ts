// The affinity cookie: an opaque, signed value that pins a client to an endpoint (or a Service), and
// that every replica honours identically because they share the signing keys. It carries an id, never
// an address, and its own timestamps, so expiry and idle time are enforced here, on the server, whatever
// the browser does with Max-Age.
//
// Value (base64url, no padding, 50 characters):
//   version (1 byte, = 1) | target id (8 bytes) | issuedAt | expiresAt | lastSeen (u32 Unix seconds each)
//   | tag: HMAC-SHA256(key, context | those 21 bytes), truncated to 16 bytes
// The context binds the value to one cluster and one scope, so a cookie issued for another cluster (or
// for a Service where this cluster pins endpoints) fails verification instead of being misread.
import { createHash, timingSafeEqual } from "node:crypto";
import type { AffinityConfig } from "../config/types.ts";
import { FixedContextHmac } from "./hmac.ts";

/** The only value format this code issues and accepts. */
export const AFFINITY_COOKIE_VERSION = 1;
/** Lifetime the server enforces for session cookies (maxAgeSeconds null): browsers may keep those for weeks. */
export const SESSION_COOKIE_LIFETIME_SECONDS = 24 * 60 * 60;
/** Longest time between two refreshes of an idle-limited cookie, so an active user gets at most one Set-Cookie a minute. */
export const MAX_REFRESH_INTERVAL_SECONDS = 60;
/** How far in the future a timestamp may be (replicas' clocks differ a little) before the cookie is refused. */
export const CLOCK_SKEW_SECONDS = 300;
/** How many cookies of our name one request may make us verify (each costs an HMAC). */
export const MAX_COOKIE_CANDIDATES = 4;

/** Entries in each of a codec's two caches (verified and issued values): ~200 KB each when full. */
const CODEC_CACHE_ENTRIES = 1024;
const PAYLOAD_BYTES = 21;
const TAG_BYTES = 16;
const VALUE_BYTES = PAYLOAD_BYTES + TAG_BYTES;
/** base64url length of VALUE_BYTES without padding. */
const VALUE_LENGTH = Math.ceil((VALUE_BYTES * 4) / 3);
const TARGET_PATTERN = /^[0-9a-f]{16}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** RFC 6265 cookie-name (an RFC 7230 token), as the policy CRD allows. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Attribute values must not be able to end the attribute or the header. */
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]*$/;
const U32_MAX = 0xffffffff;

/** The signed content of an affinity cookie. Times are Unix seconds. */
export interface AffinityCookie {
  /** 16 hex characters: an endpoint id (scope Endpoint) or `serviceAffinityId` (scope Service). */
  target: string;
  /** When the pin was made. */
  issuedAt: number;
  /** When the pin ends (issuedAt + Max-Age, or + 24 h for a session cookie). */
  expiresAt: number;
  /** Last time a refresh was issued (the idle timeout counts from here). */
  lastSeen: number;
}

/** Why a cookie of our name was not honoured. */
export type InvalidCookieReason = "malformed" | "signature" | "expired" | "idle" | "future";

/** What a request's Cookie header(s) said about this cluster's affinity. */
export type CookieReading =
  | { kind: "absent" }
  | { kind: "invalid"; reason: InvalidCookieReason }
  | { kind: "valid"; cookie: AffinityCookie };

/**
 * The stable 16-hex-character id that a Service-scoped cookie carries: the first 8 bytes of
 * sha256("namespace/name"). Same Service, same id, on every replica and across config versions.
 */
export function serviceAffinityId(service: string): string {
  return createHash("sha256").update(service).digest().subarray(0, 8).toString("hex");
}

/**
 * The Cookie field values in a request's raw header list: undefined, one string, or several (an HTTP/1
 * client may send several Cookie lines, and HTTP/2 may split cookies into one field each, RFC 9113
 * §8.2.3). Read from the raw list because `req.headers` is built lazily by Node, every header of the
 * request at once, and the request path needs nothing else from it.
 */
export function cookieHeadersOf(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 6 || name.toLowerCase() !== "cookie") continue;
    const value = rawHeaders[i + 1] as string;
    if (found === undefined) found = value;
    else if (typeof found === "string") found = [found, value];
    else found.push(value);
  }
  return found;
}

/**
 * The values of the cookies named `name` in Cookie header(s), in order, at most `limit` of them.
 * Tolerant (whitespace around pairs, quoted values, pairs without "=") but bounded: one pass, and
 * other cookies are skipped without being parsed or copied.
 */
export function findCookieValues(
  header: string | readonly string[] | undefined,
  name: string,
  limit = MAX_COOKIE_CANDIDATES,
): string[] {
  const found: string[] = [];
  if (header === undefined) return found;
  if (typeof header === "string") {
    scanCookieHeader(header, name, found, limit);
  } else {
    for (const line of header) {
      if (found.length >= limit) break;
      scanCookieHeader(line, name, found, limit);
    }
  }
  return found;
}

function scanCookieHeader(header: string, name: string, found: string[], limit: number): void {
  const length = header.length;
  let position = 0;
  while (position < length && found.length < limit) {
    while (position < length && (header[position] === " " || header[position] === "\t")) {
      position++;
    }
    let end = header.indexOf(";", position);
    if (end === -1) end = length;
    const equals = position + name.length;
    if (equals < end && header.charCodeAt(equals) === 0x3d && header.startsWith(name, position)) {
      let value = header.slice(equals + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      found.push(value);
    }
    position = end + 1;
  }
}

/** Construction options of an AffinityCookieCodec. */
export interface AffinityCookieOptions {
  /** Name of the cluster the cookies belong to (part of what the tag signs). */
  cluster: string;
  /** The cluster's affinity settings. */
  affinity: AffinityConfig;
  /** Shared HMAC keys: the first signs, every one verifies (so the key can rotate without losing pins). */
  keys: readonly Buffer[];
}

/**
 * Encodes, verifies and renders one cluster's affinity cookies. Pure apart from HMAC computation; the
 * caller passes the current time, so every rule here is testable with a fixed clock.
 */
export class AffinityCookieCodec {
  /** The cookie name looked for and set. */
  readonly name: string;
  /** One HMAC per shared key, in order: the first signs, all verify. */
  readonly #macs: readonly FixedContextHmac[];
  /** Lifetime enforced from issuedAt, whatever expiresAt a (possibly older) cookie says. */
  readonly #lifetime: number;
  readonly #idleTimeout: number | null;
  readonly #refreshInterval: number;
  readonly #setsMaxAge: boolean;
  /** Set-Cookie text after the value and before Max-Age: "; Path=…[; Domain=…]". */
  /** The configured Path, or null: then each Set-Cookie carries the path of the matched route. */
  readonly #path: string | null;
  readonly #domainAttribute: string;
  /** Set-Cookie text after Max-Age: "; SameSite=…[; Secure][; HttpOnly]". */
  readonly #flagAttributes: string;
  // An HMAC costs microseconds, and a pinned client sends the same value on every request, while
  // cookie-less clients in the same second get the same new value: both results are cached (bounded).
  readonly #verified = new BoundedCache<Readonly<AffinityCookie>>(CODEC_CACHE_ENTRIES);
  readonly #encoded = new BoundedCache<string>(CODEC_CACHE_ENTRIES);

  /**
   * Checks the settings and precomputes the signing context and the Set-Cookie attributes. Throws on
   * an empty key list or attribute values that could break out of the Set-Cookie header (the compiler's
   * schema forbids both, so this only guards the contract).
   */
  constructor(options: AffinityCookieOptions) {
    const { affinity, keys, cluster } = options;
    if (keys.length === 0 || keys.some((key) => key.length === 0)) {
      throw new Error(`cluster ${cluster}: affinity needs at least one non-empty signing key`);
    }
    if (!COOKIE_NAME.test(affinity.cookieName)) {
      throw new Error(`cluster ${cluster}: invalid affinity cookie name`);
    }
    if (affinity.path !== null && !isCookiePath(affinity.path)) {
      throw new Error(`cluster ${cluster}: invalid affinity cookie path`);
    }
    if (affinity.domain !== null && !ATTRIBUTE_VALUE.test(affinity.domain)) {
      throw new Error(`cluster ${cluster}: invalid affinity cookie domain`);
    }
    this.name = affinity.cookieName;
    const context = Buffer.from(`portcullis-affinity\0${cluster}\0${affinity.scope}\0`, "utf8");
    this.#macs = keys.map((key) => new FixedContextHmac(key, context, PAYLOAD_BYTES));
    this.#lifetime = affinity.maxAgeSeconds ?? SESSION_COOKIE_LIFETIME_SECONDS;
    this.#idleTimeout = affinity.idleTimeoutSeconds;
    // Refresh at most once a minute, but often enough that an active user never idles out.
    this.#refreshInterval =
      affinity.idleTimeoutSeconds === null
        ? Number.POSITIVE_INFINITY
        : Math.max(
            1,
            Math.min(MAX_REFRESH_INTERVAL_SECONDS, Math.floor(affinity.idleTimeoutSeconds / 2)),
          );
    this.#setsMaxAge = affinity.maxAgeSeconds !== null;
    const domain = affinity.domain === null ? "" : `; Domain=${affinity.domain}`;
    this.#path = affinity.path;
    this.#domainAttribute = domain;
    this.#flagAttributes =
      `; SameSite=${affinity.sameSite}` +
      (affinity.secure ? "; Secure" : "") +
      (affinity.httpOnly ? "; HttpOnly" : "");
  }

  /**
   * The cookie value for `cookie`, signed with the first key. Times are clamped to u32. Throws when the
   * target is not 16 hex characters (a programming error: ids come from the config, which the schema checks).
   */
  encode(cookie: AffinityCookie): string {
    const key = `${cookie.target}.${cookie.issuedAt}.${cookie.expiresAt}.${cookie.lastSeen}`;
    const cached = this.#encoded.get(key);
    if (cached !== undefined) return cached;
    const value = this.#encode(cookie);
    this.#encoded.set(key, value);
    return value;
  }

  #encode(cookie: AffinityCookie): string {
    if (!TARGET_PATTERN.test(cookie.target)) {
      throw new Error(`invalid affinity target id "${cookie.target}"`);
    }
    const value = Buffer.alloc(VALUE_BYTES);
    value[0] = AFFINITY_COOKIE_VERSION;
    value.write(cookie.target, 1, 8, "hex");
    value.writeUInt32BE(clampU32(cookie.issuedAt), 9);
    value.writeUInt32BE(clampU32(cookie.expiresAt), 13);
    value.writeUInt32BE(clampU32(cookie.lastSeen), 17);
    this.#tag(this.#macs[0] as FixedContextHmac, value.subarray(0, PAYLOAD_BYTES)).copy(
      value,
      PAYLOAD_BYTES,
    );
    return value.toString("base64url");
  }

  /**
   * The content of a cookie value if it is well-formed, of our version, and its tag verifies with one
   * of the keys (compared in constant time); undefined otherwise. Says nothing about expiry. Never throws.
   */
  decode(value: string): AffinityCookie | undefined {
    const cached = this.#verified.get(value);
    if (cached !== undefined) return cached;
    const cookie = this.#decode(value);
    // Only values that verified are cached: forgeries cannot fill the cache or evict genuine entries
    // any faster than requests without a cookie could (each costs an HMAC either way).
    if (cookie !== undefined) this.#verified.set(value, cookie);
    return cookie;
  }

  #decode(value: string): AffinityCookie | undefined {
    if (value.length !== VALUE_LENGTH || !BASE64URL.test(value)) return undefined;
    const bytes = Buffer.from(value, "base64url");
    // Base64 has spare bits in its last character; insisting on the canonical spelling means one value
    // has exactly one spelling, so no variant of a valid cookie also verifies.
    if (bytes.length !== VALUE_BYTES || bytes.toString("base64url") !== value) return undefined;
    if (bytes[0] !== AFFINITY_COOKIE_VERSION) return undefined;
    const payload = bytes.subarray(0, PAYLOAD_BYTES);
    const tag = bytes.subarray(PAYLOAD_BYTES);
    let verified = false;
    for (const mac of this.#macs) {
      // Every key is tried even after a match, so timing does not reveal which key signed.
      if (timingSafeEqual(this.#tag(mac, payload), tag)) verified = true;
    }
    if (!verified) return undefined;
    return Object.freeze({
      target: bytes.toString("hex", 1, 9),
      issuedAt: bytes.readUInt32BE(9),
      expiresAt: bytes.readUInt32BE(13),
      lastSeen: bytes.readUInt32BE(17),
    });
  }

  /**
   * Reads this cluster's cookie from the request's Cookie header(s) at `now` (Unix seconds): the first
   * candidate that verifies and is neither expired nor idle wins; otherwise the first candidate's
   * problem is reported. Never throws.
   */
  read(header: string | readonly string[] | undefined, now: number): CookieReading {
    const candidates = findCookieValues(header, this.name);
    let firstProblem: InvalidCookieReason | undefined;
    for (const value of candidates) {
      const cookie = this.decode(value);
      const problem =
        cookie === undefined ? this.#formatProblem(value) : this.#timeProblem(cookie, now);
      if (problem === undefined && cookie !== undefined) return { kind: "valid", cookie };
      firstProblem ??= problem;
    }
    return firstProblem === undefined
      ? { kind: "absent" }
      : { kind: "invalid", reason: firstProblem };
  }

  /** A fresh pin on `target` (16 hex characters) at `now` (Unix seconds), with its Set-Cookie header value. */
  issue(
    target: string,
    now: number,
    routePath = "/",
  ): { cookie: AffinityCookie; setCookie: string } {
    const cookie: AffinityCookie = {
      target,
      issuedAt: now,
      expiresAt: now + this.#lifetime,
      lastSeen: now,
    };
    return { cookie, setCookie: this.#render(cookie, now, routePath) };
  }

  /**
   * The Set-Cookie header value that refreshes a valid cookie's lastSeen, or undefined when no refresh
   * is due: only idle-limited cookies are refreshed, and at most once per refresh interval (a minute,
   * or half the idle timeout if that is shorter). issuedAt and expiresAt are kept, so a refresh never
   * extends the pin's lifetime; Max-Age counts down to the same end.
   */
  refresh(cookie: AffinityCookie, now: number, routePath = "/"): string | undefined {
    if (now - cookie.lastSeen < this.#refreshInterval) return undefined;
    return this.#render({ ...cookie, lastSeen: now }, now, routePath);
  }

  /** The Set-Cookie header value for a cookie value, with every attribute the policy asks for. */
  renderSetCookie(value: string, maxAgeSeconds: number | undefined, routePath = "/"): string {
    const maxAge = maxAgeSeconds === undefined ? "" : `; Max-Age=${maxAgeSeconds}`;
    const path = this.#path ?? (isCookiePath(routePath) ? routePath : "/");
    return `${this.name}=${value}; Path=${path}${this.#domainAttribute}${maxAge}${this.#flagAttributes}`;
  }

  #render(cookie: AffinityCookie, now: number, routePath: string): string {
    const maxAge = this.#setsMaxAge ? Math.max(1, this.#expiry(cookie) - now) : undefined;
    return this.renderSetCookie(this.encode(cookie), maxAge, routePath);
  }

  /** When a cookie really ends: its own expiry, but never later than the lifetime configured now. */
  #expiry(cookie: AffinityCookie): number {
    return Math.min(cookie.expiresAt, cookie.issuedAt + this.#lifetime);
  }

  #timeProblem(cookie: AffinityCookie, now: number): InvalidCookieReason | undefined {
    if (cookie.issuedAt > now + CLOCK_SKEW_SECONDS || cookie.lastSeen > now + CLOCK_SKEW_SECONDS) {
      return "future";
    }
    if (now >= this.#expiry(cookie)) return "expired";
    if (this.#idleTimeout !== null && now - cookie.lastSeen > this.#idleTimeout) return "idle";
    return undefined;
  }

  #formatProblem(value: string): InvalidCookieReason {
    return value.length === VALUE_LENGTH && BASE64URL.test(value) ? "signature" : "malformed";
  }

  #tag(mac: FixedContextHmac, payload: Buffer): Buffer {
    return mac.digest(payload).subarray(0, TAG_BYTES);
  }
}

/**
 * A string-keyed cache that forgets its oldest entry when full (insertion order). FIFO rather than LRU:
 * cheaper, and a popular value evicted is simply verified again.
 */
class BoundedCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }
}

function clampU32(seconds: number): number {
  return Math.min(U32_MAX, Math.max(0, Math.floor(seconds)));
}

/** Whether a path can be a cookie Path attribute as is (absolute, no separators or controls). */
function isCookiePath(path: string): boolean {
  return path.startsWith("/") && ATTRIBUTE_VALUE.test(path);
}
