import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_HTTPS_LIMITS, resolveHttpsLimits } from "./limits.ts";

test("overrides replace defaults; undefined keeps them", () => {
  const limits = resolveHttpsLimits({ maxHeaderCount: 50, handshakeTimeoutMs: undefined });
  assert.equal(limits.maxHeaderCount, 50);
  assert.equal(limits.handshakeTimeoutMs, DEFAULT_HTTPS_LIMITS.handshakeTimeoutMs);
  assert.equal(resolveHttpsLimits().maxConcurrentStreams, 100);
});

test("limits no listener should run with are refused", () => {
  assert.throws(() => resolveHttpsLimits({ maxConcurrentStreams: 101 }), /exceeds 100/);
  assert.throws(() => resolveHttpsLimits({ maxHeaderBytes: 0 }), /positive integer/);
  assert.throws(() => resolveHttpsLimits({ requestTimeoutMs: 1.5 }), /positive integer/);
  assert.throws(
    () => resolveHttpsLimits({ headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 }),
    /headersTimeoutMs/,
  );
});
