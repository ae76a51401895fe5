import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { peekClientHello } from "./peek.ts";
import { buildClientHelloMessage, buildRecords } from "./testing/client-hello-builder.ts";

let server: Server;
let accepted: (socket: Socket) => void = () => {};

before(async () => {
  server = createServer((socket) => accepted(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
});

after(() => server.close());

/** A connected (client, server-side socket) pair. */
async function pair(): Promise<{ client: Socket; socket: Socket }> {
  const socketPromise = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const client = connect({ host: "127.0.0.1", port: (server.address() as AddressInfo).port });
  client.setNoDelay(true);
  const socket = await socketPromise;
  return { client, socket };
}

test("a hello sent in small pieces is read whole, with every byte kept in order", async () => {
  const { client, socket } = await pair();
  const hello = buildRecords(buildClientHelloMessage({ serverName: "peek.test" }), [7, 13]);
  const result = peekClientHello(socket, { maxBytes: 16_384, timeoutMs: 5000 });
  for (let offset = 0; offset < hello.length; offset += 17) {
    client.write(hello.subarray(offset, offset + 17));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const peeked = await result;
  assert.equal(peeked.status, "complete");
  if (peeked.status === "complete") {
    assert.equal(peeked.hello.serverName, "peek.test");
    assert.deepEqual(peeked.buffered, hello);
  }
  assert.equal(socket.isPaused(), true, "left paused for the next owner");
  client.destroy();
  socket.destroy();
});

test("a client that stops half-way is given up on at the timeout", async () => {
  const { client, socket } = await pair();
  const hello = buildRecords(buildClientHelloMessage({ serverName: "slow.test" }));
  client.write(hello.subarray(0, 20));
  const started = Date.now();
  const peeked = await peekClientHello(socket, { maxBytes: 16_384, timeoutMs: 200 });
  assert.equal(peeked.status, "failed");
  if (peeked.status === "failed") {
    assert.equal(peeked.failure, "timeout");
    assert.equal(peeked.buffered.length, 20);
  }
  assert.ok(Date.now() - started >= 150);
  client.destroy();
  socket.destroy();
});

test("more than the byte limit without a complete hello is refused", async () => {
  const { client, socket } = await pair();
  const result = peekClientHello(socket, { maxBytes: 1024, timeoutMs: 5000 });
  client.write(
    buildRecords(
      buildClientHelloMessage({ serverName: "big.test", paddingBytes: 4000 }),
      [600, 600],
    ),
  );
  const peeked = await result;
  assert.equal(peeked.status, "failed");
  if (peeked.status === "failed") assert.equal(peeked.failure, "too-large");
  client.destroy();
  socket.destroy();
});

test("garbage is refused as soon as it arrives, and an early close is reported", async () => {
  const first = await pair();
  const garbage = peekClientHello(first.socket, { maxBytes: 16_384, timeoutMs: 5000 });
  first.client.write("PRI * HTTP/2.0\r\n\r\n");
  const refused = await garbage;
  assert.equal(refused.status, "failed");
  if (refused.status === "failed") assert.equal(refused.failure, "malformed");
  first.client.destroy();
  first.socket.destroy();

  const second = await pair();
  const closed = peekClientHello(second.socket, { maxBytes: 16_384, timeoutMs: 5000 });
  second.client.end(Buffer.from([22, 3, 1]));
  const early = await closed;
  assert.equal(early.status, "failed");
  if (early.status === "failed") assert.equal(early.failure, "closed");
  second.socket.destroy();
});
