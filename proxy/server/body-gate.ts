// Request body gate: a request with a body is forwarded only once that body has arrived whole, or as
// much of it as the request stream holds (its highWaterMark, 64 KiB in Node 24 and 26). Node emits
// 'request' as soon as the headers are parsed, before a byte of the body, so without the gate the
// backend would already have the request head (and a connection held for it) when
// the parser finds a malformed chunk size a moment later, or while a slow client trickles its body for
// the 120 s the listener allows (R-U-Dead-Yet, slowhttptest -B). With it, a request whose body fails to
// parse never reaches a backend, and a slow body holds only a buffer in the proxy, not a backend
// connection (nginx's proxy_request_buffering, bounded to one stream buffer instead of a temp file).
// The same holds for HTTP/2 streams, whose DATA frames a slow client can trickle just as well (the
// stream's flow-control window bounds what is buffered: once the request's buffer is full Node stops
// reading the stream and grants no more window).
//
// Nothing is read from the stream: the gate watches the stream's own buffer through 'readable' and
// leaves every byte where it is, so forward() then streams the body as before. A body larger than the
// buffer starts streaming once the buffer is full (Node stops reading the socket there), so large
// uploads cost one buffer of latency, never unbounded memory.
//
// Chunked bodies are coalesced first (coalesceBodyChunks): Node pushes every chunk of a chunked body
// as its own Buffer, so a body of one-byte chunks ("1\r\na\r\n", 6 bytes on the wire each) cost a
// Buffer, a stream hop and an upstream write per 6 bytes: 86 times the CPU of the same bytes sent with
// a Content-Length, and 61 times its size in memory while held (test/hostile/amplification.test.ts).
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { announcesBody } from "../http/framing.ts";

/** Why waiting ended: the body can be forwarded, or the request is gone (parse error, client closed). */
export type BodyGateOutcome = "ready" | "gone";

/** Whether the whole body has been received: Node's parser finished it, or the HTTP/2 stream ended. */
function bodyReceived(req: IncomingMessage | Http2ServerRequest): boolean {
  return req.httpVersionMajor === 2
    ? (req as Http2ServerRequest).stream.readableEnded
    : (req as IncomingMessage).complete;
}

function isGone(req: IncomingMessage | Http2ServerRequest): boolean {
  return (
    req.destroyed || (req.httpVersionMajor === 2 && (req as Http2ServerRequest).stream.destroyed)
  );
}

/**
 * Resolves "ready" once `req`'s body was received to its end or fills the stream's buffer, "gone" if
 * the request is destroyed first (Node answers an HTTP/1 parse error with 400 and closes the socket
 * itself; HTTP/1's requestTimeout, a reset HTTP/2 stream or the inactivity timeout end a body that never
 * completes). Synchronous "ready" for a request without a body or one already complete. The stream is
 * left unread and, once this settles, in its initial mode, so a later pipe or 'data' listener starts it
 * flowing as usual.
 */
export function awaitRequestBody(
  req: IncomingMessage | Http2ServerRequest,
): BodyGateOutcome | Promise<BodyGateOutcome> {
  const hasBody =
    req.httpVersionMajor === 2
      ? !(req as Http2ServerRequest).stream.endAfterHeaders
      : announcesBody(req.rawHeaders);
  if (!hasBody || bodyReceived(req)) return "ready";
  if (isGone(req)) return "gone";
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: BodyGateOutcome): void => {
      if (settled) return;
      settled = true;
      req.off("readable", onReadable);
      req.off("close", onGone);
      req.off("error", onGone);
      // Removing the last 'readable' listener returns the stream to its initial (not flowing, not
      // paused) state on the next tick; resolve after that, so the consumer finds it as Node left it.
      process.nextTick(() => resolve(outcome));
    };
    const onReadable = (): void => {
      if (isGone(req)) settle("gone");
      else if (bodyReceived(req) || req.readableLength >= req.readableHighWaterMark)
        settle("ready");
    };
    const onGone = (): void => settle("gone");
    req.on("readable", onReadable);
    req.once("close", onGone);
    // Without an 'error' listener a destroyed request's error would be unhandled; 'close' follows it.
    req.once("error", onGone);
  });
}

/** Size at which coalesced body chunks are passed on at once, bytes. */
export const COALESCED_CHUNK_BYTES = 16 * 1024;

/**
 * Makes the small chunks Node's parser pushes into `req` (one per chunk of a chunked body) arrive as
 * one Buffer per 16 KiB, or per event-loop turn, whichever comes first: what one socket read brings
 * is passed on together. Node's parser calls `push` on the request for every body span and once with
 * null at the end; this wraps that instance's `push`. The value it returns still tells the parser to
 * stop reading the socket once the stream's buffer, counting the bytes held here, is full, so
 * backpressure is unchanged. A chunk of 16 KiB or more passes through as it is.
 */
export function coalesceBodyChunks(req: IncomingMessage): void {
  const push = req.push.bind(req);
  let held: Buffer[] = [];
  let heldBytes = 0;
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): boolean => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (heldBytes === 0) return true;
    const chunk = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    return req.destroyed ? false : push(chunk);
  };
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (!Buffer.isBuffer(chunk)) {
      // null (the end) or anything unexpected: pass what is held first, in order.
      flush();
      return push(chunk, encoding);
    }
    if (heldBytes === 0 && chunk.length >= COALESCED_CHUNK_BYTES) return push(chunk);
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= COALESCED_CHUNK_BYTES) return flush();
    scheduled ??= setImmediate(flush);
    return req.readableLength + heldBytes < req.readableHighWaterMark;
  };
}
