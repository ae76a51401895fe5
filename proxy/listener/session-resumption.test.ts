// Session tickets across listeners: a session from listener A resumes on listener B when both derive
// their keys from the same secret, for TLS 1.2 and 1.3, including for SNI-selected certificates;
// not with another secret, not across a rotation, and not for a host with tickets disabled.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createSecureContext,
  createServer as createTlsServer,
  type SecureVersion,
  type Server as TlsServer,
} from "node:tls";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  type IssuedCertificate,
  issueCertificate,
} from "../../test/support/pki.ts";
import type { ProxyConfig } from "../config/types.ts";
import {
  certificateEntry,
  eventually,
  proxyConfig,
  temporaryDirectory,
  tlsHost,
  writeSecretVolume,
} from "./testing/fixtures.ts";
import { type RunningListener, startListener } from "./testing/harness.ts";
import { ManualClock } from "./testing/manual-clock.ts";
import { tlsHandshake } from "./testing/tls-client.ts";

const VERSIONS: SecureVersion[] = ["TLSv1.2", "TLSv1.3"];
let ca: CertificateAuthority;
let config: ProxyConfig;
const running: RunningListener[] = [];

before(async () => {
  ca = await createCertificateAuthority();
  const root = await temporaryDirectory();
  const wild = await issueCertificate(ca, { dnsNames: ["*.example.com"] });
  const exact = await issueCertificate(ca, { dnsNames: ["shop.example.com"] });
  await writeSecretVolume(join(root, "wild"), { chainPem: wild.chainPem, keyPem: wild.keyPem });
  await writeSecretVolume(join(root, "exact"), { chainPem: exact.chainPem, keyPem: exact.keyPem });
  config = proxyConfig({
    certificates: [
      certificateEntry("ns/wild", join(root, "wild")),
      certificateEntry("ns/exact", join(root, "exact")),
    ],
    virtualHosts: [
      tlsHost("shop.example.com", "ns/exact"),
      tlsHost("private.example.com", "ns/wild", { sessionTickets: false }),
      tlsHost("*.example.com", "ns/wild"),
    ],
  });
});

after(async () => {
  await Promise.all(running.map((r) => r.stop()));
});

async function start(
  options: Omit<Parameters<typeof startListener>[0], "config"> & { config?: ProxyConfig },
): Promise<RunningListener> {
  const started = await startListener({ config, ...options });
  running.push(started);
  return started;
}

/** Handshakes on `first`, then offers that session to `second`; returns whether it resumed. */
async function resumesAcross(
  first: number,
  second: number,
  servername: string,
  version: SecureVersion,
): Promise<boolean> {
  const initial = await tlsHandshake(first, {
    servername,
    ca: ca.certificatePem,
    maxVersion: version,
    minVersion: version,
    sessionWaitMs: 2000,
  });
  assert.ok(initial.ok, `first handshake to ${servername}`);
  assert.equal(initial.reused, false);
  if (!initial.session) return false;
  const again = await tlsHandshake(second, {
    servername,
    ca: ca.certificatePem,
    maxVersion: version,
    minVersion: version,
    session: initial.session,
  });
  assert.ok(again.ok, `second handshake to ${servername}`);
  return again.reused;
}

describe("two listeners in one process", () => {
  const secret = randomBytes(32);
  let a: RunningListener;
  let b: RunningListener;
  let other: RunningListener;
  before(async () => {
    a = await start({ secret });
    b = await start({ secret });
    other = await start({ secret: randomBytes(32) });
  });

  for (const version of VERSIONS) {
    test(`a session from A resumes on B with the same secret (${version})`, async () => {
      // shop.example.com: exact host; cart.example.com: wildcard. Both are SNI-selected contexts.
      for (const name of ["shop.example.com", "cart.example.com"]) {
        assert.equal(await resumesAcross(a.port, b.port, name, version), true, name);
      }
    });

    test(`a session does not resume on a listener with another secret (${version})`, async () => {
      assert.equal(await resumesAcross(a.port, other.port, "shop.example.com", version), false);
    });

    test(`a host with sessionTickets false never resumes, while others do (${version})`, async () => {
      assert.equal(
        a.listener.readsClientHello,
        true,
        "a second profile makes the listener route by SNI",
      );
      assert.equal(await resumesAcross(a.port, a.port, "private.example.com", version), false);
      assert.equal(await resumesAcross(a.port, a.port, "cart.example.com", version), true);
    });
  }

  test("full and resumed handshakes are counted", async () => {
    const fullBefore = b.metrics.handshakes.full;
    const resumedBefore = b.metrics.handshakes.resumed;
    // Sockets stay open until counted: Node emits 'secureConnection' only for a connection still
    // open when the server finishes its side of the handshake.
    const options = { servername: "shop.example.com", ca: ca.certificatePem, keepOpen: true };
    const full = await tlsHandshake(b.port, { ...options, sessionWaitMs: 2000 });
    assert.ok(full.ok && full.session);
    const resumed = await tlsHandshake(b.port, { ...options, session: full.session });
    assert.ok(resumed.ok && resumed.reused);
    const counted = await eventually(
      () =>
        b.metrics.handshakes.full === fullBefore + 1 &&
        b.metrics.handshakes.resumed === resumedBefore + 1,
      2000,
    );
    full.socket.destroy();
    resumed.socket.destroy();
    assert.ok(counted, JSON.stringify(b.metrics.handshakes));
  });
});

