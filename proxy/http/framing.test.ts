import assert from "node:assert/strict";
import { test } from "node:test";
import { announcesBody, leavesBodyUnread, validateFraming } from "./framing.ts";

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

test("announcesBody: Content-Length other than 0, or Transfer-Encoding", () => {
  assert.equal(announcesBody([]), false);
  assert.equal(announcesBody(["Content-Length", "0"]), false);
  assert.equal(announcesBody(["content-length", "12"]), true);
  assert.equal(announcesBody(["Transfer-Encoding", "chunked"]), true);
});

test("leavesBodyUnread: an HTTP/1 body announced and not yet read to its end", () => {
  const request = (rawHeaders: string[], complete: boolean, httpVersionMajor = 1) => ({
    rawHeaders,
    complete,
    httpVersionMajor,
  });
  // A GET is not complete yet when Node hands it over: its connection must not be closed for that.
  assert.equal(leavesBodyUnread(request([], false)), false);
  assert.equal(leavesBodyUnread(request(["Content-Length", "0"], false)), false);
  assert.equal(leavesBodyUnread(request(["Content-Length", "12"], false)), true);
  assert.equal(leavesBodyUnread(request(["Transfer-Encoding", "chunked"], false)), true);
  assert.equal(leavesBodyUnread(request(["Content-Length", "12"], true)), false);
  assert.equal(leavesBodyUnread(request(["Content-Length", "12"], false, 2)), false);
});
