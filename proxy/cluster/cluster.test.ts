import assert from "node:assert/strict";
import { mock, test } from "node:test";
import type {
  AffinityConfig,
  BackendConfig,
  ClusterConfig,
  EndpointConfig,
  ProxyConfig,
} from "../config/types.ts";
import { type AffinityEvent, noopMetrics, type ProxyMetrics } from "../observability/ports.ts";
import { serviceAffinityId } from "./affinity-cookie.ts";
import { type ClusterDeps, ClusterRuntime, type Pick } from "./cluster.ts";
import type { EndpointState } from "./endpoint.ts";
import { ClusterRegistry } from "./registry.ts";

const KEY = Buffer.alloc(32, 7);
const START = 1_800_000_000_000;

function endpoint(n: number, overrides: Partial<EndpointConfig> = {}): EndpointConfig {
  return {
    id: n.toString(16).padStart(16, "0"),
    address: `10.0.0.${n}`,
    port: 8080,
    ready: true,
    serving: true,
    terminating: false,
    ...overrides,
  };
}

function backend(service: string, endpoints: EndpointConfig[], weight = 1): BackendConfig {
  return { service, port: "80", weight, endpoints };
}

function affinity(overrides: Partial<AffinityConfig> = {}): AffinityConfig {
  return {
    cookieName: "pin",
    path: "/",
    domain: null,
    sameSite: "Lax",
    secure: true,
    httpOnly: true,
    maxAgeSeconds: 3600,
    idleTimeoutSeconds: null,
    scope: "Endpoint",
    onEndpointLoss: "Repin",
    drainTimeoutSeconds: null,
    ...overrides,
  };
}

function cluster(overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name: "default/app:80",
    protocol: "HTTP",
    backends: [backend("default/app", [endpoint(1), endpoint(2)])],
    balancer: "RoundRobin",
    affinity: affinity(),
    upstreamTls: null,
    healthCheck: {
      active: null,
      passive: { consecutiveFailures: 3, ejectionTimeMs: 30_000, maxEjectionPercent: 50 },
    },
    timeouts: { connectMs: 1000, responseMs: 1000, upstreamIdleMs: 1000 },
    maxRequestBodyBytes: 1024,
    retryAttempts: 1,
    ...overrides,
  };
}

/** A fake clock, recording metrics, and a deterministic rng. */
function harness() {
  const clock = { now: START };
  const affinityEvents: AffinityEvent[] = [];
  const health: Array<[string, boolean]> = [];
  const forgotten: Array<ReadonlyMap<string, ReadonlySet<string>>> = [];
  const metrics: ProxyMetrics = {
    ...noopMetrics,
    affinity: (_cluster, event) => affinityEvents.push(event),
    endpointHealth: (_cluster, id, healthy) => health.push([id, healthy]),
    forgetEndpoints: (live) => forgotten.push(live),
  };
  let seed = 1;
  const deps: ClusterDeps = {
    now: () => clock.now,
    affinityKeys: [KEY],
    metrics,
    random: () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    },
  };
  return { clock, deps, affinityEvents, health, forgotten };
}

/** The Cookie header a browser would send back after a response carrying `pick`. */
function cookieFrom(pick: Pick | undefined): string {
  assert.ok(pick?.setCookie, "expected a Set-Cookie");
  return pick.setCookie.split(";")[0] as string;
}

function must(pick: Pick | undefined): Pick {
  assert.ok(pick, "expected a pick");
  return pick;
}

test("no affinity: round robin over the endpoints, no cookie", () => {
  const { deps } = harness();
  const runtime = new ClusterRuntime(cluster({ affinity: null }), deps);
  const picks = Array.from({ length: 4 }, () => must(runtime.pick({ cookieHeader: undefined })));
  assert.deepEqual(
    picks.map((p) => p.endpoint.address),
    ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"],
  );
  assert.ok(picks.every((p) => p.setCookie === undefined && p.affinity === undefined));
});

