// The admin server over real HTTP on an ephemeral port.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { createPrometheusMetrics } from "../observability/metrics.ts";
import { noopLogger } from "../observability/ports.ts";
import { createHealthState } from "./health.ts";
import { type AdminServer, type AppliedConfigView, startAdminServer } from "./server.ts";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  port: number,
  path: string,
  options: { method?: string; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        agent: false,
        // node:http frames a GET body only when told its length.
        headers:
          options.body === undefined ? {} : { "content-length": Buffer.byteLength(options.body) },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("admin server", () => {
  const health = createHealthState();
  const metrics = createPrometheusMetrics(undefined, { defaultMetrics: false });
  let view: AppliedConfigView = { version: null, appliedAt: null };
  let failMetrics = false;
  let server: AdminServer;

  before(async () => {
    server = await startAdminServer({
      port: 0,
      host: "127.0.0.1",
      health,
      metrics: () =>
        failMetrics ? Promise.reject(new Error("worker 7 wedged")) : metrics.registry.metrics(),
      config: () => view,
      logger: noopLogger,
    });
  });
  after(() => server.close());

  test("GET /healthz answers ok while the process lives", async () => {
    const reply = await call(server.port, "/healthz");
    assert.equal(reply.status, 200);
    assert.equal(reply.body, "ok\n");
    assert.equal(reply.headers["cache-control"], "no-store");
  });

  test("/readyz flips: 503 before the first config, 200 after, 503 once draining", async () => {
    assert.equal((await call(server.port, "/readyz")).status, 503);
    health.configApplied();
    const ready = await call(server.port, "/readyz");
    assert.equal(ready.status, 200);
    assert.equal(ready.body, "ok\n");
    health.startDraining();
    assert.equal((await call(server.port, "/readyz")).status, 503);
    // Draining is not death: liveness stays up so the kubelet does not restart a draining proxy.
    assert.equal((await call(server.port, "/healthz")).status, 200);
  });

  test("GET /metrics serves the Prometheus text with its content type", async () => {
    metrics.request("default/web", "default/web-80", 200, 0.01);
    const reply = await call(server.port, "/metrics");
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert.match(reply.body, /^portcullis_requests_total\{.*code="200"\} 1$/m);
    // Prometheus may add parameters; the query is ignored.
    assert.equal((await call(server.port, "/metrics?x=1")).status, 200);
  });

  test("a failing metrics source answers 503 without its error", async () => {
    failMetrics = true;
    const reply = await call(server.port, "/metrics");
    failMetrics = false;
    assert.equal(reply.status, 503);
    assert.doesNotMatch(reply.body, /worker 7/);
  });

  test("GET /config shows the version, time and sources, never key material", async () => {
    assert.deepEqual(JSON.parse((await call(server.port, "/config")).body), {
      version: null,
      appliedAt: null,
      sources: [],
    });
    view = {
      version: "abc123",
      appliedAt: "2026-11-24T10:00:00.000Z",
      sources: [
        // A careless caller handing over more than references: the filter still holds.
        { kind: "Ingress", namespace: "default", name: "web", generation: 3, tlsKey: "KEYBYTES" },
        { kind: "Ingress", namespace: "default", name: "pem", note: "-----BEGIN PRIVATE KEY-----" },
      ],
    };
    const reply = await call(server.port, "/config");
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-type"], "application/json; charset=utf-8");
    const body = JSON.parse(reply.body) as { version: string; sources: Record<string, unknown>[] };
    assert.equal(body.version, "abc123");
    assert.equal(body.sources[0]?.name, "web");
    assert.doesNotMatch(reply.body, /KEYBYTES|BEGIN PRIVATE KEY/);
  });

  test("HEAD answers like GET without a body", async () => {
    const reply = await call(server.port, "/healthz", { method: "HEAD" });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-length"], "3");
    assert.equal(reply.body, "");
  });

  test("unknown paths are 404, other methods 405, request bodies 413", async () => {
    assert.equal((await call(server.port, "/")).status, 404);
    assert.equal((await call(server.port, "/healthz/")).status, 404);
    assert.equal((await call(server.port, "/debug/pprof")).status, 404);
    const post = await call(server.port, "/config", { method: "POST", body: "{}" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
    assert.equal((await call(server.port, "/readyz", { method: "DELETE" })).status, 405);
    const withBody = await call(server.port, "/healthz", { method: "GET", body: "x".repeat(100) });
    assert.equal(withBody.status, 413);
  });

  test("oversized headers are refused", async () => {
    const reply = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: server.port,
          path: "/healthz",
          headers: { "x-big": "a".repeat(16 * 1024) },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(reply, 431);
  });
});

test("startAdminServer rejects when the port is taken", async () => {
  const first = await startAdminServer({
    port: 0,
    host: "127.0.0.1",
    health: createHealthState(),
    metrics: async () => "",
    config: () => ({ version: null, appliedAt: null }),
    logger: noopLogger,
  });
  await assert.rejects(
    startAdminServer({
      port: first.port,
      host: "127.0.0.1",
      health: createHealthState(),
      metrics: async () => "",
      config: () => ({ version: null, appliedAt: null }),
      logger: noopLogger,
    }),
    /EADDRINUSE/,
  );
  await first.close();
});
