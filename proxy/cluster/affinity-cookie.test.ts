import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import type { AffinityConfig } from "../config/types.ts";
import {
  AffinityCookieCodec,
  type AffinityCookieOptions,
  cookieHeadersOf,
  findCookieValues,
  SESSION_COOKIE_LIFETIME_SECONDS,
  serviceAffinityId,
} from "./affinity-cookie.ts";

const KEY = Buffer.alloc(32, 1);
const OLD_KEY = Buffer.alloc(32, 2);
const NOW = 1_800_000_000;
const TARGET = "5514dfbbc6483c7f";

function affinity(overrides: Partial<AffinityConfig> = {}): AffinityConfig {
  return {
    cookieName: "pin",
    path: "/",
    domain: null,
    sameSite: "Lax",
    secure: true,
    httpOnly: true,
    maxAgeSeconds: 3600,
    idleTimeoutSeconds: null,
    scope: "Endpoint",
    onEndpointLoss: "Repin",
    drainTimeoutSeconds: null,
    ...overrides,
  };
}

function codec(
  overrides: Partial<AffinityConfig> = {},
  options: Partial<AffinityCookieOptions> = {},
): AffinityCookieCodec {
  return new AffinityCookieCodec({
    cluster: "default/app:80",
    affinity: affinity(overrides),
    keys: [KEY],
    ...options,
  });
}

function cookieValue(setCookie: string): string {
  const match = /^pin=([^;]*);/.exec(setCookie);
  assert.ok(match, setCookie);
  return match[1] as string;
}

test("round trip: an issued cookie reads back valid with its content, and carries no address", () => {
  const c = codec();
  const { cookie, setCookie } = c.issue(TARGET, NOW);
  assert.deepEqual(cookie, {
    target: TARGET,
    issuedAt: NOW,
    expiresAt: NOW + 3600,
    lastSeen: NOW,
  });
  const value = cookieValue(setCookie);
  assert.match(value, /^[A-Za-z0-9_-]{50}$/);
  assert.ok(!value.includes(TARGET));
  assert.deepEqual(c.read(`pin=${value}`, NOW + 10), { kind: "valid", cookie });
  assert.deepEqual(c.decode(value), cookie);
});

test("Set-Cookie carries every attribute of the policy", () => {
  const full = codec({ domain: ".example.com", sameSite: "None", maxAgeSeconds: 600 });
  const value = cookieValue(full.issue(TARGET, NOW).setCookie);
  assert.equal(
    full.issue(TARGET, NOW).setCookie,
    `pin=${value}; Path=/; Domain=.example.com; Max-Age=600; SameSite=None; Secure; HttpOnly`,
  );
  const session = codec({
    path: "/app-1",
    sameSite: "Strict",
    secure: false,
    httpOnly: false,
    maxAgeSeconds: null,
  });
  const sessionCookie = session.issue(TARGET, NOW).setCookie;
  assert.equal(sessionCookie, `pin=${cookieValue(sessionCookie)}; Path=/app-1; SameSite=Strict`);
  assert.ok(!sessionCookie.includes("Max-Age"));
});

test("tampered cookies are refused: a flipped bit anywhere, truncation, extension, other encodings", () => {
  const c = codec();
  const value = cookieValue(c.issue(TARGET, NOW).setCookie);
  const bytes = Buffer.from(value, "base64url");
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = Buffer.from(bytes);
    flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
    const forged = flipped.toString("base64url");
    assert.equal(c.decode(forged), undefined, `bit ${bit}`);
    assert.deepEqual(c.read(`pin=${forged}`, NOW), { kind: "invalid", reason: "signature" });
  }
  assert.deepEqual(c.read(`pin=${value.slice(0, -1)}`, NOW), {
    kind: "invalid",
    reason: "malformed",
  });
  assert.deepEqual(c.read(`pin=${value}A`, NOW), { kind: "invalid", reason: "malformed" });
  assert.deepEqual(c.read("pin=", NOW), { kind: "invalid", reason: "malformed" });
  // The same bytes in standard base64 (or with padding) are not our spelling.
  assert.equal(c.decode(bytes.toString("base64")), undefined);
  // Base64's spare bits: the last character has 4 unused bits; another spelling of the same bytes is refused.
  const last = value.at(-1) as string;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
  assert.equal(c.decode(value.slice(0, -1) + sibling), undefined);
});

