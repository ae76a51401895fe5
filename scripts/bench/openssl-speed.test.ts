import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseSpeedAead, parseSpeedAsymmetric } from "./openssl-speed.ts";

const sample = (name: string): string =>
  readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

test("openssl speed: RSA-2048 and ECDSA P-256 sign/verify per second, X25519 op/s", () => {
  assert.deepEqual(parseSpeedAsymmetric(sample("openssl-speed-asymmetric.txt")), {
    rsa2048SignPerSecond: 1023.6,
    rsa2048VerifyPerSecond: 35266,
    ecdsaP256SignPerSecond: 28670.3,
    ecdsaP256VerifyPerSecond: 9764,
    x25519PerSecond: 21641.7,
  });
});

test("openssl speed: missing algorithms are simply absent", () => {
  assert.deepEqual(parseSpeedAsymmetric("version: 3.0.19\n"), {});
});

test("openssl speed -bytes 16384 -evp: bytes per second of the one column", () => {
  assert.equal(
    parseSpeedAead(sample("openssl-speed-aead.txt"), "AES-128-GCM", 16384),
    3060903.56 * 1000,
  );
});

test("openssl speed -evp with every size: the 16 KiB column, not the last or the first", () => {
  const text = sample("openssl-speed-aead-all-sizes.txt");
  assert.equal(parseSpeedAead(text, "AES-128-GCM", 16384), 3066445.82 * 1000);
  assert.equal(parseSpeedAead(text, "AES-128-GCM", 16), 32899.58 * 1000);
  assert.equal(parseSpeedAead(text, "AES-256-GCM", 16384), undefined);
  assert.equal(parseSpeedAead(text, "AES-128-GCM", 4096), undefined);
});
