// Clusters: a weighted set of backends with the settings of the effective policy. Identical clusters
// (same backends, same settings) are shared by every route that needs them; names are readable
// ("namespace/service:port") and get a content-hash suffix only when two different clusters would
// otherwise share a name, so naming does not depend on the order objects were read in.

import { contentHash } from "../../proxy/config/canonical.ts";
import type {
  AffinityConfig,
  BackendConfig,
  ClusterConfig,
  HealthCheckConfig,
  TimeoutsConfig,
} from "../../proxy/config/types.ts";
import { parseDurationMs, parseDurationSeconds } from "../api/duration.ts";
import { compareStrings } from "../api/keys.ts";
import type { AffinitySpec, HealthCheckSpec, PolicySpec, TimeoutsSpec } from "../api/policy.ts";
import type { EffectivePolicy } from "./effective.ts";

/** A cluster before it is named. */
export type ClusterDraft = Omit<ClusterConfig, "name">;

/** Signed expiry of a session affinity cookie (no maxAge): long enough for a working day. */
const SESSION_COOKIE_SECONDS = 24 * 3600;

export function buildAffinity(spec: AffinitySpec | undefined): AffinityConfig | null {
  if (!spec) return null;
  const { cookie } = spec;
  return {
    cookieName: cookie.name,
    path: cookie.path ?? null,
    domain: cookie.domain ?? null,
    sameSite: cookie.sameSite,
    secure: cookie.secure,
    httpOnly: cookie.httpOnly,
    maxAgeSeconds:
      cookie.maxAge === undefined
        ? null
        : (parseDurationSeconds(cookie.maxAge) ?? SESSION_COOKIE_SECONDS),
    idleTimeoutSeconds:
      cookie.idleTimeout === undefined ? null : (parseDurationSeconds(cookie.idleTimeout) ?? null),
    scope: spec.scope,
    onEndpointLoss: spec.onEndpointLoss,
    drainTimeoutSeconds:
      spec.onEndpointLoss === "Drain" && spec.drainTimeout !== undefined
        ? (parseDurationSeconds(spec.drainTimeout) ?? null)
        : null,
  };
}

/**
 * Durations the schema's pattern admits as "0s" but that have no zero meaning in the proxy (a
 * Max-Age of 0 deletes the cookie; a 0 timeout would not be "no timeout"). The CRD does not refuse
 * them, so the compiler does, naming each field; the caller refuses the policy as admission would.
 */
export function validatePolicyDurations(spec: PolicySpec): { field: string; message: string }[] {
  const candidates: [string, string | undefined][] = [
    ["spec.affinity.cookie.maxAge", spec.affinity?.cookie.maxAge],
    ["spec.affinity.cookie.idleTimeout", spec.affinity?.cookie.idleTimeout],
    ["spec.affinity.drainTimeout", spec.affinity?.drainTimeout],
    ["spec.healthCheck.active.interval", spec.healthCheck?.active?.interval],
    ["spec.healthCheck.active.timeout", spec.healthCheck?.active?.timeout],
    ["spec.healthCheck.passive.ejectionTime", spec.healthCheck?.passive?.ejectionTime],
    ["spec.timeouts.connect", spec.timeouts?.connect],
    ["spec.timeouts.response", spec.timeouts?.response],
    ["spec.timeouts.upstreamIdle", spec.timeouts?.upstreamIdle],
  ];
  return candidates.flatMap(([field, text]) =>
    text !== undefined && parseDurationMs(text) === 0
      ? [{ field, message: `must be a duration longer than 0 (got "${text}")` }]
      : [],
  );
}

/** Admission guarantees the duration syntax; the fallback only guards hand-built inputs. */
function ms(text: string, fallback: number): number {
  const value = parseDurationMs(text);
  return value === undefined || value < 1 ? fallback : value;
}

export function buildHealthCheck(spec: HealthCheckSpec): HealthCheckConfig {
  const { active, passive } = spec;
  return {
    active: active
      ? {
          path: active.path,
          intervalMs: ms(active.interval, 5000),
          timeoutMs: ms(active.timeout, 2000),
          healthyThreshold: active.healthyThreshold,
          unhealthyThreshold: active.unhealthyThreshold,
        }
      : null,
    passive:
      passive.consecutiveFailures > 0
        ? {
            consecutiveFailures: passive.consecutiveFailures,
            ejectionTimeMs: ms(passive.ejectionTime, 30_000),
            maxEjectionPercent: passive.maxEjectionPercent,
          }
        : null,
  };
}

export function buildTimeouts(spec: TimeoutsSpec): TimeoutsConfig {
  return {
    connectMs: ms(spec.connect, 5000),
    responseMs: ms(spec.response, 60_000),
    upstreamIdleMs: ms(spec.upstreamIdle, 60_000),
  };
}

/** The draft for some backends under an effective policy. */
export function buildClusterDraft(
  backends: BackendConfig[],
  policy: EffectivePolicy,
  upstreamTls: ClusterConfig["upstreamTls"],
): ClusterDraft {
  const protocol: ClusterConfig["protocol"] =
    policy.tls.mode === "Passthrough"
      ? "TLSPassthrough"
      : policy.tls.mode === "Reencrypt"
        ? "HTTPS"
        : "HTTP";
  const http = protocol !== "TLSPassthrough";
  return {
    protocol,
    backends: [...backends].sort(
      (a, b) => compareStrings(a.service, b.service) || compareStrings(a.port, b.port),
    ),
    balancer: policy.balancer.algorithm,
    affinity: http ? buildAffinity(policy.affinity) : null,
    upstreamTls: protocol === "HTTPS" ? upstreamTls : null,
    healthCheck: buildHealthCheck(policy.healthCheck),
    timeouts: buildTimeouts(policy.timeouts),
    maxRequestBodyBytes: policy.limits.maxRequestBodyBytes,
    retryAttempts: policy.retry.attempts,
  };
}

/** Collects drafts, de-duplicates them by content, and names them at the end. */
export class ClusterRegistry {
  readonly #drafts = new Map<string, ClusterDraft>();

  /** Registers a draft; returns its content id, which `names()` maps to the final name. */
  add(draft: ClusterDraft): string {
    const id = contentHash(draft);
    if (!this.#drafts.has(id)) this.#drafts.set(id, draft);
    return id;
  }

  /** Final clusters sorted by name, and the id → name map for rewriting route references. */
  build(): { clusters: ClusterConfig[]; names: Map<string, string> } {
    const byBase = new Map<string, string[]>();
    for (const [id, draft] of this.#drafts) {
      const base = baseName(draft);
      byBase.set(base, [...(byBase.get(base) ?? []), id]);
    }
    const names = new Map<string, string>();
    for (const [base, ids] of byBase) {
      for (const id of ids) names.set(id, ids.length === 1 ? base : `${base}~${id.slice(0, 8)}`);
    }
    const clusters = [...this.#drafts].map(([id, draft]) => ({
      name: names.get(id) as string,
      ...draft,
    }));
    clusters.sort((a, b) => compareStrings(a.name, b.name));
    return { clusters, names };
  }
}

/** "ns/svc:port", or "ns/a:80+b:80" for a split. */
function baseName(draft: ClusterDraft): string {
  const [first] = draft.backends;
  if (!first) return "empty";
  const namespace = first.service.slice(0, first.service.indexOf("/"));
  const parts = draft.backends.map((b) => `${b.service.slice(namespace.length + 1)}:${b.port}`);
  const prefix = draft.protocol === "TLSPassthrough" ? "passthrough:" : "";
  return `${prefix}${namespace}/${parts.join("+")}`;
}