test("a rotation at the epoch boundary ends resumption of older tickets", async () => {
  const secret = randomBytes(32);
  const period = 3600;
  const clock = new ManualClock(Date.UTC(2030, 0, 1, 0, 59, 59));
  const rotating = await start({
    secret,
    clock,
    config: { ...config, listener: { ...config.listener, sessionTicketRotationSeconds: period } },
  });
  const epochBefore = rotating.ring.epoch;
  const initial = await tlsHandshake(rotating.port, {
    servername: "shop.example.com",
    ca: ca.certificatePem,
    sessionWaitMs: 2000,
  });
  assert.ok(initial.ok && initial.session);
  clock.advanceTo(Date.UTC(2030, 0, 1, 1, 0, 0));
  assert.equal(rotating.ring.epoch, epochBefore + 1);
  const after = await tlsHandshake(rotating.port, {
    servername: "shop.example.com",
    ca: ca.certificatePem,
    session: initial.session,
    sessionWaitMs: 2000,
  });
  assert.ok(after.ok);
  assert.equal(after.reused, false, "the old ticket is no longer accepted");
  assert.ok(after.session);
  const peer = await start({
    secret,
    clock,
    config: { ...config, listener: { ...config.listener, sessionTicketRotationSeconds: period } },
  });
  const onPeer = await tlsHandshake(peer.port, {
    servername: "shop.example.com",
    ca: ca.certificatePem,
    session: after.session,
  });
  assert.ok(onPeer.ok);
  assert.equal(onPeer.reused, true, "a replica on the same clock accepts the new ticket");
});

// What Node does with ticket keys after an SNI switch: this is the finding the design rests on, kept
// as a test so a Node upgrade that changes it fails here rather than in production.
describe("Node: ticket keys after an SNI context switch", () => {
  let leaf: IssuedCertificate;
  const servers: TlsServer[] = [];
  before(async () => {
    leaf = await issueCertificate(ca, { dnsNames: ["sni.test"] });
  });
  after(() => {
    for (const server of servers) server.close();
  });

  async function plainServer(serverKeys: Buffer, sniKeys: Buffer): Promise<number> {
    const sniContext = createSecureContext({
      cert: leaf.chainPem,
      key: leaf.keyPem,
      ticketKeys: sniKeys,
    });
    const server = createTlsServer(
      {
        ticketKeys: serverKeys,
        sessionIdContext: "x",
        SNICallback: (_name, callback) => callback(null, sniContext),
      },
      (socket) => socket.end("x"),
    );
    server.on("tlsClientError", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    return (server.address() as AddressInfo).port;
  }

  for (const version of VERSIONS) {
    test(`only the server's own keys matter, not the SNI context's (${version})`, async () => {
      const shared = randomBytes(48);
      const first = await plainServer(shared, randomBytes(48));
      const sameServerKeys = await plainServer(shared, randomBytes(48));
      const sameSniKeys = await plainServer(randomBytes(48), shared);
      assert.equal(await resumesAcross(first, sameServerKeys, "sni.test", version), true);
      assert.equal(await resumesAcross(first, sameSniKeys, "sni.test", version), false);
    });
  }

  test("an SNI context's minVersion is ignored: only its certificate is used", async () => {
    const sniContext = createSecureContext({
      cert: leaf.chainPem,
      key: leaf.keyPem,
      minVersion: "TLSv1.3",
    });
    const server = createTlsServer(
      { minVersion: "TLSv1.2", SNICallback: (_name, callback) => callback(null, sniContext) },
      (socket) => socket.end(),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    const result = await tlsHandshake((server.address() as AddressInfo).port, {
      servername: "sni.test",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
    });
    assert.ok(result.ok, "a TLS 1.2 handshake succeeds although the SNI context asked for TLS 1.3");
    assert.equal(result.dnsNames, "DNS:sni.test");
  });
});
