// ProxyMetrics on prom-client. Every metric family is documented in docs/metrics.md; keep the two in
// step. Label values come only from the applied config (route sources, cluster names, endpoint ids,
// certificate names) or small fixed sets (status codes, outcomes), never from request data, so the
// number of series is bounded by the config.
//
// request() and affinity() run once per request and handshake() once per connection, so each labelled
// child is looked up once and then kept in a Map, with no label objects built per call. They go
// further: they only add to private numbers (a pending count per series, a LabelledHistogram for
// durations), handed to prom-client when the registry is read, because prom-client re-derives a
// series key from a label object on every inc/observe. Measured with the proxy at a fixed 1,500
// requests/s: leaving request() out entirely saved 5-10 % of the proxy's CPU; this version, together
// with the access log's batched writes, saved about 4 % (docs/performance.md).
//
// The proxy runs one worker process per core and /metrics sums them (worker-metrics.ts); each family's
// `aggregator` says how its values combine across workers.
import type { Metric } from "prom-client";
import { type HistogramSeries, LabelledHistogram } from "./duration-histogram.ts";
import type { AffinityEvent, HandshakeKind, ProxyMetrics, UpstreamFailure } from "./ports.ts";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "./prom-client-parts.ts";

/** Prefix of every metric this module defines (prom-client's default process metrics keep theirs). */
export const METRIC_PREFIX = "portcullis_";

/**
 * Request duration buckets in seconds: 1 ms to 10 s. A proxy's own overhead sits in the low
 * milliseconds and backends' answers in tens to hundreds of milliseconds; above 10 s is a timeout story
 * that +Inf and the timeout metrics tell.
 */
export const REQUEST_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** ProxyMetrics backed by a prom-client registry that the admin server renders. */
export interface PrometheusMetrics extends ProxyMetrics {
  /** The registry holding every family below (and the default process metrics, unless disabled). */
  readonly registry: Registry;
}

export interface PrometheusMetricsOptions {
  /**
   * Also register prom-client's default process metrics (CPU, memory, event loop lag, GC).
   * Default true; tests that build many registries turn it off to avoid many event-loop monitors.
   */
  defaultMetrics?: boolean;
}

type CounterChild = ReturnType<Counter<string>["labels"]>;
type GaugeChild = ReturnType<Gauge<string>["labels"]>;
/** One counter series and what it counted since the registry was last read. */
interface PendingCount {
  child: CounterChild;
  pending: number;
}

/** Cached series of one route: its latency histogram and its request counters by cluster, then status. */
interface RouteSeries {
  duration: HistogramSeries;
  byCluster: Map<string, Map<number, PendingCount>>;
}

/** Cached children of one cluster's per-cluster counters. */
interface ClusterSeries {
  affinity: Map<AffinityEvent, PendingCount>;
  failures: Map<UpstreamFailure, CounterChild>;
  retries: CounterChild;
}

/**
 * The status label: the code itself for a valid HTTP status (a bounded set), "other" for anything else,
 * so a misbehaving caller cannot mint unbounded series.
 */
function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : "other";
}

/** Hands what each series counted since the last read to prom-client (a counter's `collect`). */
function handOver(counts: Iterable<PendingCount>): void {
  for (const count of counts) {
    if (count.pending === 0) continue;
    count.child.inc(count.pending);
    count.pending = 0;
  }
}

/** Returns `map.get(key)`, first storing `make()` there when it is missing. */
function cached<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/**
 * Creates the proxy's metric families in `registry` (a fresh one by default) and returns the
 * ProxyMetrics that record into them. Call once per process: registering the same names twice in one
 * registry throws.
 */