test("weighted backends: 1:3 across two Services, weight 0 never", () => {
  const { deps } = harness();
  const runtime = new ClusterRuntime(
    cluster({
      affinity: null,
      backends: [
        backend("default/a", [endpoint(1)], 1),
        backend("default/b", [endpoint(2), endpoint(3)], 3),
        backend("default/c", [endpoint(4)], 0),
      ],
    }),
    deps,
  );
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const service = must(runtime.pick({ cookieHeader: undefined })).endpoint.service;
    counts.set(service, (counts.get(service) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { "default/b": 300, "default/a": 100 });
});

test("a backend without eligible endpoints hands its share to the next one", () => {
  const { deps } = harness();
  const runtime = new ClusterRuntime(
    cluster({
      affinity: null,
      backends: [
        backend("default/a", [endpoint(1, { ready: false, serving: false })], 5),
        backend("default/b", [endpoint(2)], 1),
      ],
    }),
    deps,
  );
  for (let i = 0; i < 10; i++) {
    assert.equal(must(runtime.pick({ cookieHeader: undefined })).endpoint.service, "default/b");
  }
});

test("nothing ready: serving terminating endpoints are the last resort; nothing serving: no pick", () => {
  const { deps } = harness();
  const terminating = { ready: false, serving: true, terminating: true };
  const runtime = new ClusterRuntime(
    cluster({ affinity: null, backends: [backend("default/a", [endpoint(1, terminating)])] }),
    deps,
  );
  assert.equal(must(runtime.pick({ cookieHeader: undefined })).endpoint.id, endpoint(1).id);
  const gone = new ClusterRuntime(
    cluster({
      affinity: null,
      backends: [backend("default/a", [endpoint(1, { ...terminating, serving: false })])],
    }),
    deps,
  );
  assert.equal(gone.pick({ cookieHeader: undefined }), undefined);
});

test("least request: the less loaded endpoint is preferred", () => {
  const { deps } = harness();
  const runtime = new ClusterRuntime(cluster({ affinity: null, balancer: "LeastRequest" }), deps);
  const busy = runtime.endpoint(endpoint(1).id) as EndpointState;
  for (let i = 0; i < 5; i++) runtime.requestStarted(busy);
  for (let i = 0; i < 50; i++) {
    assert.equal(must(runtime.pick({ cookieHeader: undefined })).endpoint.id, endpoint(2).id);
  }
  for (let i = 0; i < 5; i++) runtime.requestFinished(busy, "success");
  assert.equal(busy.health.inFlight, 0);
});

test("affinity: no cookie → new pin; 1,000 picks with that cookie all reach the same endpoint", () => {
  const { deps, affinityEvents } = harness();
  const runtime = new ClusterRuntime(cluster(), deps);
  const first = must(runtime.pick({ cookieHeader: undefined }));
  assert.equal(first.affinity, "new");
  const cookie = cookieFrom(first);
  for (let i = 0; i < 1000; i++) {
    const pick = must(runtime.pick({ cookieHeader: `other=1; ${cookie}` }));
    assert.equal(pick.endpoint, first.endpoint);
    assert.equal(pick.affinity, "hit");
    assert.equal(pick.setCookie, undefined);
  }
  assert.equal(affinityEvents.filter((e) => e === "hit").length, 1000);
  assert.deepEqual(affinityEvents.slice(0, 1), ["new"]);
});

test("affinity: every replica honours a cookie another replica issued", () => {
  const a = harness();
  const b = harness();
  const replicaA = new ClusterRuntime(cluster({ balancer: "LeastRequest" }), a.deps);
  const replicaB = new ClusterRuntime(cluster({ balancer: "LeastRequest" }), b.deps);
  const issued = must(replicaA.pick({ cookieHeader: undefined }));
  for (let i = 0; i < 20; i++) {
    const pick = must(replicaB.pick({ cookieHeader: cookieFrom(issued) }));
    assert.equal(pick.endpoint.id, issued.endpoint.id);
  }
});

test("affinity: tampered, wrong-key and other-cluster cookies are ignored and re-issued", () => {
  const { deps, clock } = harness();
  const runtime = new ClusterRuntime(cluster(), deps);
  const cookie = cookieFrom(runtime.pick({ cookieHeader: undefined }));
  const value = cookie.slice("pin=".length);
  const bytes = Buffer.from(value, "base64url");
  bytes[3] = (bytes[3] as number) ^ 0x01;
  const other = new ClusterRuntime(cluster({ name: "default/other:80" }), deps);
  const wrongKey = new ClusterRuntime(cluster(), { ...deps, affinityKeys: [Buffer.alloc(32, 9)] });
  const forgeries = [
    `pin=${bytes.toString("base64url")}`,
    `pin=${value.slice(0, 40)}`,
    cookieFrom(other.pick({ cookieHeader: undefined })),
    cookieFrom(wrongKey.pick({ cookieHeader: undefined })),
    "pin=10.0.0.1:8080",
  ];
  for (const forged of forgeries) {
    const pick = must(runtime.pick({ cookieHeader: forged }));
    assert.equal(pick.affinity, "invalid", forged);
    assert.ok(pick.setCookie, forged);
    // The re-issued cookie works.
    const next = must(runtime.pick({ cookieHeader: cookieFrom(pick) }));
    assert.equal(next.affinity, "hit");
    assert.equal(next.endpoint, pick.endpoint);
  }
  // Expired: re-issued too.
  clock.now += 3600 * 1000;
  const expired = must(runtime.pick({ cookieHeader: cookie }));
  assert.equal(expired.affinity, "invalid");
  assert.ok(expired.setCookie);
});

test("affinity: idle-expired cookies are re-issued; active ones refreshed at most once a minute", () => {
  const { deps, clock } = harness();
  const runtime = new ClusterRuntime(
    cluster({ affinity: affinity({ idleTimeoutSeconds: 300 }) }),
    deps,
  );
  const first = must(runtime.pick({ cookieHeader: undefined }));
  let cookie = cookieFrom(first);
  let refreshes = 0;
  // An active user, one request every 10 s for 20 minutes: stays pinned, gets ~1 refresh a minute.
  for (let t = 0; t < 120; t++) {
    clock.now += 10_000;
    const pick = must(runtime.pick({ cookieHeader: cookie }));
    assert.equal(pick.affinity, "hit");
    assert.equal(pick.endpoint, first.endpoint);
    if (pick.setCookie) {
      refreshes++;
      cookie = cookieFrom(pick);
    }
  }
  assert.equal(refreshes, 20);
  // Then idle for longer than the idle timeout: re-issued.
  clock.now += 301_000;
  const idle = must(runtime.pick({ cookieHeader: cookie }));
  assert.equal(idle.affinity, "invalid");
  assert.ok(idle.setCookie);
});

test("affinity: pinned endpoint removed by a config swap → repin with a new cookie", () => {
  const { deps } = harness();
  const before = new ClusterRuntime(cluster(), deps);
  const first = must(before.pick({ cookieHeader: undefined }));
  const remaining = first.endpoint.id === endpoint(1).id ? endpoint(2) : endpoint(1);
  const after = new ClusterRuntime(
    cluster({ backends: [backend("default/app", [remaining])] }),
    deps,
    before,
  );
  const repinned = must(after.pick({ cookieHeader: cookieFrom(first) }));
  assert.equal(repinned.affinity, "repin");
  assert.equal(repinned.endpoint.id, remaining.id);
  const again = must(after.pick({ cookieHeader: cookieFrom(repinned) }));
  assert.equal(again.affinity, "hit");
  assert.equal(again.setCookie, undefined);
});

test("affinity: a pinned endpoint excluded by a retry is re-pinned", () => {
  const { deps } = harness();
  const runtime = new ClusterRuntime(cluster(), deps);
  const first = must(runtime.pick({ cookieHeader: undefined }));
  const retry = must(
    runtime.pick({ cookieHeader: cookieFrom(first) }, new Set([first.endpoint.id])),
  );
  assert.equal(retry.affinity, "repin");
  assert.notEqual(retry.endpoint.id, first.endpoint.id);
  assert.ok(retry.setCookie);
  assert.equal(
    runtime.pick({ cookieHeader: undefined }, new Set([endpoint(1).id, endpoint(2).id])),
    undefined,
  );
});

test("affinity Repin: a pinned endpoint that starts terminating is re-pinned at once", () => {
  const { deps } = harness();
  const before = new ClusterRuntime(cluster(), deps);
  const first = must(before.pick({ cookieHeader: undefined }));
  const after = new ClusterRuntime(
    cluster({
      backends: [
        backend(
          "default/app",
          [1, 2].map((n) =>
            endpoint(
              n,
              endpoint(n).id === first.endpoint.id ? { ready: false, terminating: true } : {},
            ),
          ),
        ),
      ],
    }),
    deps,
    before,
  );
  const pick = must(after.pick({ cookieHeader: cookieFrom(first) }));
  assert.equal(pick.affinity, "repin");
  assert.notEqual(pick.endpoint.id, first.endpoint.id);
});

test("affinity Drain: keeps the pinned terminating endpoint until its deadline, then re-pins", () => {
  const { deps, clock } = harness();
  const drain = affinity({ onEndpointLoss: "Drain", drainTimeoutSeconds: 60 });
  const before = new ClusterRuntime(cluster({ affinity: drain }), deps);
  const first = must(before.pick({ cookieHeader: undefined }));
  const cookie = cookieFrom(first);
  const terminatingConfig = cluster({
    affinity: drain,
    backends: [
      backend(
        "default/app",
        [1, 2].map((n) =>
          endpoint(
            n,
            endpoint(n).id === first.endpoint.id ? { ready: false, terminating: true } : {},
          ),
        ),
      ),
    ],
  });
  clock.now += 5_000;
  const during = new ClusterRuntime(terminatingConfig, deps, before);
  assert.equal(during.endpoint(first.endpoint.id)?.health.terminatingSince, START + 5_000);
  clock.now += 50_000;
  // A later swap (same endpoints) keeps the first-seen time: the deadline does not move.
  const later = new ClusterRuntime(terminatingConfig, deps, during);
  assert.equal(later.endpoint(first.endpoint.id)?.health.terminatingSince, START + 5_000);
  for (let i = 0; i < 10; i++) {
    const pick = must(later.pick({ cookieHeader: cookie }));
    assert.equal(pick.affinity, "drain");
    assert.equal(pick.endpoint.id, first.endpoint.id);
    assert.equal(pick.setCookie, undefined);
  }
  // New users never land on the terminating endpoint.
  for (let i = 0; i < 10; i++) {
    assert.notEqual(must(later.pick({ cookieHeader: undefined })).endpoint.id, first.endpoint.id);
  }
  clock.now = START + 5_000 + 60_000;
  const after = must(later.pick({ cookieHeader: cookie }));
  assert.equal(after.affinity, "repin");
  assert.notEqual(after.endpoint.id, first.endpoint.id);
  assert.ok(after.setCookie);
});

test("affinity Drain: a terminating endpoint that stopped serving is re-pinned before the deadline", () => {
  const { deps } = harness();
  const drain = affinity({ onEndpointLoss: "Drain", drainTimeoutSeconds: 600 });
  const before = new ClusterRuntime(cluster({ affinity: drain }), deps);
  const first = must(before.pick({ cookieHeader: undefined }));
  const after = new ClusterRuntime(
    cluster({
      affinity: drain,
      backends: [
        backend(
          "default/app",
          [1, 2].map((n) =>
            endpoint(
              n,
              endpoint(n).id === first.endpoint.id
                ? { ready: false, serving: false, terminating: true }
                : {},
            ),
          ),
        ),
      ],
    }),
    deps,
    before,
  );
  assert.equal(must(after.pick({ cookieHeader: cookieFrom(first) })).affinity, "repin");
});

test("affinity scope Service: the cookie pins the Service, endpoints are balanced inside it", () => {
  const { deps } = harness();
  const config = cluster({
    affinity: affinity({ scope: "Service" }),
    backends: [
      backend("default/a", [endpoint(1), endpoint(2)]),
      backend("default/b", [endpoint(3), endpoint(4)]),
    ],
  });
  const runtime = new ClusterRuntime(config, deps);
  const first = must(runtime.pick({ cookieHeader: undefined }));
  const service = first.endpoint.service;
  const cookie = cookieFrom(first);
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const pick = must(runtime.pick({ cookieHeader: cookie }));
    assert.equal(pick.affinity, "hit");
    assert.equal(pick.endpoint.service, service);
    seen.add(pick.endpoint.id);
  }
  assert.equal(seen.size, 2, "both endpoints of the pinned Service serve");
  // The Service goes away: re-pinned to the other one.
  const otherService = service === "default/a" ? "default/b" : "default/a";
  const after = new ClusterRuntime(
    { ...config, backends: config.backends.filter((b) => b.service === otherService) },
    deps,
    runtime,
  );
  const repin = must(after.pick({ cookieHeader: cookie }));
  assert.equal(repin.affinity, "repin");
  assert.equal(repin.endpoint.service, otherService);
  assert.equal(serviceAffinityId(otherService).length, 16);
});