test("a cookie signed with another key, or for another cluster or scope, is refused", () => {
  const value = cookieValue(codec().issue(TARGET, NOW).setCookie);
  assert.equal(codec({}, { keys: [OLD_KEY] }).decode(value), undefined);
  assert.equal(codec({}, { cluster: "default/other:80" }).decode(value), undefined);
  assert.equal(codec({ scope: "Service" }).decode(value), undefined);
  assert.deepEqual(codec({}, { cluster: "default/other:80" }).read(`pin=${value}`, NOW), {
    kind: "invalid",
    reason: "signature",
  });
});

test("key rotation: the first key signs, every key verifies", () => {
  const before = codec({}, { keys: [OLD_KEY] });
  const after = codec({}, { keys: [KEY, OLD_KEY] });
  const old = cookieValue(before.issue(TARGET, NOW).setCookie);
  assert.equal(after.read(`pin=${old}`, NOW).kind, "valid");
  const fresh = cookieValue(after.issue(TARGET, NOW).setCookie);
  assert.equal(codec({}, { keys: [KEY] }).read(`pin=${fresh}`, NOW).kind, "valid");
  assert.equal(before.read(`pin=${fresh}`, NOW).kind, "invalid");
});

test("expiry is enforced from the signed value, including for session cookies", () => {
  const c = codec({ maxAgeSeconds: 60 });
  const value = cookieValue(c.issue(TARGET, NOW).setCookie);
  assert.equal(c.read(`pin=${value}`, NOW + 59).kind, "valid");
  assert.deepEqual(c.read(`pin=${value}`, NOW + 60), { kind: "invalid", reason: "expired" });
  const session = codec({ maxAgeSeconds: null });
  const { cookie, setCookie } = session.issue(TARGET, NOW);
  assert.equal(cookie.expiresAt, NOW + SESSION_COOKIE_LIFETIME_SECONDS);
  const sessionValue = cookieValue(setCookie);
  assert.equal(session.read(`pin=${sessionValue}`, NOW + 86399).kind, "valid");
  assert.deepEqual(session.read(`pin=${sessionValue}`, NOW + 86400), {
    kind: "invalid",
    reason: "expired",
  });
});

test("a shorter Max-Age in the current policy shortens cookies issued under a longer one", () => {
  const long = codec({ maxAgeSeconds: 3600 });
  const value = cookieValue(long.issue(TARGET, NOW).setCookie);
  const short = codec({ maxAgeSeconds: 60 });
  assert.deepEqual(short.read(`pin=${value}`, NOW + 61), { kind: "invalid", reason: "expired" });
});

test("a cookie from the future (beyond clock skew) is refused", () => {
  const c = codec();
  const value = cookieValue(c.issue(TARGET, NOW + 3000).setCookie);
  assert.deepEqual(c.read(`pin=${value}`, NOW), { kind: "invalid", reason: "future" });
  assert.equal(c.read(`pin=${value}`, NOW + 2800).kind, "valid");
});

test("idle timeout: enforced from lastSeen, refreshed at most once a minute", () => {
  const c = codec({ idleTimeoutSeconds: 600, maxAgeSeconds: 3600 });
  const { cookie, setCookie } = c.issue(TARGET, NOW);
  const value = cookieValue(setCookie);
  assert.equal(c.read(`pin=${value}`, NOW + 600).kind, "valid");
  assert.deepEqual(c.read(`pin=${value}`, NOW + 601), { kind: "invalid", reason: "idle" });
  // No refresh within the first minute, one after it.
  assert.equal(c.refresh(cookie, NOW + 59), undefined);
  const refreshed = c.refresh(cookie, NOW + 60);
  assert.ok(refreshed);
  const read = c.read(`pin=${cookieValue(refreshed)}`, NOW + 60);
  assert.deepEqual(read, {
    kind: "valid",
    cookie: { target: TARGET, issuedAt: NOW, expiresAt: NOW + 3600, lastSeen: NOW + 60 },
  });
  // Max-Age counts down to the same end: a refresh never extends the pin.
  assert.match(refreshed, /; Max-Age=3540;/);
  // The refreshed cookie outlives the original's idle limit.
  assert.equal(c.read(`pin=${cookieValue(refreshed)}`, NOW + 650).kind, "valid");
});

test("idle timeouts under two minutes refresh at half the timeout", () => {
  const c = codec({ idleTimeoutSeconds: 30 });
  const { cookie } = c.issue(TARGET, NOW);
  assert.equal(c.refresh(cookie, NOW + 14), undefined);
  assert.ok(c.refresh(cookie, NOW + 15));
  assert.equal(codec().refresh(cookie, NOW + 100_000), undefined, "no idle limit, no refresh");
});

