// The crypto ceiling of the proxy core: `openssl speed` pinned to it, for the signatures of the two
// certificates, the X25519 key exchange every full handshake does, and the AEAD the connections
// negotiate (AES-128-GCM on 16 KiB records). openssl speed counts per CPU-second of its own process,
// so the figures hold on a busy machine; they are the system OpenSSL's (nginx's and HAProxy's),
// Node's bundled OpenSSL may differ a little.
import { runPinned } from "./processes.ts";

/** What the ceiling runs measured, per CPU-second. */
export interface CryptoCeiling {
  ecdsaP256SignPerSecond: number;
  ecdsaP256VerifyPerSecond: number;
  rsa2048SignPerSecond: number;
  rsa2048VerifyPerSecond: number;
  x25519PerSecond: number;
  /** AES-128-GCM on 16 KiB buffers, bytes per second. */
  aes128Gcm16KiBBytesPerSecond: number;
}

/** Parses `openssl speed ecdsap256 rsa2048 ecdhx25519` (OpenSSL 3.0 layout) — any subset present. */
export function parseSpeedAsymmetric(text: string): Partial<CryptoCeiling> {
  const out: Partial<CryptoCeiling> = {};
  const rsa = /^rsa 2048 bits\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)/m.exec(text);
  if (rsa) {
    out.rsa2048SignPerSecond = Number(rsa[1]);
    out.rsa2048VerifyPerSecond = Number(rsa[2]);
  }
  const ecdsa = /^\s*256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)/m.exec(text);
  if (ecdsa) {
    out.ecdsaP256SignPerSecond = Number(ecdsa[1]);
    out.ecdsaP256VerifyPerSecond = Number(ecdsa[2]);
  }
  const x25519 = /^\s*253 bits ecdh \(X25519\)\s+\S+s\s+([\d.]+)/m.exec(text);
  if (x25519) out.x25519PerSecond = Number(x25519[1]);
  return out;
}

/**
 * Parses `openssl speed -bytes N -evp CIPHER`: the figure in the column for `bytes`, which OpenSSL
 * prints in 1000s of bytes per second ("3060903.56k"). Returns bytes per second, or undefined.
 */
export function parseSpeedAead(text: string, cipher: string, bytes: number): number | undefined {
  const header = /^type\s+(.*)$/m.exec(text);
  if (!header) return undefined;
  const sizes = [...(header[1] as string).matchAll(/(\d+) bytes/g)].map((m) => Number(m[1]));
  const column = sizes.indexOf(bytes);
  if (column < 0) return undefined;
  const escaped = cipher.replace(/[-/\\^$*+?.()|[\]{}]/g, "\\$&");
  const row = new RegExp(`^${escaped}\\s+(.*)$`, "mi").exec(text);
  if (!row) return undefined;
  const value = (row[1] as string).trim().split(/\s+/)[column];
  if (value === undefined || !value.endsWith("k")) return undefined;
  return Number(value.slice(0, -1)) * 1000;
}

/** Runs the ceiling measurements pinned to `core` (about 6 × `seconds` + AEAD `seconds`). */
export async function measureCryptoCeiling(core: number, seconds: number): Promise<CryptoCeiling> {
  const timeoutMs = seconds * 10_000 + 30_000;
  const asymmetric = await runPinned(
    "openssl speed",
    core,
    "openssl",
    ["speed", "-seconds", String(seconds), "ecdsap256", "rsa2048", "ecdhx25519"],
    timeoutMs,
  );
  const aead = await runPinned(
    "openssl speed",
    core,
    "openssl",
    ["speed", "-seconds", String(seconds), "-bytes", "16384", "-evp", "aes-128-gcm"],
    timeoutMs,
  );
  const parsed = parseSpeedAsymmetric(asymmetric.stdout);
  const aes = parseSpeedAead(aead.stdout, "AES-128-GCM", 16384);
  const missing = (
    [
      "ecdsaP256SignPerSecond",
      "rsa2048SignPerSecond",
      "x25519PerSecond",
    ] as const satisfies readonly (keyof CryptoCeiling)[]
  ).filter((k) => parsed[k] === undefined);
  if (missing.length > 0 || aes === undefined) {
    throw new Error(
      `unrecognised openssl speed output (${[...missing, aes === undefined ? "aes" : ""].join(" ")}):\n${asymmetric.stdout}\n${aead.stdout}`,
    );
  }
  return {
    ecdsaP256SignPerSecond: parsed.ecdsaP256SignPerSecond ?? Number.NaN,
    ecdsaP256VerifyPerSecond: parsed.ecdsaP256VerifyPerSecond ?? Number.NaN,
    rsa2048SignPerSecond: parsed.rsa2048SignPerSecond ?? Number.NaN,
    rsa2048VerifyPerSecond: parsed.rsa2048VerifyPerSecond ?? Number.NaN,
    x25519PerSecond: parsed.x25519PerSecond ?? Number.NaN,
    aes128Gcm16KiBBytesPerSecond: aes,
  };
}