test("passive health: consecutive failures eject; a success resets the count", () => {
  const { deps, clock, health } = harness();
  const runtime = new ClusterRuntime(cluster({ affinity: null }), deps);
  const target = runtime.endpoint(endpoint(1).id) as EndpointState;
  for (const outcome of [
    "connectFailure",
    "timeout",
    "success",
    "serverError",
    "aborted",
  ] as const) {
    runtime.requestStarted(target);
    runtime.requestFinished(target, outcome);
  }
  assert.equal(target.health.consecutiveFailures, 1, "success reset it, aborted did not count");
  assert.equal(target.ejectedAt(clock.now), false);
  for (let i = 0; i < 2; i++) runtime.requestFinished(target, "serverError");
  assert.equal(target.ejectedAt(clock.now), true);
  assert.deepEqual(health.at(-1), [target.id, false]);
  for (let i = 0; i < 10; i++) {
    assert.equal(must(runtime.pick({ cookieHeader: undefined })).endpoint.id, endpoint(2).id);
  }
  // After ejectionTimeMs it is back, and the metric says so.
  clock.now += 30_000;
  const ids = new Set(
    Array.from({ length: 4 }, () => must(runtime.pick({ cookieHeader: undefined })).endpoint.id),
  );
  assert.equal(ids.size, 2);
  assert.deepEqual(health.at(-1), [target.id, true]);
});

