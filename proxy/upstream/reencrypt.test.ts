// Re-encryption: forwarding to an HTTPS backend verified against a CA bundle and a server name.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import type { UpstreamTlsConfig } from "../config/types.ts";
import { PoolRegistry } from "./pool.ts";
import {
  headerValues,
  type RecordingBackend,
  rawExchange,
  startBackend,
  startProxy,
  testCluster,
} from "./testing.ts";

let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let backend: RecordingBackend;

before(async () => {
  ca = await createCertificateAuthority({ commonName: "Backend CA" });
  otherCa = await createCertificateAuthority({ commonName: "Unrelated CA" });
  const leaf = await issueCertificate(ca, { dnsNames: ["app.team.svc", "app.internal.example"] });
  backend = await startBackend({ tls: { keyPem: leaf.keyPem, certPem: leaf.chainPem } });
});
after(() => backend.close());

async function request(upstreamTls: UpstreamTlsConfig, caBundlePem: string | undefined) {
  const pools = new PoolRegistry();
  const proxy = await startProxy({
    pools,
    cluster: testCluster({ protocol: "HTTPS", upstreamTls, retryAttempts: 0 }),
    endpoints: [{ address: "127.0.0.1", port: backend.port, service: "team/app" }],
    ...(caBundlePem === undefined ? {} : { caBundlePem }),
  });
  try {
    const response = await rawExchange(
      proxy.port,
      "GET /secure HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
    );
    return { response, outcomes: proxy.outcomes };
  } finally {
    await proxy.close();
    await pools.destroy();
  }
}

describe("re-encryption", () => {
  test("succeeds with the right CA; SNI is the Service DNS name, Host the public host", async () => {
    const before = backend.requests.length;
    const { response } = await request(
      { caBundle: "team/ca", serverName: null },
      ca.certificatePem,
    );
    assert.match(response, /^HTTP\/1\.1 200 /);
    const received = backend.requests[before];
    assert.equal(received?.servername, "app.team.svc");
    assert.deepEqual(headerValues(received?.rawHeaders ?? [], "host"), ["www.example.com"]);
  });

  test("uses upstreamTls.serverName when set", async () => {
    const before = backend.requests.length;
    const { response } = await request(
      { caBundle: "team/ca", serverName: "app.internal.example" },
      ca.certificatePem,
    );
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.equal(backend.requests[before]?.servername, "app.internal.example");
  });

  test("fails with a CA that did not sign the backend certificate", async () => {
    const before = backend.requests.length;
    const { response, outcomes } = await request(
      { caBundle: "team/ca", serverName: null },
      otherCa.certificatePem,
    );
    assert.match(response, /^HTTP\/1\.1 502 /);
    const outcome = outcomes[0];
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_UPSTREAM_TLS");
    assert.equal(outcome.error.failure, "tls");
    assert.equal(outcome.requestSent, false);
    assert.equal(backend.requests.length, before);
  });

  test("fails when the certificate does not cover the server name", async () => {
    const before = backend.requests.length;
    const { response, outcomes } = await request(
      { caBundle: "team/ca", serverName: "other.team.svc" },
      ca.certificatePem,
    );
    assert.match(response, /^HTTP\/1\.1 502 /);
    const outcome = outcomes[0];
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_UPSTREAM_TLS");
    assert.equal(outcome.error.detail, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.equal(backend.requests.length, before);
  });

  test("refuses to connect without a CA bundle rather than trusting the system store", async () => {
    const { response, outcomes } = await request(
      { caBundle: "team/ca", serverName: null },
      undefined,
    );
    assert.match(response, /^HTTP\/1\.1 502 /);
    const outcome = outcomes[0];
    assert.ok(outcome && !outcome.ok);
    assert.equal(outcome.error.code, "PC_UPSTREAM_TLS");
  });

  test("a plain-HTTP cluster pointed at a TLS port fails cleanly", async () => {
    const pools = new PoolRegistry();
    const proxy = await startProxy({
      pools,
      cluster: testCluster({
        retryAttempts: 0,
        timeouts: { connectMs: 500, responseMs: 500, upstreamIdleMs: 1000 },
      }),
      endpoints: [{ address: "127.0.0.1", port: backend.port, service: "team/app" }],
    });
    try {
      const response = await rawExchange(
        proxy.port,
        "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
      );
      assert.match(response, /^HTTP\/1\.1 50[24] /);
    } finally {
      await proxy.close();
      await pools.destroy();
    }
  });
});
