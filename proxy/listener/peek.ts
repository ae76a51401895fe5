// Reading a ClientHello off a fresh TCP connection without consuming it for good: the bytes read
// are handed back so the caller can forward them to a passthrough backend or push them back
// (socket.unshift) for the TLS server. Bounded in bytes and in time, because until the hello is in
// the client controls how long the listener waits and how much it buffers.
import type { Socket } from "node:net";
import {
  type ClientHello,
  type ClientHelloProblem,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
} from "./client-hello.ts";

/** Limits on reading a ClientHello. */
export interface PeekLimits {
  /** Largest number of bytes buffered before giving up. Default MAX_CLIENT_HELLO_BYTES (16 KiB). */
  readonly maxBytes: number;
  /** Time allowed for the whole hello to arrive, in milliseconds. Default 10 000. */
  readonly timeoutMs: number;
}

/** Default PeekLimits. */
export const DEFAULT_PEEK_LIMITS: PeekLimits = Object.freeze({
  maxBytes: MAX_CLIENT_HELLO_BYTES,
  timeoutMs: 10_000,
});

/** Why no ClientHello could be read. */
export type PeekFailure = ClientHelloProblem | "timeout" | "closed";

/** Outcome of peekClientHello. `buffered` holds every byte read, in order, in both cases. */
export type PeekResult =
  | { readonly status: "complete"; readonly hello: ClientHello; readonly buffered: Buffer }
  | {
      readonly status: "failed";
      readonly failure: PeekFailure;
      readonly reason: string;
      readonly buffered: Buffer;
    };

/**
 * Reads from `socket` until a whole ClientHello has arrived, then pauses it. The socket must be
 * fresh (nothing read yet). On failure the socket is left for the caller to close; on success it is
 * paused with nothing in its readable buffer, so `buffered` is the only copy of what was read.
 */
export function peekClientHello(
  socket: Socket,
  limits: PeekLimits = DEFAULT_PEEK_LIMITS,
): Promise<PeekResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;

    const finish = (result: PeekResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      socket.pause();
      resolve(result);
    };
    const buffered = (): Buffer =>
      chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);

    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      const all = buffered();
      // Collapse so later concatenations stay linear in the (bounded) total.
      chunks.length = 0;
      chunks.push(all);
      const parsed = parseClientHello(all, limits.maxBytes);
      if (parsed.status === "complete") {
        finish({ status: "complete", hello: parsed.hello, buffered: all });
      } else if (parsed.status === "invalid") {
        finish({ status: "failed", failure: parsed.problem, reason: parsed.reason, buffered: all });
      } else if (length >= limits.maxBytes) {
        finish({
          status: "failed",
          failure: "too-large",
          reason: `no ClientHello in ${length} bytes`,
          buffered: all,
        });
      }
    };
    const onEnd = (): void => {
      finish({
        status: "failed",
        failure: "closed",
        reason: "connection ended before the ClientHello",
        buffered: buffered(),
      });
    };
    const onError = (error: Error): void => {
      finish({ status: "failed", failure: "closed", reason: error.message, buffered: buffered() });
    };
    const timer = setTimeout(() => {
      finish({
        status: "failed",
        failure: "timeout",
        reason: `no ClientHello within ${limits.timeoutMs} ms`,
        buffered: buffered(),
      });
    }, limits.timeoutMs);
    timer.unref();

    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", onError);
  });
}