test("passive health: never more than maxEjectionPercent of a backend at once, but at least one", () => {
  const { deps, clock } = harness();
  const fail = (runtime: ClusterRuntime, n: number): void => {
    const state = runtime.endpoint(endpoint(n).id) as EndpointState;
    for (let i = 0; i < 3; i++) runtime.requestFinished(state, "connectFailure");
  };
  const ejected = (runtime: ClusterRuntime): number =>
    runtime.endpoints.filter((e) => e.ejectedAt(clock.now)).length;
  const four = new ClusterRuntime(
    cluster({
      affinity: null,
      backends: [
        backend(
          "default/app",
          [1, 2, 3, 4].map((n) => endpoint(n)),
        ),
      ],
    }),
    deps,
  );
  for (const n of [1, 2, 3, 4]) fail(four, n);
  assert.equal(ejected(four), 2, "50% of 4");
  const one = new ClusterRuntime(
    cluster({
      affinity: null,
      backends: [backend("default/app", [endpoint(1)])],
      healthCheck: {
        active: null,
        passive: { consecutiveFailures: 3, ejectionTimeMs: 1000, maxEjectionPercent: 10 },
      },
    }),
    deps,
  );
  fail(one, 1);
  assert.equal(ejected(one), 1, "at least one may always be ejected");
  assert.equal(one.pick({ cookieHeader: undefined }), undefined);
});