export function createPrometheusMetrics(
  registry: Registry = new Registry(),
  options: PrometheusMetricsOptions = {},
): PrometheusMetrics {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const routes = new Map<string, RouteSeries>();
  const requests = new Counter({
    name: `${METRIC_PREFIX}requests_total`,
    help: "Requests answered, by route (config source), cluster and HTTP status code.",
    labelNames: ["route", "cluster", "code"] as const,
    registers,
    // Runs before every read of the registry: hand over what request() counted since the last one.
    collect() {
      for (const routeSeries of routes.values()) {
        for (const byStatus of routeSeries.byCluster.values()) handOver(byStatus.values());
      }
    },
  });
  const duration = new LabelledHistogram({
    name: `${METRIC_PREFIX}request_duration_seconds`,
    help: "Time from the request's arrival to the end of the response, by route.",
    labelName: "route",
    buckets: REQUEST_DURATION_BUCKETS,
  });
  // prom-client's Registry reads any object with name, help, type, aggregator, get() and reset(); its
  // type declarations list only prom-client's own classes.
  registry.registerMetric(duration as unknown as Metric);
  const handshakes = new Counter({
    name: `${METRIC_PREFIX}tls_handshakes_total`,
    help: "TLS handshakes completed on the HTTPS listener, full or resumed from a session ticket.",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      handOver(handshakeCounts.values());
    },
  });
  const affinityEvents = new Counter({
    name: `${METRIC_PREFIX}affinity_events_total`,
    help: "Cookie affinity decisions by cluster: hit, new, repin, drain, invalid.",
    labelNames: ["cluster", "event"] as const,
    registers,
    collect() {
      for (const series of clusters.values()) handOver(series.affinity.values());
    },
  });
  const upstreamFailures = new Counter({
    name: `${METRIC_PREFIX}upstream_failures_total`,
    help: "Failed attempts to reach an endpoint, by cluster and kind of failure.",
    labelNames: ["cluster", "failure"] as const,
    registers,
  });
  const retries = new Counter({
    name: `${METRIC_PREFIX}retries_total`,
    help: "Requests retried on another endpoint after a failed attempt, by cluster.",
    labelNames: ["cluster"] as const,
    registers,
  });
  const endpointHealthy = new Gauge({
    name: `${METRIC_PREFIX}endpoint_healthy`,
    help: "1 while an endpoint takes traffic, 0 while ejected or failing active checks.",
    labelNames: ["cluster", "endpoint"] as const,
    // Each worker judges health on its own; the fleet view is the worst one.
    aggregator: "min",
    registers,
  });
  const certificateExpiry = new Gauge({
    name: `${METRIC_PREFIX}certificate_expiry_timestamp_seconds`,
    help: "Expiry (notAfter) of a served certificate, as a Unix time in seconds.",
    labelNames: ["certificate"] as const,
    // A worker still serving an older certificate must show through: take the earliest expiry.
    aggregator: "min",
    registers,
  });
  const certificateReloads = new Counter({
    name: `${METRIC_PREFIX}certificate_reloads_total`,
    help: "Certificate reloads after their files changed, by certificate and outcome (ok, error).",
    labelNames: ["certificate", "outcome"] as const,
    registers,
  });
  const configApplies = new Counter({
    name: `${METRIC_PREFIX}config_applies_total`,
    help: "Proxy configs offered to the proxy, by outcome (ok, rejected).",
    labelNames: ["outcome"] as const,
    registers,
  });
  const configInfo = new Gauge({
    name: `${METRIC_PREFIX}config_info`,
    help: "1 for the version (content hash) of the applied proxy config.",
    labelNames: ["version"] as const,
    // Every worker reports 1 for the same version; summing would report the number of workers.
    aggregator: "max",
    registers,
  });
  const openConnections = new Gauge({
    name: `${METRIC_PREFIX}open_connections`,
    help: "Client connections currently open on the proxy's listeners.",
    registers,
  });

  const clusters = new Map<string, ClusterSeries>();
  const endpoints = new Map<string, Map<string, GaugeChild>>();
  const handshakeCounts = new Map<HandshakeKind, PendingCount>();
  const applyChildren = new Map<string, CounterChild>();

  const clusterSeries = (cluster: string): ClusterSeries =>
    cached(clusters, cluster, () => ({
      affinity: new Map(),
      failures: new Map(),
      retries: retries.labels(cluster),
    }));

  /** Removes every cached per-cluster series (request counters included) of a cluster that is gone. */
  const forgetCluster = (cluster: string): void => {
    const series = clusters.get(cluster);
    if (series) {
      for (const event of series.affinity.keys()) affinityEvents.remove(cluster, event);
      for (const failure of series.failures.keys()) upstreamFailures.remove(cluster, failure);
      retries.remove(cluster);
      clusters.delete(cluster);
    }
    for (const [route, routeSeries] of routes) {
      const byStatus = routeSeries.byCluster.get(cluster);
      if (!byStatus) continue;
      for (const status of byStatus.keys()) requests.remove(route, cluster, statusLabel(status));
      routeSeries.byCluster.delete(cluster);
      // A route left with no cluster is almost always a deleted route: drop its histogram too.
      if (routeSeries.byCluster.size === 0) {
        duration.remove(route);
        routes.delete(route);
      }
    }
  };

  return {
    registry,

    handshake(kind) {
      cached(handshakeCounts, kind, () => ({ child: handshakes.labels(kind), pending: 0 }))
        .pending++;
    },

    request(route, cluster, status, seconds) {
      const routeSeries = cached(routes, route, () => ({
        duration: duration.series(route),
        byCluster: new Map(),
      }));
      const byStatus = cached(routeSeries.byCluster, cluster, () => new Map());
      cached(byStatus, status, () => ({
        child: requests.labels(route, cluster, statusLabel(status)),
        pending: 0,
      })).pending++;
      if (Number.isFinite(seconds) && seconds >= 0) duration.observe(routeSeries.duration, seconds);
    },

    affinity(cluster, event) {
      const series = clusterSeries(cluster);
      cached(series.affinity, event, () => ({
        child: affinityEvents.labels(cluster, event),
        pending: 0,
      })).pending++;
    },

    upstreamFailure(cluster, failure) {
      const series = clusterSeries(cluster);
      cached(series.failures, failure, () => upstreamFailures.labels(cluster, failure)).inc();
    },

    retry(cluster) {
      clusterSeries(cluster).retries.inc();
    },

    endpointHealth(cluster, endpoint, healthy) {
      const byEndpoint = cached(endpoints, cluster, () => new Map());
      cached(byEndpoint, endpoint, () => endpointHealthy.labels(cluster, endpoint)).set(
        healthy ? 1 : 0,
      );
    },

    forgetEndpoints(live) {
      for (const [cluster, byEndpoint] of endpoints) {
        const liveEndpoints = live.get(cluster);
        for (const endpoint of byEndpoint.keys()) {
          if (liveEndpoints?.has(endpoint)) continue;
          endpointHealthy.remove(cluster, endpoint);
          byEndpoint.delete(endpoint);
        }
        if (byEndpoint.size === 0) endpoints.delete(cluster);
      }
      const known = new Set([...clusters.keys()]);
      for (const routeSeries of routes.values()) {
        for (const cluster of routeSeries.byCluster.keys()) known.add(cluster);
      }
      for (const cluster of known) if (!live.has(cluster)) forgetCluster(cluster);
    },

    certificateExpiry(name, notAfterSeconds) {
      certificateExpiry.set({ certificate: name }, notAfterSeconds);
    },

    certificateReload(name, outcome) {
      certificateReloads.inc({ certificate: name, outcome });
    },

    configApplied(version, outcome) {
      cached(applyChildren, outcome, () => configApplies.labels(outcome)).inc();
      if (outcome === "ok") {
        // Exactly one version series: the one now applied.
        configInfo.reset();
        configInfo.set({ version }, 1);
      }
    },

    connections(delta) {
      if (delta >= 0) openConnections.inc(delta);
      else openConnections.dec(-delta);
    },
  };
}
