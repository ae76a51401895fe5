// Runtime state of one endpoint. What the config says (address, conditions) is immutable per config;
// what the proxy has learnt (health, ejection, in-flight requests, when it started terminating) lives in
// a separate EndpointHealth object that a config swap hands to the new EndpointState of the same id.
// Both the old and the new runtime then update the same object, so requests still in flight on the old
// config finish into the counters the new config reads: a swap loses nothing.
import type { EndpointConfig } from "../config/types.ts";

/** What the proxy has learnt about an endpoint; survives config swaps (shared by endpoint id). */
export interface EndpointHealth {
  /** When the endpoint was first seen terminating (ms, from the injected clock); undefined while not terminating. */
  terminatingSince: number | undefined;
  /** Requests currently in flight to it (what LeastRequest compares). */
  inFlight: number;
  /** Passive health: connect failures, timeouts and 5xx in a row; a success resets it. */
  consecutiveFailures: number;
  /** Passive health: ejected until this time (ms); 0 when not ejected. */
  ejectedUntil: number;
  /** Active health: false after `unhealthyThreshold` failed probes in a row, until `healthyThreshold` successes. */
  activeHealthy: boolean;
  /** Active health: successful probes in a row (counts towards healthyThreshold). */
  activeSuccesses: number;
  /** Active health: failed probes in a row (counts towards unhealthyThreshold). */
  activeFailures: number;
  /** Active health: when the next probe is due (ms); lets a config swap keep the probe cadence. */
  nextProbeAt: number | undefined;
  /** The health last reported to metrics, so only changes are reported; undefined before the first report. */
  reportedHealthy: boolean | undefined;
}

/** A fresh health record: healthy (Kubernetes readiness already vouches for a new endpoint), idle. */
export function newEndpointHealth(): EndpointHealth {
  return {
    terminatingSince: undefined,
    inFlight: 0,
    consecutiveFailures: 0,
    ejectedUntil: 0,
    activeHealthy: true,
    activeSuccesses: 0,
    activeFailures: 0,
    nextProbeAt: undefined,
    reportedHealthy: undefined,
  };
}

/** One endpoint of one backend, as a ClusterRuntime sees it. */
export class EndpointState {
  /** Stable opaque id (16 hex characters): what an affinity cookie pins; never an address. */
  readonly id: string;
  /** IPv4 or IPv6 address to connect to. */
  readonly address: string;
  /** Port to connect to. */
  readonly port: number;
  /** "namespace/name" of the Service (backend) it belongs to. */
  readonly service: string;
  /** Index of its backend in the cluster's backend list. */
  readonly backendIndex: number;
  /** EndpointSlice condition ready: eligible for new traffic. */
  readonly ready: boolean;
  /** EndpointSlice condition serving: still answers (true for a terminating pod that has not stopped). */
  readonly serving: boolean;
  /** EndpointSlice condition terminating: the pod is going away (drain candidates). */
  readonly terminating: boolean;
  /** Learnt state, shared with the EndpointState of the same id in the previous and next config. */
  readonly health: EndpointHealth;

  /**
   * Builds the state of a configured endpoint. `health` is the previous config's record for the same id
   * (carried over) or undefined for a new endpoint; `now` stamps when it was first seen terminating.
   */
  constructor(
    config: EndpointConfig,
    service: string,
    backendIndex: number,
    health: EndpointHealth | undefined,
    now: number,
  ) {
    this.id = config.id;
    this.address = config.address;
    this.port = config.port;
    this.service = service;
    this.backendIndex = backendIndex;
    this.ready = config.ready;
    this.serving = config.serving;
    this.terminating = config.terminating;
    this.health = health ?? newEndpointHealth();
    if (!config.terminating) this.health.terminatingSince = undefined;
    else this.health.terminatingSince ??= now;
  }

  /** Whether passive health has ejected it at `now` (ms). */
  ejectedAt(now: number): boolean {
    return this.health.ejectedUntil > now;
  }

  /** Healthy as far as the proxy can tell: not ejected and not failing active checks (conditions aside). */
  healthyAt(now: number): boolean {
    return this.health.activeHealthy && !this.ejectedAt(now);
  }

  /** Eligible for new (unpinned) traffic at `now`: ready and healthy. */
  eligibleAt(now: number): boolean {
    return this.ready && this.healthyAt(now);
  }
}