test("a config swap carries health, ejection, in-flight counts and terminating time over", () => {
  const { deps, clock, forgotten } = harness();
  const registry = new ClusterRegistry(deps);
  const base = cluster({ affinity: null });
  const proxyConfig = (clusters: ClusterConfig[]): ProxyConfig => ({
    schemaVersion: "portcullis.dev/proxy-config/v1alpha1",
    version: "0".repeat(64),
    sources: [],
    listener: {
      defaultCertificate: null,
      unknownServerName: "Reject",
      sessionTicketRotationSeconds: 60,
    },
    certificates: [],
    caBundles: [],
    virtualHosts: [],
    passthrough: [],
    clusters,
  });
  registry.apply(proxyConfig([base]));
  const before = registry.get(base.name) as ClusterRuntime;
  const one = before.endpoint(endpoint(1).id) as EndpointState;
  const two = before.endpoint(endpoint(2).id) as EndpointState;
  for (let i = 0; i < 3; i++) before.requestFinished(one, "timeout");
  before.requestStarted(two);
  before.requestStarted(two);
  before.requestFinished(two, "connectFailure");

  registry.apply(
    proxyConfig([
      {
        ...base,
        backends: [backend("default/app", [endpoint(1), endpoint(2), endpoint(3)])],
      },
    ]),
  );
  const after = registry.get(base.name) as ClusterRuntime;
  assert.notEqual(after, before);
  const oneAfter = after.endpoint(endpoint(1).id) as EndpointState;
  const twoAfter = after.endpoint(endpoint(2).id) as EndpointState;
  assert.equal(oneAfter.ejectedAt(clock.now), true);
  assert.equal(twoAfter.health.inFlight, 1);
  assert.equal(twoAfter.health.consecutiveFailures, 1);
  // A request still in flight through the old runtime finishes into the shared state.
  before.requestFinished(two, "success");
  assert.equal(twoAfter.health.inFlight, 0);
  assert.equal(twoAfter.health.consecutiveFailures, 0);
  assert.equal(after.endpoint(endpoint(3).id)?.health.inFlight, 0);
  assert.deepEqual([...(forgotten.at(-1)?.get(base.name) ?? [])].sort(), [
    endpoint(1).id,
    endpoint(2).id,
    endpoint(3).id,
  ]);
  // A cluster that disappears is dropped.
  registry.apply(proxyConfig([]));
  assert.equal(registry.get(base.name), undefined);
  assert.equal(forgotten.at(-1)?.size, 0);
  registry.stop();
});

