// Fault: a backend that closes its keep-alive connections as the proxy reuses them.
//
// One endpoint, a raw HTTP/1.1 server that answers the first request on each connection with
// `Connection: keep-alive` and resets the connection when a second one arrives on it: the race every
// proxy meets with backends whose idle timeout is shorter than its own (Node's http server: 5 s),
// made to happen on every reuse. Each request after the first meets a reused connection that dies
// before its response. A bodiless idempotent request is retried on a new connection (to the same
// endpoint, the only one), so the client sees 200 every time; a POST is not retried and gets 502.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  createPki,
  generateKeys,
  get,
  keepAliveAgent,
  removeTree,
  startServe,
  temporaryRoot,
  writeManifests,
} from "../e2e/support.ts";

const REQUESTS = 20;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** The backend: first request per connection answered, the second one reset. Counts both. */
async function startResettingBackend(): Promise<{
  server: Server;
  port: number;
  answered: number;
  reset: number;
}> {
  const state = { answered: 0, reset: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let requests = 0;
    let buffered = "";
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      // Bodiless requests only reach here, except the POST: its 0-length body ends with the head.
      while (buffered.includes("\r\n\r\n")) {
        buffered = buffered.slice(buffered.indexOf("\r\n\r\n") + 4);
        requests++;
        if (requests === 1) {
          state.answered++;
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
        } else {
          state.reset++;
          socket.resetAndDestroy();
          return;
        }
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    get answered() {
      return state.answered;
    },
    get reset() {
      return state.reset;
    },
  };
}

test(`${REQUESTS} GETs to a backend that resets every reused connection all get 200; a POST gets 502`, {
  timeout: 60_000,
}, async (t) => {
  const root = await temporaryRoot();
  cleanups.push(() => removeTree(root));
  const backend = await startResettingBackend();
  const pki = await createPki();
  const manifestsDir = join(root, "manifests");
  await writeManifests(manifestsDir, {
    app1: [backend.port],
    app2: [backend.port],
    certificate: pki.leaf,
    keys: generateKeys(),
  });
  const serve = await startServe({
    paths: [manifestsDir],
    stateDir: join(root, "state"),
    workers: 1,
  });
  cleanups.push(() => serve.stop());
  const ca = pki.ca.certificatePem;
  const agent = keepAliveAgent(ca);
  cleanups.push(async () => agent.destroy());

  const statuses: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const response = await get({ port: serve.httpsPort, path: `/app-1/${i}`, ca, agent });
    statuses.push(response.status);
  }
  const post = await get({
    port: serve.httpsPort,
    path: "/app-1/post",
    ca,
    agent,
    method: "POST",
    headers: { "content-length": "0" },
  });
  t.diagnostic(
    `${REQUESTS} GETs: ${statuses.filter((s) => s === 200).length} answered 200; the backend answered ${backend.answered} and reset ${backend.reset} requests; POST: ${post.status}`,
  );
  assert.deepEqual(
    statuses,
    statuses.map(() => 200),
  );
  assert.ok(backend.reset >= REQUESTS - 1, `${backend.reset} resets: every reuse met one`);
  assert.equal(post.status, 502, "a POST reset before its response is not sent again");
});