test("Cookie headers are parsed tolerantly: other cookies, spaces, quotes, several headers", () => {
  assert.deepEqual(findCookieValues("a=1; pin=x; b=2", "pin"), ["x"]);
  assert.deepEqual(findCookieValues("pin=x;pin=y", "pin"), ["x", "y"]);
  assert.deepEqual(findCookieValues('  pin="x" ;', "pin"), ["x"]);
  assert.deepEqual(findCookieValues("xpin=1; pinx=2; pin", "pin"), []);
  assert.deepEqual(findCookieValues(["a=1", "pin=z"], "pin"), ["z"]);
  assert.deepEqual(findCookieValues(undefined, "pin"), []);
  assert.deepEqual(findCookieValues("PIN=x", "pin"), [], "cookie names are case-sensitive");
  const many = Array.from({ length: 100 }, (_, i) => `pin=${i}`).join("; ");
  assert.equal(findCookieValues(many, "pin").length, 4, "bounded");
});

test("several cookies of our name: the first valid one wins", () => {
  const c = codec();
  const { cookie, setCookie } = c.issue(TARGET, NOW);
  const value = cookieValue(setCookie);
  const other = cookieValue(c.issue("0000000000000001", NOW).setCookie);
  assert.deepEqual(c.read(`pin=garbage; pin=${value}; pin=${other}`, NOW), {
    kind: "valid",
    cookie,
  });
  assert.deepEqual(c.read(["x=1", `pin=${value}`], NOW), { kind: "valid", cookie });
  assert.deepEqual(c.read("other=1", NOW), { kind: "absent" });
  assert.deepEqual(c.read(undefined, NOW), { kind: "absent" });
});

test("serviceAffinityId is the first 8 bytes of sha256(namespace/name)", () => {
  const expected = createHash("sha256").update("default/app-1").digest("hex").slice(0, 16);
  assert.equal(serviceAffinityId("default/app-1"), expected);
  assert.match(serviceAffinityId("x/y"), /^[0-9a-f]{16}$/);
});

test("settings that could break the Set-Cookie header are refused", () => {
  assert.throws(() => codec({ cookieName: "a b" }));
  assert.throws(() => codec({ path: "/a;Domain=evil" }));
  assert.throws(() => codec({ path: "/a\r\nX: y" }));
  assert.throws(() => codec({ domain: "a.com; Secure" }));
  assert.throws(() => codec({}, { keys: [] }));
  assert.throws(() => codec().issue("not-hex", NOW));
});

test("property: reading arbitrary Cookie headers never throws and never accepts a forgery", () => {
  const c = codec();
  const valid = cookieValue(c.issue(TARGET, NOW).setCookie);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((s) => `pin=${s}`),
        fc.string({ unit: fc.constantFrom(..."ABCabc019-_=;+/ ") }).map((s) => `pin=${s}`),
        fc.array(fc.string(), { maxLength: 3 }),
      ),
      fc.integer({ min: 0, max: 0xffffffff }),
      (header, now) => {
        const reading = c.read(header, now);
        if (reading.kind === "valid") {
          // Only our one genuine value could verify; random strings never do.
          const headers = Array.isArray(header) ? header : [header];
          assert.ok(headers.some((h) => h.includes(valid)));
        }
        c.decode(Array.isArray(header) ? header.join("") : header);
      },
    ),
    { numRuns: 3000 },
  );
});

test("cookieHeadersOf: every Cookie field of a raw header list, whatever its case, and nothing else", () => {
  assert.equal(cookieHeadersOf([]), undefined);
  assert.equal(cookieHeadersOf(["Host", "a", "Cookies", "x=1", "Set-Cookie", "y=2"]), undefined);
  assert.equal(cookieHeadersOf(["Host", "a", "Cookie", "s=1; t=2"]), "s=1; t=2");
  assert.deepEqual(
    cookieHeadersOf(["cookie", "s=1", "Host", "a", "COOKIE", "t=2", "cookie", "u=3"]),
    ["s=1", "t=2", "u=3"],
  );
  // Read as Node joins them for req.headers.cookie ("; "): the same values, in order.
  const raw = ["cookie", "a=1; s=first", "cookie", "s=second"];
  assert.deepEqual(findCookieValues(cookieHeadersOf(raw), "s"), ["first", "second"]);
  assert.deepEqual(findCookieValues("a=1; s=first; s=second", "s"), ["first", "second"]);
});
