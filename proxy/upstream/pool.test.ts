import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createCertificateAuthority } from "../../test/support/pki.ts";
import { ProxyError } from "./errors.ts";
import { endpointKey, PoolRegistry, type UpstreamPool, upstreamServerName } from "./pool.ts";
import { rawExchange, startBackend, startProxy, testCluster } from "./testing.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const endpoint = (address: string, port: number) => ({ address, port, service: "team/app" });

function pool(value: UpstreamPool | ProxyError): UpstreamPool {
  assert.ok(!(value instanceof ProxyError), String(value));
  return value;
}

describe("endpointKey and upstreamServerName", () => {
  test("IPv6 addresses are bracketed", () => {
    assert.equal(endpointKey({ address: "10.0.0.1", port: 80 }), "10.0.0.1:80");
    assert.equal(endpointKey({ address: "fd00::1", port: 8443 }), "[fd00::1]:8443");
  });

  test("the server name defaults to the Service DNS name", () => {
    const cluster = testCluster({
      protocol: "HTTPS",
      upstreamTls: { caBundle: "team/ca", serverName: null },
    });
    assert.equal(upstreamServerName(endpoint("10.0.0.1", 443), cluster), "app.team.svc");
    const named = testCluster({
      protocol: "HTTPS",
      upstreamTls: { caBundle: "team/ca", serverName: "api.example" },
    });
    assert.equal(upstreamServerName(endpoint("10.0.0.1", 443), named), "api.example");
  });
});

describe("PoolRegistry", () => {
  test("one pool per endpoint and settings", () => {
    const pools = new PoolRegistry();
    cleanups.push(() => pools.destroy());
    const cluster = testCluster();
    const a = pool(pools.get(endpoint("127.0.0.1", 1001), cluster));
    assert.equal(pool(pools.get(endpoint("127.0.0.1", 1001), cluster)), a);
    assert.notEqual(pool(pools.get(endpoint("127.0.0.1", 1002), cluster)), a);
    const slower = testCluster({
      timeouts: { connectMs: 5000, responseMs: 1000, upstreamIdleMs: 10_000 },
    });
    assert.notEqual(pool(pools.get(endpoint("127.0.0.1", 1001), slower)), a);
    // responseMs is a per-request setting: it does not split pools.
    const otherResponse = testCluster({
      timeouts: { connectMs: 1000, responseMs: 9, upstreamIdleMs: 10_000 },
    });
    assert.equal(pool(pools.get(endpoint("127.0.0.1", 1001), otherResponse)), a);
    assert.equal(pools.size, 3);
  });

  test("HTTPS pools are keyed by CA and server name, and need a CA", async () => {
    const pools = new PoolRegistry();
    cleanups.push(() => pools.destroy());
    const ca1 = (await createCertificateAuthority()).certificatePem;
    const ca2 = (await createCertificateAuthority()).certificatePem;
    const cluster = testCluster({
      protocol: "HTTPS",
      upstreamTls: { caBundle: "team/ca", serverName: null },
    });
    const a = pool(pools.get(endpoint("127.0.0.1", 1001), cluster, ca1));
    assert.equal(a.servername, "app.team.svc");
    assert.equal(pool(pools.get(endpoint("127.0.0.1", 1001), cluster, ca1)), a);
    assert.notEqual(pool(pools.get(endpoint("127.0.0.1", 1001), cluster, ca2)), a);
    const missing = pools.get(endpoint("127.0.0.1", 1001), cluster);
    assert.ok(missing instanceof ProxyError);
    assert.equal(missing.code, "PC_UPSTREAM_TLS");
  });

  test("sync closes the pools of endpoints that left the config, and only those", async () => {
    const pools = new PoolRegistry();
    cleanups.push(() => pools.destroy());
    const cluster = testCluster();
    const kept = pool(pools.get(endpoint("127.0.0.1", 1001), cluster));
    const removed = pool(pools.get(endpoint("127.0.0.1", 1002), cluster));
    await pools.sync(["127.0.0.1:1001"]);
    assert.equal(removed.dispatcher.closed, true);
    assert.equal(kept.dispatcher.closed, false);
    assert.equal(pools.size, 1);
    // Asking again for a removed endpoint (it came back) gives a fresh, open pool.
    const back = pool(pools.get(endpoint("127.0.0.1", 1002), cluster));
    assert.notEqual(back, removed);
    assert.equal(back.dispatcher.closed, false);
  });

  test("a superseded pool is closed once it went unused for a sync interval", async () => {
    const pools = new PoolRegistry();
    cleanups.push(() => pools.destroy());
    const old = pool(pools.get(endpoint("127.0.0.1", 1001), testCluster()));
    const current = pool(
      pools.get(
        endpoint("127.0.0.1", 1001),
        testCluster({ timeouts: { connectMs: 7, responseMs: 7, upstreamIdleMs: 7 } }),
      ),
    );
    await pools.sync(["127.0.0.1:1001"]); // both used since creation: both kept
    assert.equal(old.dispatcher.closed, false);
    await pools.sync(["127.0.0.1:1001"]); // old unused for an interval and superseded: closed
    assert.equal(old.dispatcher.closed, true);
    assert.equal(current.dispatcher.closed, false);
  });

  test("closing is graceful: a request in flight to a removed endpoint completes", async () => {
    const backend = await startBackend({
      respond: (_req, res) => setTimeout(() => res.end("late but whole"), 200),
    });
    const pools = new PoolRegistry();
    const proxy = await startProxy({
      pools,
      cluster: testCluster(),
      endpoints: [endpoint("127.0.0.1", backend.port)],
    });
    cleanups.push(backend.close, proxy.close, () => pools.destroy());
    const pending = rawExchange(
      proxy.port,
      "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(backend.requests.length, 1);
    const closed = pools.sync([]);
    const response = await pending;
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /late but whole/);
    await closed;
    assert.equal(pools.size, 0);
  });
});

test("the Pool loaded on its own is undici's public Pool", async () => {
  const { Pool: PoolAlone } = await import("./undici-pool.ts");
  const { Pool: PublicPool } = await import("undici");
  assert.equal(PoolAlone, PublicPool);
});
