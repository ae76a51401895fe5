// The runtime of one cluster: its endpoints' state, the balancer, cookie affinity, and passive and
// active health. `pick` runs on every request and is synchronous; the clock, the randomness, the
// metrics and the active probe are injected, so every rule here is testable without a network or time.

import type { BackendConfig, ClusterConfig } from "../config/types.ts";
import type { AffinityEvent, ProxyMetrics } from "../observability/ports.ts";
import { type AffinityCookie, AffinityCookieCodec, serviceAffinityId } from "./affinity-cookie.ts";
import {
  createEndpointPicker,
  type EndpointFilter,
  type EndpointPicker,
  WeightedBackendPicker,
} from "./balancer.ts";
import { EndpointState } from "./endpoint.ts";

/** How a request to an endpoint ended, as far as endpoint health is concerned. */
export type RequestOutcome = "success" | "connectFailure" | "timeout" | "serverError" | "aborted";

/** Sends one active health probe; resolves true when the endpoint is healthy. Must honour `signal`. */
export type ActiveProbe = (
  endpoint: EndpointState,
  check: ActiveCheck,
  signal: AbortSignal,
) => Promise<boolean>;

/** What an active probe needs to know besides the endpoint. */
export interface ActiveCheck {
  /** Name of the cluster the endpoint belongs to (for its TLS settings). */
  cluster: string;
  /** Path requested with GET. */
  path: string;
  timeoutMs: number;
}

/** What a ClusterRuntime needs from its surroundings. */
export interface ClusterDeps {
  /** Current time in milliseconds (Date.now in production; a fake clock in tests). */
  now(): number;
  /** Shared affinity-cookie HMAC keys: the first signs, all verify. */
  affinityKeys: readonly Buffer[];
  /** Where endpoint health and affinity events are reported. */
  metrics: ProxyMetrics;
  /** Uniform random number in [0, 1); Math.random by default. */
  random?(): number;
}

/** The parts of a request that picking looks at. */
export interface PickRequest {
  /** The Cookie header(s): a string for HTTP/1.1, possibly several for HTTP/2 (which may split cookies). */
  cookieHeader: string | readonly string[] | undefined;
  /**
   * Path of the matched route: the cookie's Path when the policy sets none, so each path with its own
   * backends keeps its own pin under the same cookie name. Default "/".
   */
  routePath?: string;
}

/** The endpoint chosen for a request, and what the response must carry for affinity. */
export interface Pick {
  /** Where to send the request. */
  endpoint: EndpointState;
  /** A Set-Cookie header value to add to the response (new pin, re-pin or refresh); undefined for none. */
  setCookie: string | undefined;
  /** What affinity did; undefined when the cluster has no affinity. */
  affinity: AffinityEvent | undefined;
}

/** One backend (Service) of the cluster with its endpoints. */
export interface BackendRuntime {
  /** The backend as configured. */
  readonly config: BackendConfig;
  /** Its endpoints, in config order. */
  readonly endpoints: readonly EndpointState[];
  /** What a Service-scoped affinity cookie carries for it (`serviceAffinityId(config.service)`). */
  readonly affinityId: string;
}

/** Identity of a backend across configs. */
function backendKey(backend: BackendConfig): string {
  return `${backend.service}:${backend.port}`;
}

/** Metrics for expired ejections are brought up to date at most this often (ms); eligibility itself is exact. */
const HEALTH_SWEEP_INTERVAL_MS = 1000;

/**
 * Runtime state of one cluster for one config. A config swap builds a new ClusterRuntime with the
 * previous one as `previous`: endpoints with the same id keep their learnt state (health, ejection,
 * in-flight count, when they started terminating) — the very same objects, so requests still in
 * flight through the previous runtime finish into the state the new one reads.
 */
export class ClusterRuntime {
  /** The cluster's name (metrics label, cookie signing context). */
  readonly name: string;
  /** The cluster as configured. */
  readonly config: ClusterConfig;
  /** Backends in config order. */
  readonly backends: readonly BackendRuntime[];
  /** Every endpoint of every backend. */
  readonly endpoints: readonly EndpointState[];

  readonly #deps: ClusterDeps;
  readonly #random: () => number;
  readonly #codec: AffinityCookieCodec | undefined;
  readonly #byId = new Map<string, EndpointState>();
  readonly #backendByAffinityId = new Map<string, number>();
  readonly #backendPicker: WeightedBackendPicker;
  readonly #endpointPickers: EndpointPicker[];
  #nextSweep = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  #probeAbort: AbortController | undefined;
  #stopped = false;