test("registry: a config whose runtime cannot be built leaves the previous runtimes in place", () => {
  const { deps } = harness();
  const registry = new ClusterRegistry({ ...deps, affinityKeys: [] });
  const noAffinity = cluster({ name: "plain", affinity: null });
  const base = {
    schemaVersion: "portcullis.dev/proxy-config/v1alpha1" as const,
    version: "0".repeat(64),
    sources: [],
    listener: {
      defaultCertificate: null,
      unknownServerName: "Reject" as const,
      sessionTicketRotationSeconds: 60,
    },
    certificates: [],
    caBundles: [],
    virtualHosts: [],
    passthrough: [],
  };
  registry.apply({ ...base, clusters: [noAffinity] });
  const kept = registry.get("plain");
  assert.throws(() => registry.apply({ ...base, clusters: [noAffinity, cluster()] }));
  assert.equal(registry.get("plain"), kept);
});

test("active health: thresholds mark endpoints unhealthy and healthy again", () => {
  const { deps, health } = harness();
  const runtime = new ClusterRuntime(
    cluster({
      affinity: null,
      healthCheck: {
        active: {
          path: "/healthz",
          intervalMs: 1000,
          timeoutMs: 500,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
        },
        passive: null,
      },
    }),
    deps,
  );
  const one = runtime.endpoint(endpoint(1).id) as EndpointState;
  runtime.recordProbeResult(one, false);
  runtime.recordProbeResult(one, false);
  assert.equal(one.health.activeHealthy, true);
  runtime.recordProbeResult(one, false);
  assert.equal(one.health.activeHealthy, false);
  assert.deepEqual(health.at(-1), [one.id, false]);
  for (let i = 0; i < 5; i++) {
    assert.equal(must(runtime.pick({ cookieHeader: undefined })).endpoint.id, endpoint(2).id);
  }
  runtime.recordProbeResult(one, true);
  assert.equal(one.health.activeHealthy, false);
  runtime.recordProbeResult(one, true);
  assert.equal(one.health.activeHealthy, true);
  assert.deepEqual(health.at(-1), [one.id, true]);
});

