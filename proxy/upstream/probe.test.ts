import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createCertificateAuthority, issueCertificate } from "../../test/support/pki.ts";
import { ProxyError } from "./errors.ts";
import { PoolRegistry, type UpstreamPool } from "./pool.ts";
import { probeEndpoint } from "./probe.ts";
import { startBackend, testCluster } from "./testing.ts";

const pools = new PoolRegistry();
const cleanups: (() => Promise<void>)[] = [() => pools.destroy()];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function backendAnswering(status: number | "never"): Promise<UpstreamPool> {
  const backend = await startBackend({
    respond: (_req, res) => {
      if (status === "never") return;
      res.writeHead(status, status === 302 ? { location: "/elsewhere" } : {});
      res.end("x");
    },
  });
  cleanups.push(backend.close);
  const upstream = pools.get(
    { address: "127.0.0.1", port: backend.port, service: "team/app" },
    testCluster(),
  );
  assert.ok(!(upstream instanceof ProxyError));
  return upstream;
}

describe("probeEndpoint", () => {
  test("2xx and 3xx are healthy, 5xx and 4xx are not", async () => {
    assert.equal(await probeEndpoint(await backendAnswering(200), "/healthz", 1000), true);
    assert.equal(await probeEndpoint(await backendAnswering(302), "/healthz", 1000), true);
    assert.equal(await probeEndpoint(await backendAnswering(503), "/healthz", 1000), false);
    assert.equal(await probeEndpoint(await backendAnswering(404), "/healthz", 1000), false);
  });

  test("probes reuse the pool's keep-alive connection", async () => {
    const backend = await startBackend();
    cleanups.push(backend.close);
    const upstream = pools.get(
      { address: "127.0.0.1", port: backend.port, service: "team/app" },
      testCluster(),
    );
    assert.ok(!(upstream instanceof ProxyError));
    for (let i = 0; i < 3; i++) {
      assert.equal(await probeEndpoint(upstream, "/healthz", 1000), true);
      // Probes are intervalMs apart; back to back, undici may still count the connection as busy for
      // the rest of this tick and open a second one.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(backend.connections(), 1);
    assert.equal(backend.requests[0]?.url, "/healthz");
  });

  test("a silent backend is unhealthy after timeoutMs", async () => {
    const upstream = await backendAnswering("never");
    const started = performance.now();
    assert.equal(await probeEndpoint(upstream, "/healthz", 200), false);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 180 && elapsed < 1500, `took ${elapsed} ms`);
  });

  test("a refused connection is unhealthy", async () => {
    const upstream = pools.get(
      { address: "127.0.0.1", port: 1, service: "team/app" },
      testCluster(),
    );
    assert.ok(!(upstream instanceof ProxyError));
    assert.equal(await probeEndpoint(upstream, "/healthz", 1000), false);
  });

  test("an aborted probe resolves false at once", async () => {
    const upstream = await backendAnswering("never");
    const controller = new AbortController();
    const result = probeEndpoint(upstream, "/healthz", 10_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    assert.equal(await result, false);
  });

  test("HTTPS probes verify the backend like requests do", async () => {
    const ca = await createCertificateAuthority();
    const leaf = await issueCertificate(ca, { dnsNames: ["app.team.svc"] });
    const backend = await startBackend({ tls: { keyPem: leaf.keyPem, certPem: leaf.chainPem } });
    cleanups.push(backend.close);
    const cluster = testCluster({
      protocol: "HTTPS",
      upstreamTls: { caBundle: "team/ca", serverName: null },
    });
    const good = pools.get(
      { address: "127.0.0.1", port: backend.port, service: "team/app" },
      cluster,
      ca.certificatePem,
    );
    assert.ok(!(good instanceof ProxyError));
    assert.equal(await probeEndpoint(good, "/healthz", 1000), true);
    assert.equal(backend.requests[0]?.servername, "app.team.svc");
    const wrongName = pools.get(
      { address: "127.0.0.1", port: backend.port, service: "team/other" },
      cluster,
      ca.certificatePem,
    );
    assert.ok(!(wrongName instanceof ProxyError));
    assert.equal(await probeEndpoint(wrongName, "/healthz", 1000), false);
  });
});
