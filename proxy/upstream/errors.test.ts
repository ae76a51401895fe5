import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { errors } from "undici";
import {
  classifyUpstreamError,
  isIdempotent,
  mayRetry,
  PROXY_ERRORS,
  ProxyError,
} from "./errors.ts";

const errno = (code: string): Error => Object.assign(new Error(code), { code });

describe("the catalogue", () => {
  test("codes carry their status, retryability and metrics label", () => {
    const error = new ProxyError("PC_UPSTREAM_CONNECT", "ECONNREFUSED");
    assert.equal(error.code, "PC_UPSTREAM_CONNECT");
    assert.equal(error.status, 502);
    assert.equal(error.retryable, true);
    assert.equal(error.failure, "connect");
    assert.equal(error.message, "could not connect to the backend: ECONNREFUSED");
    assert.equal(new ProxyError("PC_BODY_TOO_LARGE").status, 413);
    assert.equal(new ProxyError("PC_UPSTREAM_TIMEOUT").status, 504);
    assert.equal(new ProxyError("PC_BAD_REQUEST").status, 400);
    // Only connect-phase failures are retryable.
    const retryable = Object.entries(PROXY_ERRORS)
      .filter(([, spec]) => spec.retryable)
      .map(([code]) => code)
      .sort();
    assert.deepEqual(retryable, [
      "PC_UPSTREAM_CONNECT",
      "PC_UPSTREAM_CONNECT_TIMEOUT",
      "PC_UPSTREAM_TLS",
    ]);
  });

  test("mayRetry: connect-phase, nothing sent, idempotent method", () => {
    const refused = new ProxyError("PC_UPSTREAM_CONNECT");
    for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]) {
      assert.equal(isIdempotent(method), true);
      assert.equal(mayRetry(refused, method, false), true, method);
    }
    for (const method of ["POST", "PATCH", "CONNECT", "get"])
      assert.equal(mayRetry(refused, method, false), false, method);
    assert.equal(mayRetry(refused, "GET", true), false);
    assert.equal(mayRetry(new ProxyError("PC_UPSTREAM_RESET"), "GET", false), false);
    assert.equal(mayRetry(new ProxyError("PC_UPSTREAM_TIMEOUT"), "GET", false), false);
  });
});

describe("classifyUpstreamError", () => {
  const cases: [unknown, boolean, string][] = [
    [errno("ECONNREFUSED"), false, "PC_UPSTREAM_CONNECT"],
    [errno("EHOSTUNREACH"), false, "PC_UPSTREAM_CONNECT"],
    [errno("ECONNRESET"), false, "PC_UPSTREAM_CONNECT"],
    [errno("ECONNRESET"), true, "PC_UPSTREAM_RESET"],
    [new errors.SocketError("other side closed"), true, "PC_UPSTREAM_RESET"],
    [new errors.ClientClosedError(), false, "PC_UPSTREAM_CONNECT"],
    [new errors.ConnectTimeoutError(), false, "PC_UPSTREAM_CONNECT_TIMEOUT"],
    [new errors.HeadersTimeoutError(), true, "PC_UPSTREAM_TIMEOUT"],
    [new errors.BodyTimeoutError(), true, "PC_UPSTREAM_TIMEOUT"],
    [new errors.HeadersOverflowError(), true, "PC_UPSTREAM_PROTOCOL"],
    [errno("HPE_INVALID_CONSTANT"), true, "PC_UPSTREAM_PROTOCOL"],
    [errno("ERR_TLS_CERT_ALTNAME_INVALID"), false, "PC_UPSTREAM_TLS"],
    [errno("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), false, "PC_UPSTREAM_TLS"],
    [errno("ERR_SSL_WRONG_VERSION_NUMBER"), false, "PC_UPSTREAM_TLS"],
    [new errors.InvalidArgumentError("invalid header"), false, "PC_BAD_REQUEST"],
    [new errors.RequestAbortedError(), true, "PC_CLIENT_ABORTED"],
    [new Error("no code"), true, "PC_UPSTREAM_RESET"],
    ["not even an error", false, "PC_UPSTREAM_CONNECT"],
  ];
  for (const [error, started, expected] of cases) {
    test(`${(error as { code?: string }).code ?? String(error)} (request ${started ? "started" : "not started"}) → ${expected}`, () => {
      const classified = classifyUpstreamError(error, started);
      assert.equal(classified.code, expected);
      assert.equal(classified.cause, error);
    });
  }

  test("a ProxyError passes through unchanged", () => {
    const error = new ProxyError("PC_BODY_TOO_LARGE");
    assert.equal(classifyUpstreamError(error, true), error);
  });
});
