import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { after, test } from "node:test";
import {
  awaitRequestBody,
  type BodyGateOutcome,
  COALESCED_CHUNK_BYTES,
  coalesceBodyChunks,
} from "./body-gate.ts";

/** What the server saw of one request: the gate's outcome, then the body as read after it. */
interface Seen {
  outcome: BodyGateOutcome;
  /** Whether the request was complete when the gate opened. */
  completeAtGate: boolean;
  body: Buffer;
  /** Chunks the consumer read. */
  chunks: number;
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A plain HTTP server that gates (and optionally coalesces) every request, then reads its body. */
async function startGatedServer(
  coalesce: boolean,
): Promise<{ port: number; seen: Promise<Seen>[] }> {
  const seen: Promise<Seen>[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    seen.push(
      (async () => {
        if (coalesce) coalesceBodyChunks(req);
        const outcome = await awaitRequestBody(req);
        const completeAtGate = req.complete;
        const chunks: Buffer[] = [];
        if (outcome === "ready") {
          for await (const chunk of req) chunks.push(chunk as Buffer);
          res.end("ok");
        }
        return { outcome, completeAtGate, body: Buffer.concat(chunks), chunks: chunks.length };
      })(),
    );
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, seen };
}

/** Writes `parts` with `gapMs` between them; resolves when the server closes or after 2 s. */
async function send(port: number, parts: (string | Buffer)[], gapMs = 0): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  const closed = once(socket, "close").catch(() => {});
  await once(socket, "connect");
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  for (const part of parts) {
    socket.write(part);
    if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
  socket.destroy();
  return text;
}

test("a body sent in pieces is gated until it is complete, then read whole", async () => {
  const { port, seen } = await startGatedServer(false);
  await send(
    port,
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabc", "def"],
    50,
  );
  const result = await seen[0];
  assert.equal(result?.outcome, "ready");
  assert.equal(result?.completeAtGate, true);
  assert.equal(result?.body.toString(), "abcdef");
});

test("a body larger than the stream buffer opens the gate once the buffer is full, and streams whole", async () => {
  const { port, seen } = await startGatedServer(false);
  const size = 1024 * 1024;
  const head = `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`;
  await send(port, [head, Buffer.alloc(size / 2, "x"), Buffer.alloc(size / 2, "y")], 100);
  const result = await seen[0];
  assert.equal(result?.outcome, "ready");
  assert.equal(result?.completeAtGate, false, "the gate did not wait for the whole megabyte");
  assert.equal(result?.body.length, size);
});

test("a chunked body that turns malformed after the headers: gone, nothing read", async () => {
  const { port, seen } = await startGatedServer(false);
  const answer = await send(
    port,
    [
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
      "3\r\nabc\r\nzz\r\n0\r\n\r\n",
    ],
    50,
  );
  const result = await seen[0];
  assert.equal(result?.outcome, "gone");
  assert.match(answer, /^HTTP\/1\.1 400 /);
});

test("coalesceBodyChunks: 5,000 one-byte chunks arrive as a few Buffers, in order", async () => {
  const { port, seen } = await startGatedServer(true);
  let chunked = "";
  let expected = "";
  for (let i = 0; i < 5000; i++) {
    const byte = String.fromCharCode(97 + (i % 26));
    chunked += `1\r\n${byte}\r\n`;
    expected += byte;
  }
  await send(port, [
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}0\r\n\r\n`,
  ]);
  const result = await seen[0];
  assert.equal(result?.body.toString(), expected);
  assert.ok((result?.chunks ?? Infinity) <= 5, `${result?.chunks} chunks`);
});

test("coalesceBodyChunks: a 1 MiB chunked body of 1 KiB chunks stays whole and bounded per Buffer", async () => {
  const { port, seen } = await startGatedServer(true);
  const parts: string[] = [
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
  ];
  for (let i = 0; i < 1024; i++) parts.push(`400\r\n${String(i % 10).repeat(1024)}\r\n`);
  parts.push("0\r\n\r\n");
  await send(port, [parts.join("")]);
  const result = await seen[0];
  assert.equal(result?.body.length, 1024 * 1024);
  assert.ok((result?.chunks ?? 0) >= (1024 * 1024) / (2 * COALESCED_CHUNK_BYTES));
});
