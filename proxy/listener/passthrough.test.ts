// TLS passthrough end to end: a TLS client talks to a TLS backend holding its own certificate,
// through the listener, which holds no key for that host and only reads the ClientHello.
import assert from "node:assert/strict";
import { once } from "node:events";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
} from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
  connect as tlsConnect,
} from "node:tls";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import type { PassthroughRouteConfig } from "../config/types.ts";
import type { PassthroughTarget } from "./passthrough.ts";
import { buildClientHelloMessage, buildRecords } from "./testing/client-hello-builder.ts";
import {
  certificateEntry,
  eventually,
  proxyConfig,
  temporaryDirectory,
  tlsHost,
  writeSecretVolume,
} from "./testing/fixtures.ts";
import { type RunningListener, startListener } from "./testing/harness.ts";
import { tlsHandshake } from "./testing/tls-client.ts";

let ca: CertificateAuthority;
let backend: TlsServer;
let backendPort: number;
let listener: RunningListener;
const picked: { serverName: string; route: PassthroughRouteConfig }[] = [];
let target: PassthroughTarget | undefined;
const servers: (TlsServer | NetServer)[] = [];

before(async () => {
  ca = await createCertificateAuthority();
  const backendLeaf = await issueCertificate(ca, { dnsNames: ["db.example.com", "*.pass.test"] });
  // The backend answers "backend:<what it read>" per line and half-closes after the client does.
  backend = createTlsServer(
    { cert: backendLeaf.chainPem, key: backendLeaf.keyPem, allowHalfOpen: true },
    (socket) => {
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        received += chunk;
        socket.write(`backend:${chunk}`);
      });
      socket.on("end", () => socket.end(`bye after ${received.length} bytes`));
    },
  );
  backend.listen(0, "127.0.0.1");
  await once(backend, "listening");
  servers.push(backend);
  backendPort = (backend.address() as AddressInfo).port;
  target = { address: "127.0.0.1", port: backendPort };

  const root = await temporaryDirectory();
  const terminated = await issueCertificate(ca, { dnsNames: ["web.example.com"] });
  await writeSecretVolume(join(root, "web"), {
    chainPem: terminated.chainPem,
    keyPem: terminated.keyPem,
  });
  listener = await startListener({
    config: proxyConfig({
      certificates: [certificateEntry("ns/web", join(root, "web"))],
      virtualHosts: [tlsHost("web.example.com", "ns/web")],
      passthrough: [
        { host: "db.example.com", cluster: "ns/db:5432" },
        { host: "*.pass.test", cluster: "ns/pass:443" },
      ],
    }),
    pickBackend: (serverName, route) => {
      picked.push({ serverName, route });
      return target;
    },
  });
});

/** A TLS client that keeps reading after it has sent its FIN. */
function halfOpenClient(servername: string): TLSSocket {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port: listener.port,
    servername,
    ca: ca.certificatePem,
  });
  socket.allowHalfOpen = true;
  return socket;
}

after(async () => {
  await listener.stop();
  for (const server of servers) server.close();
});

test("a passthrough host is spliced to its backend, which presents its own certificate", async () => {
  assert.equal(listener.listener.readsClientHello, true);
  const socket = halfOpenClient("db.example.com");
  await once(socket, "secureConnect");
  assert.equal(socket.authorized, true, "the client verified the backend's certificate end to end");
  assert.match(socket.getPeerCertificate().subjectaltname ?? "", /DNS:db\.example\.com/);
  socket.setEncoding("utf8");
  let answer = "";
  socket.on("data", (chunk: string) => {
    answer += chunk;
  });
  socket.write("ping\n");
  assert.ok(await eventually(() => answer.includes("backend:ping"), 3000));
  // Half-close: the client is done sending; the backend's farewell must still arrive.
  socket.end();
  await once(socket, "close");
  assert.match(answer, /bye after 5 bytes$/);
  assert.deepEqual(picked.at(-1), {
    serverName: "db.example.com",
    route: { host: "db.example.com", cluster: "ns/db:5432" },
  });
  assert.equal(listener.metrics.handshakes.full, 0, "the listener terminated no TLS");
});

test("wildcard passthrough routes match one label; terminated hosts are still terminated", async () => {
  const wild = await tlsHandshake(listener.port, {
    servername: "x.pass.test",
    ca: ca.certificatePem,
  });
  assert.ok(wild.ok);
  assert.match(wild.dnsNames, /\*\.pass\.test/);
  assert.equal(picked.at(-1)?.route.cluster, "ns/pass:443");
  const web = await tlsHandshake(listener.port, {
    servername: "web.example.com",
    ca: ca.certificatePem,
  });
  assert.ok(web.ok);
  assert.equal(web.dnsNames, "DNS:web.example.com");
  const deep = await tlsHandshake(listener.port, {
    servername: "a.b.pass.test",
    ca: ca.certificatePem,
  });
  assert.equal(deep.ok, false);
});

test("large transfers keep flowing both ways (backpressure)", async () => {
  const socket = halfOpenClient("db.example.com");
  await once(socket, "secureConnect");
  const payload = "x".repeat(4 * 1024 * 1024);
  let received = 0;
  socket.on("data", (chunk: Buffer) => {
    received += chunk.length;
  });
  socket.end(payload);
  await once(socket, "close");
  // Echoed with a "backend:" prefix per chunk, plus the farewell: at least the payload came back.
  assert.ok(received > payload.length, `received ${received}`);
});

test("a ClientHello split into many TCP segments and records still routes", async () => {
  const client = netConnect({ host: "127.0.0.1", port: listener.port });
  await once(client, "connect");
  client.setNoDelay(true);
  const hello = buildRecords(
    buildClientHelloMessage({ serverName: "db.example.com" }),
    [3, 5, 7, 11],
  );
  const captured: Buffer[] = [];
  const probe = createNetServer((socket) => {
    socket.on("data", (chunk: Buffer) => captured.push(chunk));
  });
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  servers.push(probe);
  const previous = target;
  target = { address: "127.0.0.1", port: (probe.address() as AddressInfo).port };
  try {
    for (let offset = 0; offset < hello.length; offset += 9) {
      client.write(hello.subarray(offset, offset + 9));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.ok(await eventually(() => Buffer.concat(captured).length >= hello.length, 3000));
    assert.deepEqual(Buffer.concat(captured), hello, "the backend got the hello byte for byte");
  } finally {
    target = previous;
    client.destroy();
  }
});

test("garbage and an unreachable backend are refused cleanly", async () => {
  const garbage = netConnect({ host: "127.0.0.1", port: listener.port });
  await once(garbage, "connect");
  garbage.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  garbage.resume();
  await once(garbage, "close");

  const previous = target;
  const closed = createNetServer();
  closed.listen(0, "127.0.0.1");
  await once(closed, "listening");
  const deadPort = (closed.address() as AddressInfo).port;
  closed.close();
  target = { address: "127.0.0.1", port: deadPort };
  try {
    const result = await tlsHandshake(listener.port, {
      servername: "db.example.com",
      ca: ca.certificatePem,
    });
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.error.message, /alert number 80/, "internal_error alert");
  } finally {
    target = previous;
  }
  target = undefined;
  try {
    const result = await tlsHandshake(listener.port, {
      servername: "db.example.com",
      ca: ca.certificatePem,
    });
    assert.equal(result.ok, false, "no endpoint: refused");
  } finally {
    target = previous;
  }
});