test("active health: the probe loop runs on (mocked) timers and stop() ends it", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { deps } = harness();
    const runtime = new ClusterRuntime(
      cluster({
        affinity: null,
        healthCheck: {
          active: {
            path: "/healthz",
            intervalMs: 1000,
            timeoutMs: 500,
            healthyThreshold: 1,
            unhealthyThreshold: 1,
          },
          passive: null,
        },
      }),
      deps,
    );
    const probed: string[] = [];
    let answer = false;
    runtime.startActiveChecks(async (endpointState, _check, signal) => {
      assert.equal(signal.aborted, false);
      probed.push(endpointState.id);
      return answer;
    });
    const flush = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
    };
    // Every first probe falls within the first interval (jittered start).
    mock.timers.tick(1000);
    await flush();
    assert.deepEqual([...probed].sort(), [endpoint(1).id, endpoint(2).id]);
    assert.ok(runtime.endpoints.every((e) => !e.health.activeHealthy));
    assert.equal(runtime.pick({ cookieHeader: undefined }), undefined);
    answer = true;
    mock.timers.tick(1000);
    await flush();
    assert.equal(probed.length, 4);
    assert.ok(runtime.endpoints.every((e) => e.health.activeHealthy));
    runtime.stop();
    mock.timers.tick(5000);
    await flush();
    assert.equal(probed.length, 4, "no probe after stop()");
  } finally {
    mock.timers.reset();
  }
});

test("active health: a probe that rejects or outlives its timeout counts as a failure", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { deps } = harness();
    const runtime = new ClusterRuntime(
      cluster({
        affinity: null,
        backends: [backend("default/app", [endpoint(1)])],
        healthCheck: {
          active: {
            path: "/healthz",
            intervalMs: 1000,
            timeoutMs: 100,
            healthyThreshold: 1,
            unhealthyThreshold: 1,
          },
          passive: null,
        },
      }),
      deps,
    );
    let aborted = false;
    runtime.startActiveChecks(
      (_endpoint, _check, signal) =>
        new Promise((resolve) => {
          signal.addEventListener("abort", () => {
            aborted = true;
            resolve(true);
          });
        }),
    );
    mock.timers.tick(1000);
    mock.timers.tick(100);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(aborted, true);
    assert.equal(runtime.endpoints[0]?.health.activeHealthy, false);
    runtime.stop();
  } finally {
    mock.timers.reset();
  }
});

test("balancer positions survive config swaps: a swap after every pick keeps the shares even", () => {
  const { deps } = harness();
  const config = cluster({
    affinity: null,
    backends: [
      backend("default/a", [endpoint(1), endpoint(2)]),
      backend("default/b", [endpoint(3), endpoint(4)]),
    ],
  });
  let runtime = new ClusterRuntime(config, deps);
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const id = must(runtime.pick({ cookieHeader: undefined })).endpoint.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    runtime = new ClusterRuntime(config, deps, runtime);
  }
  assert.deepEqual([...counts.values()], [100, 100, 100, 100]);
});

test("registry: rotating the affinity keys keeps existing pins valid", () => {
  const { deps } = harness();
  const registry = new ClusterRegistry(deps);
  const config: ProxyConfig = {
    schemaVersion: "portcullis.dev/proxy-config/v1alpha1",
    version: "0".repeat(64),
    sources: [],
    listener: {
      defaultCertificate: null,
      unknownServerName: "Reject",
      sessionTicketRotationSeconds: 60,
    },
    certificates: [],
    caBundles: [],
    virtualHosts: [],
    passthrough: [],
    clusters: [cluster()],
  };
  registry.apply(config);
  const name = cluster().name;
  const first = must(registry.get(name)?.pick({ cookieHeader: undefined }));
  const newKey = Buffer.alloc(32, 8);
  registry.setAffinityKeys([newKey, KEY]);
  const pinned = must(registry.get(name)?.pick({ cookieHeader: cookieFrom(first) }));
  assert.equal(pinned.affinity, "hit");
  assert.equal(pinned.endpoint.id, first.endpoint.id);
  registry.setAffinityKeys([newKey]);
  assert.equal(
    must(registry.get(name)?.pick({ cookieHeader: cookieFrom(first) })).affinity,
    "invalid",
  );
  registry.stop();
});
