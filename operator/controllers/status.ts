// PURE: the status the operator writes, from the compiler's intents, what the proxies report and what
// is written now. Conditions keep their lastTransitionTime while their status stays the same, so that
// a status computed again from unchanged inputs is equal to the one already written, and a resync that
// changes nothing writes nothing (isSameStatus).
import type {
  V1IngressLoadBalancerIngress,
  V1ManagedFieldsEntry,
  V1Service,
} from "@kubernetes/client-node";
import { canonicalJson } from "../../proxy/config/canonical.ts";
import type { ConfigSource } from "../../proxy/config/types.ts";
import { Reason } from "../compiler/reasons.ts";
import type { ConditionIntent, ConditionStatus, StatusIntent } from "../compiler/types.ts";

/** A standard Kubernetes condition, as written into status.conditions. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  /** metadata.generation the condition was computed for. */
  observedGeneration: number;
  /** RFC 3339, second precision (as metav1.Time): when `status` last changed. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** status of a LoadBalancerPolicy, as the operator applies it. */
export interface PolicyStatus {
  observedGeneration: number;
  /** Accepted, ResolvedRefs, Programmed, in that order. */
  conditions: Condition[];
  certificate?: {
    secretName: string;
    dnsNames: string[];
    notAfter: string;
    uncoveredHosts: string[];
    /** From the cert-manager Certificate's status.renewalTime, when Portcullis asked for issuance. */
    renewalTime?: string;
  };
}

/** What one ready proxy reports on its admin /config. */
export interface ProxyReport {
  /** Content hash of the config it serves; null before its first. */
  version: string | null;
  /** The objects (kind, namespace, name, generation) that config was compiled from. */
  sources: readonly ConfigSource[];
}

/** Order of our condition types in status.conditions. */
const CONDITION_ORDER = ["Accepted", "ResolvedRefs", "Programmed"];

/**
 * Programmed: True once every ready proxy serves this generation — a config whose sources name it,
 * or the latest config the operator applied when that was compiled from it (an accepted policy that
 * shapes nothing yet is not among the sources). False while the proxies catch up, when none is ready,
 * or when the object is not accepted.
 */
export function buildProgrammedCondition(
  intent: StatusIntent,
  reports: readonly ProxyReport[],
  appliedVersion: string | undefined,
): ConditionIntent & { type: "Programmed" } {
  const accepted = intent.conditions.find((c) => c.type === "Accepted");
  if (accepted?.status !== "True") {
    return {
      type: "Programmed",
      status: "False",
      reason: Reason.NotAccepted,
      message: `${intent.kind} is not accepted, so none of it is served; see the Accepted condition.`,
    };
  }
  if (reports.length === 0) {
    return {
      type: "Programmed",
      status: "False",
      reason: Reason.Pending,
      message: "No ready proxy has reported the config it serves yet.",
    };
  }
  const serving = reports.filter(
    (report) =>
      (appliedVersion !== undefined && report.version === appliedVersion) ||
      report.sources.some(
        (source) =>
          source.kind === intent.kind &&
          source.namespace === intent.namespace &&
          source.name === intent.name &&
          source.generation === intent.generation,
      ),
  ).length;
  if (serving === reports.length) {
    return {
      type: "Programmed",
      status: "True",
      reason: Reason.Programmed,
      message: `Served by ${serving} ready ${serving === 1 ? "proxy" : "proxies"}.`,
    };
  }
  return {
    type: "Programmed",
    status: "False",
    reason: Reason.Pending,
    message: `${serving} of ${reports.length} ready proxies serve generation ${intent.generation}; the others are being updated.`,
  };
}

/**
 * The conditions to write: `intents` at `generation`, each keeping the lastTransitionTime of the
 * current condition of its type when its status did not change (else `now`). Sorted in
 * CONDITION_ORDER.
 */
export function buildConditions(
  intents: readonly ConditionIntent[],
  current: readonly Condition[] | undefined,
  generation: number,
  now: Date,
): Condition[] {
  const stamp = formatTime(now);
  return [...intents]
    .sort((a, b) => rank(a.type) - rank(b.type))
    .map((intent) => {
      const previous = current?.find((c) => c.type === intent.type);
      return {
        type: intent.type,
        status: intent.status,
        observedGeneration: generation,
        lastTransitionTime:
          previous !== undefined &&
          previous.status === intent.status &&
          typeof previous.lastTransitionTime === "string"
            ? previous.lastTransitionTime
            : stamp,
        reason: intent.reason,
        message: intent.message,
      };
    });
}

/** The whole status of a policy: conditions (Programmed included) and certificate. */
export function buildPolicyStatus(
  intent: StatusIntent,
  programmed: ConditionIntent,
  current: PolicyStatus | undefined,
  now: Date,
  renewalTime: string | undefined,
): PolicyStatus {
  const status: PolicyStatus = {
    observedGeneration: intent.generation,
    conditions: buildConditions(
      [...intent.conditions, programmed],
      current?.conditions,
      intent.generation,
      now,
    ),
  };
  if (intent.certificate) {
    status.certificate = {
      ...intent.certificate,
      ...(renewalTime === undefined ? {} : { renewalTime }),
    };
  }
  return status;
}

/**
 * Ingress status.loadBalancer.ingress from the proxy Service: its load balancer's addresses, else its
 * externalIPs; nothing for a Service not reachable from outside yet.
 */
export function buildLoadBalancerIngress(
  service: V1Service | undefined,
): V1IngressLoadBalancerIngress[] {
  if (!service) return [];
  const fromBalancer = (service.status?.loadBalancer?.ingress ?? []).flatMap((entry) => {
    const out: V1IngressLoadBalancerIngress = {};
    if (entry.ip) out.ip = entry.ip;
    if (entry.hostname) out.hostname = entry.hostname;
    return out.ip || out.hostname ? [out] : [];
  });
  if (fromBalancer.length > 0) return fromBalancer;
  return (service.spec?.externalIPs ?? []).map((ip) => ({ ip }));
}

/**
 * Whether `field manager` has written the status subresource of an object: only then may the
 * operator clear what it wrote there (an Ingress that left the class); another controller's Ingress
 * is never touched.
 */
export function hasWrittenStatus(
  managedFields: readonly V1ManagedFieldsEntry[] | undefined,
  fieldManager: string,
): boolean {
  return (managedFields ?? []).some(
    (entry) => entry.manager === fieldManager && entry.subresource === "status",
  );
}

/** Structural equality of JSON values, whatever the order of object keys. */
export function isSameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function rank(type: string): number {
  const index = CONDITION_ORDER.indexOf(type);
  return index === -1 ? CONDITION_ORDER.length : index;
}

/** metav1.Time: RFC 3339 in UTC with whole seconds (the API server drops fractions anyway). */
export function formatTime(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}
