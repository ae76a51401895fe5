// Collects problems while compiling and turns them into status intents. The compiler never throws on
// bad input: each problem becomes a Diagnostic and a condition, and only the broken part is dropped.
import { compareKeys, compareStrings } from "../api/keys.ts";
import { Reason } from "./reasons.ts";
import type {
  CertificateStatusIntent,
  ConditionIntent,
  Diagnostic,
  StatusIntent,
} from "./types.ts";

/** An object a problem can be reported against. */
export interface Subject {
  kind: "LoadBalancerPolicy" | "Ingress";
  namespace: string;
  name: string;
  generation: number;
}

/** Reasons that make ResolvedRefs false; every other error makes Accepted false. */
const REF_REASONS = new Set<Reason>([
  Reason.BackendNotFound,
  Reason.UnsupportedBackend,
  Reason.NoEndpoints,
  Reason.SecretNotFound,
  Reason.InvalidCertificate,
  Reason.KeyMismatch,
  Reason.CertificateExpired,
  Reason.HostNotCovered,
  Reason.CertificatePending,
  Reason.NoCertificate,
  Reason.WildcardNeedsDNS01,
  Reason.IssuerNotFound,
  Reason.BackendNotVerifiable,
]);

/**
 * Warnings that still make a condition false: a certificate being issued, or a host left without one,
 * are normal for a while (so no pipeline error), but the references are not resolved.
 */
const WARNINGS_THAT_FAIL = new Set<Reason>([Reason.CertificatePending, Reason.NoCertificate]);

/** Most problems listed in one condition message; the rest are counted. */
const MAX_MESSAGES = 5;

export class Reporter {
  readonly #diagnostics: Diagnostic[] = [];
  /** Keys of the diagnostics above: a problem met again (a Secret used by two routes) is told once. */
  readonly #seen = new Set<string>();
  readonly #subjects = new Map<string, Subject>();
  /** Problems that flip a condition (errors, and CertificatePending). */
  readonly #failing = new Map<string, Diagnostic[]>();
  /** status.certificate per policy, merged when a policy's certificate serves several Ingresses. */
  readonly #certificates = new Map<string, CertificateStatusIntent>();

  /** Registers an object that gets a status even when nothing is wrong with it. */
  track(subject: Subject): void {
    this.#subjects.set(subjectKey(subject), subject);
  }

  /**
   * Records the certificate a policy serves and the hosts it does not cover (called once per Ingress
   * the policy applies to: the uncovered hosts accumulate).
   */
  certificate(subject: Subject, certificate: CertificateStatusIntent): void {
    this.track(subject);
    const key = subjectKey(subject);
    const known = this.#certificates.get(key);
    const uncovered = new Set([...(known?.uncoveredHosts ?? []), ...certificate.uncoveredHosts]);
    this.#certificates.set(key, {
      ...certificate,
      uncoveredHosts: [...uncovered].sort(compareStrings),
    });
  }

  error(subject: Subject, reason: Reason, field: string, message: string): void {
    this.#add(subject, "Error", reason, field, message, true);
  }

  warning(subject: Subject, reason: Reason, field: string, message: string): void {
    // A pending certificate is normal while cert-manager works, so it is no pipeline error,
    // but the policy must still not claim its references resolved.
    this.#add(subject, "Warning", reason, field, message, WARNINGS_THAT_FAIL.has(reason));
  }

  #add(
    subject: Subject,
    severity: Diagnostic["severity"],
    reason: Reason,
    field: string,
    message: string,
    fails: boolean,
  ): void {
    this.track(subject);
    const diagnostic: Diagnostic = {
      severity,
      reason,
      kind: subject.kind,
      namespace: subject.namespace,
      name: subject.name,
      field,
      message,
    };
    const identity = JSON.stringify(diagnostic);
    if (this.#seen.has(identity)) return;
    this.#seen.add(identity);
    this.#diagnostics.push(diagnostic);
    if (fails) {
      const key = subjectKey(subject);
      const list = this.#failing.get(key) ?? [];
      list.push(diagnostic);
      this.#failing.set(key, list);
    }
  }

  /** Diagnostics sorted by object, then field, then message. */
  diagnostics(): Diagnostic[] {
    return [...this.#diagnostics].sort(
      (a, b) =>
        compareStrings(a.kind, b.kind) ||
        compareKeys(a, b) ||
        compareStrings(a.field, b.field) ||
        compareStrings(a.message, b.message),
    );
  }

  /** One status per tracked object, with Accepted and ResolvedRefs conditions. */
  statuses(): StatusIntent[] {
    return [...this.#subjects.values()]
      .sort((a, b) => compareStrings(a.kind, b.kind) || compareKeys(a, b))
      .map((subject) => {
        // Errors first, so the condition's reason names the cause rather than a consequence.
        const failing = (this.#failing.get(subjectKey(subject)) ?? []).sort(
          (a, b) =>
            compareStrings(a.severity, b.severity) ||
            compareStrings(a.field, b.field) ||
            compareStrings(a.message, b.message),
        );
        const refs = failing.filter((d) => REF_REASONS.has(d.reason));
        const others = failing.filter((d) => !REF_REASONS.has(d.reason));
        const conditions: ConditionIntent[] = [
          condition("Accepted", others, Reason.Accepted, `${subject.kind} is accepted.`),
          condition("ResolvedRefs", refs, Reason.ResolvedRefs, "All references are resolved."),
        ];
        const certificate = this.#certificates.get(subjectKey(subject));
        return { ...subject, conditions, ...(certificate ? { certificate } : {}) };
      });
  }
}

function subjectKey(subject: Pick<Subject, "kind" | "namespace" | "name">): string {
  return `${subject.kind}/${subject.namespace}/${subject.name}`;
}

function condition(
  type: ConditionIntent["type"],
  problems: Diagnostic[],
  okReason: Reason,
  okMessage: string,
): ConditionIntent {
  const first = problems[0];
  if (!first) return { type, status: "True", reason: okReason, message: okMessage };
  const lines = problems.slice(0, MAX_MESSAGES).map((d) => `${d.field}: ${d.message}`);
  if (problems.length > MAX_MESSAGES) lines.push(`and ${problems.length - MAX_MESSAGES} more`);
  return { type, status: "False", reason: first.reason, message: lines.join("; ") };
}
