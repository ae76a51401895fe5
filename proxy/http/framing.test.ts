import assert from "node:assert/strict";
import { test } from "node:test";
import { validateFraming } from "./framing.ts";

const h = (rawHeaders: string[], major = 1, minor = 1) =>
  validateFraming({ rawHeaders, httpVersionMajor: major, httpVersionMinor: minor });

test("HTTP/1.1 with no body, a Content-Length, or Transfer-Encoding: chunked is accepted", () => {
  assert.equal(h([]), null);
  assert.equal(h(["Content-Length", "5"]), null);
  assert.equal(h(["Transfer-Encoding", "chunked"]), null);
  assert.equal(h(["transfer-encoding", " Chunked "]), null);
  assert.equal(h(["Content-Length", "5"], 1, 0), null);
});

test("Transfer-Encoding on HTTP/1.0 is refused (RFC 9112 §6.1)", () => {
  assert.deepEqual(h(["Transfer-Encoding", "chunked"], 1, 0), {
    error: "Transfer-Encoding in an HTTP/1.0 request",
  });
});

test("any transfer coding but a single chunked is refused", () => {
  for (const value of ["gzip, chunked", "identity", "chunked, gzip", "x-custom", "chunked;q=1"]) {
    assert.ok(h(["Transfer-Encoding", value]), value);
  }
  assert.ok(h(["Transfer-Encoding", "chunked, chunked"]));
  assert.ok(h(["Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"]));
  assert.equal(h(["Transfer-Encoding", "chunked,"]), null, "empty list elements are ignored");
});

test("HTTP/0.9 and unknown versions are refused; HTTP/2 framing is nghttp2's", () => {
  assert.ok(h([], 0, 9));
  assert.ok(h([], 1, 2));
  assert.ok(h([], 3, 0));
  assert.equal(h([], 2, 0), null);
  assert.equal(h(["transfer-encoding", "gzip"], 2, 0), null);
});