  // The context of the pick in progress. pick() is synchronous, so one set of fields (and filters
  // bound once) serves every pick without allocating closures per request.
  #pickNow = 0;
  #pickExclude: ReadonlySet<string> | undefined;
  #pickFilter: EndpointFilter;
  readonly #eligible: EndpointFilter = (endpoint) =>
    !this.#excluded(endpoint) && endpoint.eligibleAt(this.#pickNow);
  /** The last resort when nothing is ready (kube-proxy does the same): terminating endpoints still serving. */
  readonly #servingTerminating: EndpointFilter = (endpoint) =>
    !this.#excluded(endpoint) &&
    endpoint.serving &&
    endpoint.terminating &&
    endpoint.healthyAt(this.#pickNow);
  readonly #drainable: EndpointFilter = (endpoint) => this.#canDrain(endpoint);
  readonly #backendUsable = (index: number): boolean =>
    (this.backends[index] as BackendRuntime).endpoints.some(this.#pickFilter);

  /**
   * Builds the runtime of `config`. Throws only on an affinity setting the schema should have refused
   * (see AffinityCookieCodec), before touching any shared state.
   */
  constructor(config: ClusterConfig, deps: ClusterDeps, previous?: ClusterRuntime) {
    this.name = config.name;
    this.config = config;
    this.#deps = deps;
    this.#random = deps.random ?? Math.random;
    this.#codec = config.affinity
      ? new AffinityCookieCodec({
          cluster: config.name,
          affinity: config.affinity,
          keys: deps.affinityKeys,
        })
      : undefined;
    this.#pickFilter = this.#eligible;

    const now = deps.now();
    const endpoints: EndpointState[] = [];
    this.backends = config.backends.map((backend, index) => {
      const states = backend.endpoints.map(
        (endpoint) =>
          new EndpointState(
            endpoint,
            backend.service,
            index,
            previous?.endpoint(endpoint.id)?.health,
            now,
          ),
      );
      endpoints.push(...states);
      const affinityId = serviceAffinityId(backend.service);
      if (!this.#backendByAffinityId.has(affinityId))
        this.#backendByAffinityId.set(affinityId, index);
      return { config: backend, endpoints: states, affinityId };
    });
    this.endpoints = endpoints;
    for (const endpoint of endpoints) {
      if (!this.#byId.has(endpoint.id)) this.#byId.set(endpoint.id, endpoint);
      this.#reportHealth(endpoint, now);
    }
    // Balancer positions carry over per backend (same Service and port), so frequent config swaps do
    // not keep restarting the rotation on the same backend and endpoint.
    const previousIndex = new Map<string, number>();
    previous?.config.backends.forEach((b, i) => {
      previousIndex.set(backendKey(b), i);
    });
    const carried = config.backends.map((b) => previousIndex.get(backendKey(b)));
    const previousScores = previous === undefined ? [] : previous.#backendPicker.scores;
    this.#backendPicker = new WeightedBackendPicker(
      config.backends.map((b) => b.weight),
      carried.map((i) => (i === undefined ? 0 : (previousScores[i] ?? 0))),
    );
    this.#endpointPickers = config.backends.map((b, index) => {
      const from = carried[index];
      const before =
        from === undefined || previous === undefined ? undefined : previous.#endpointPickers[from];
      return createEndpointPicker(config.balancer, this.#random, b.endpoints.length, before);
    });
  }

  /** The endpoint with this id, if the cluster has it. */
  endpoint(id: string): EndpointState | undefined {
    return this.#byId.get(id);
  }

  /**
   * Chooses the endpoint for a request, honouring the affinity cookie if the cluster has affinity.
   * `exclude` holds ids of endpoints already tried (a retry): they are never picked, and a pin on one is
   * re-pinned. Returns undefined when no endpoint can take the request (the caller answers 503).
   */
  pick(request: PickRequest, exclude?: ReadonlySet<string>): Pick | undefined {
    const now = this.#deps.now();
    this.#pickNow = now;
    this.#pickExclude = exclude;
    if (now >= this.#nextSweep) this.#sweepHealth(now);
    const codec = this.#codec;
    if (codec === undefined) {
      const endpoint = this.#balance();
      return endpoint && { endpoint, setCookie: undefined, affinity: undefined };
    }

    const seconds = Math.floor(now / 1000);
    const reading = codec.read(request.cookieHeader, seconds);
    if (reading.kind === "valid") {
      const pinned = this.#pinned(reading.cookie);
      if (pinned !== undefined) {
        this.#deps.metrics.affinity(this.name, pinned.event);
        return {
          endpoint: pinned.endpoint,
          setCookie: codec.refresh(reading.cookie, seconds, request.routePath),
          affinity: pinned.event,
        };
      }
    }
    const endpoint = this.#balance();
    if (endpoint === undefined) return undefined;
    const event: AffinityEvent =
      reading.kind === "valid" ? "repin" : reading.kind === "invalid" ? "invalid" : "new";
    const { setCookie } = codec.issue(this.#affinityTarget(endpoint), seconds, request.routePath);
    this.#deps.metrics.affinity(this.name, event);
    return { endpoint, setCookie, affinity: event };
  }

  /** Counts a request as in flight to `endpoint` (LeastRequest reads it). Pair with requestFinished. */
  requestStarted(endpoint: EndpointState): void {
    endpoint.health.inFlight++;
  }

  /**
   * Records how a request to `endpoint` ended. Connect failures, timeouts and 5xx responses in a row
   * eject the endpoint (passive health) for `ejectionTimeMs`, unless that would eject more than
   * `maxEjectionPercent` of its backend's endpoints — at least one may always be ejected, or small
   * backends could never eject anything. A success resets the count; an aborted request (the client
   * went away) says nothing about the endpoint.
   */
  requestFinished(endpoint: EndpointState, outcome: RequestOutcome): void {
    const health = endpoint.health;
    if (health.inFlight > 0) health.inFlight--;
    if (outcome === "success") {
      health.consecutiveFailures = 0;
      return;
    }
    const passive = this.config.healthCheck.passive;
    if (outcome === "aborted" || passive === null) return;
    health.consecutiveFailures++;
    if (health.consecutiveFailures < passive.consecutiveFailures) return;
    const now = this.#deps.now();
    if (endpoint.ejectedAt(now) || !this.#mayEject(endpoint, now, passive.maxEjectionPercent)) {
      return;
    }
    health.ejectedUntil = now + passive.ejectionTimeMs;
    health.consecutiveFailures = 0;
    this.#reportHealth(endpoint, now);
  }

  /**
   * Feeds one active probe result: `unhealthyThreshold` failures in a row mark the endpoint unhealthy
   * (not picked), `healthyThreshold` successes in a row mark it healthy again. Called by the probe loop;
   * public so another probe driver (or a test) can feed results.
   */
  recordProbeResult(endpoint: EndpointState, healthy: boolean): void {
    const active = this.config.healthCheck.active;
    if (active === null) return;
    const health = endpoint.health;
    if (healthy) {
      health.activeFailures = 0;
      health.activeSuccesses++;
      if (!health.activeHealthy && health.activeSuccesses >= active.healthyThreshold) {
        health.activeHealthy = true;
      }
    } else {
      health.activeSuccesses = 0;
      health.activeFailures++;
      if (health.activeHealthy && health.activeFailures >= active.unhealthyThreshold) {
        health.activeHealthy = false;
      }
    }
    this.#reportHealth(endpoint, this.#deps.now());
  }

  /**
   * Starts probing every serving endpoint every `intervalMs` with `probe` (aborted after `timeoutMs`; a
   * rejection or a late answer counts as a failure). The first probe of an endpoint is at a random point
   * of its interval, so probes of many proxies and endpoints do not all fire together — or, after a
   * config swap, when the previous runtime would have probed it next. Timers are unref'd: they never
   * keep the process alive. No-op without active checks, when already started, or after stop().
   */
  startActiveChecks(probe: ActiveProbe): void {
    const active = this.config.healthCheck.active;
    if (active === null || this.#stopped || this.#probeAbort !== undefined) return;
    this.#probeAbort = new AbortController();
    const now = this.#deps.now();
    for (const endpoint of this.endpoints) {
      if (!endpoint.serving && !endpoint.ready) continue;
      const due =
        endpoint.health.nextProbeAt ?? now + Math.floor(this.#random() * active.intervalMs);
      this.#scheduleProbe(endpoint, probe, Math.max(0, due - now));
    }
  }

  /** Stops active checks: clears every timer and aborts probes in flight (their results are ignored). */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#probeAbort?.abort();
  }

  #scheduleProbe(endpoint: EndpointState, probe: ActiveProbe, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#probe(endpoint, probe);
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  async #probe(endpoint: EndpointState, probe: ActiveProbe): Promise<void> {
    const active = this.config.healthCheck.active;
    const stopSignal = this.#probeAbort?.signal;
    if (active === null || this.#stopped || stopSignal === undefined) return;
    const started = this.#deps.now();
    endpoint.health.nextProbeAt = started + active.intervalMs;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), active.timeoutMs);
    timeout.unref();
    const onStop = (): void => controller.abort();
    stopSignal.addEventListener("abort", onStop, { once: true });
    let healthy = false;
    try {
      const check = { cluster: this.name, path: active.path, timeoutMs: active.timeoutMs };
      healthy =
        (await probe(endpoint, check, controller.signal)) === true && !controller.signal.aborted;
    } catch {
      healthy = false;
    } finally {
      clearTimeout(timeout);
      stopSignal.removeEventListener("abort", onStop);
    }
    if (this.#stopped) return;
    this.recordProbeResult(endpoint, healthy);
    const next = endpoint.health.nextProbeAt ?? started + active.intervalMs;
    this.#scheduleProbe(endpoint, probe, Math.max(0, next - this.#deps.now()));
  }

  /**
   * A valid cookie's endpoint and event, or undefined when it must be re-pinned. A pin is honoured
   * whatever its backend's weight: weights share out new sessions, they do not break existing ones
   * (a weight set to 0 moves traffic away as pins expire).
   */
  #pinned(cookie: AffinityCookie): { endpoint: EndpointState; event: AffinityEvent } | undefined {
    const affinity = this.config.affinity;
    if (affinity === null) return undefined;
    const drain = affinity.onEndpointLoss === "Drain";
    if (affinity.scope === "Endpoint") {
      const endpoint = this.#byId.get(cookie.target);
      if (endpoint === undefined) return undefined;
      if (this.#eligible(endpoint)) return { endpoint, event: "hit" };
      if (drain && this.#canDrain(endpoint)) return { endpoint, event: "drain" };
      return undefined;
    }
    // Service scope: the cookie pins the backend; the balancer picks the endpoint inside it.
    const index = this.#backendByAffinityId.get(cookie.target);
    if (index === undefined) return undefined;
    const backend = this.backends[index] as BackendRuntime;
    const picker = this.#endpointPickers[index] as EndpointPicker;
    const endpoint = picker.pick(backend.endpoints, this.#eligible);
    if (endpoint !== undefined) return { endpoint, event: "hit" };
    if (!drain) return undefined;
    const draining = picker.pick(backend.endpoints, this.#drainable);
    return draining && { endpoint: draining, event: "drain" };
  }

  /**
   * Drain mode: a pinned endpoint that is terminating but still serving keeps its users until
   * `drainTimeoutSeconds` after it was first seen terminating (so sessions can finish), unless it fails
   * health checks or was already tried by this request.
   */
  #canDrain(endpoint: EndpointState): boolean {
    const timeout = this.config.affinity?.drainTimeoutSeconds ?? null;
    const since = endpoint.health.terminatingSince;
    return (
      timeout !== null &&
      since !== undefined &&
      endpoint.terminating &&
      endpoint.serving &&
      this.#pickNow < since + timeout * 1000 &&
      !this.#excluded(endpoint) &&
      endpoint.healthyAt(this.#pickNow)
    );
  }

  /** Balancer pick among eligible endpoints, falling back to serving terminating ones if none is. */
  #balance(): EndpointState | undefined {
    const endpoint =
      this.#balanceWith(this.#eligible) ?? this.#balanceWith(this.#servingTerminating);
    this.#pickFilter = this.#eligible;
    return endpoint;
  }

  #balanceWith(filter: EndpointFilter): EndpointState | undefined {
    this.#pickFilter = filter;
    const index = this.#backendPicker.pick(this.#backendUsable);
    if (index === -1) return undefined;
    const backend = this.backends[index] as BackendRuntime;
    return (this.#endpointPickers[index] as EndpointPicker).pick(backend.endpoints, filter);
  }

  #excluded(endpoint: EndpointState): boolean {
    return this.#pickExclude?.has(endpoint.id) === true;
  }

  /** What the cookie carries for an endpoint: its id, or its Service's id with scope Service. */
  #affinityTarget(endpoint: EndpointState): string {
    if (this.config.affinity?.scope === "Service") {
      return (this.backends[endpoint.backendIndex] as BackendRuntime).affinityId;
    }
    return endpoint.id;
  }

  #mayEject(endpoint: EndpointState, now: number, maxPercent: number): boolean {
    // Count within the backend as this runtime knows it (the endpoint may come from an older runtime).
    const current = this.#byId.get(endpoint.id) ?? endpoint;
    const backend = this.backends[current.backendIndex];
    if (backend === undefined) return true;
    const siblings = backend.endpoints;
    let ejected = 0;
    for (const sibling of siblings) if (sibling.ejectedAt(now)) ejected++;
    const allowed = Math.max(1, Math.floor((siblings.length * maxPercent) / 100));
    return ejected < allowed;
  }

  /** Ends expired ejections (eligibility already ignores them) so the health metric comes back up. */
  #sweepHealth(now: number): void {
    this.#nextSweep = now + HEALTH_SWEEP_INTERVAL_MS;
    for (const endpoint of this.endpoints) {
      const health = endpoint.health;
      if (health.ejectedUntil !== 0 && health.ejectedUntil <= now) {
        health.ejectedUntil = 0;
        this.#reportHealth(endpoint, now);
      }
    }
  }

  #reportHealth(endpoint: EndpointState, now: number): void {
    const healthy = endpoint.healthyAt(now);
    if (endpoint.health.reportedHealthy === healthy) return;
    endpoint.health.reportedHealthy = healthy;
    this.#deps.metrics.endpointHealth(this.name, endpoint.id, healthy);
  }
}
