// The effective policy of one Ingress: each top-level spec section comes whole from the policy
// targeting the Ingress, else (tls and affinity only) from the Ingress's ingress-nginx annotations,
// else from the IngressClass's policy, else from the schema's defaults. Policy sections are not merged
// field by field: a user reading one policy sees the whole section in force. (Annotations name single
// fields, so annotations.ts completes their section from the one the Ingress would otherwise have.)
import { defaultPolicySection } from "../admission/index.ts";
import type {
  AffinitySpec,
  BackendSplitSpec,
  BalancerSpec,
  CertificateSpec,
  HealthCheckSpec,
  LimitsSpec,
  LoadBalancerPolicy,
  RetrySpec,
  TimeoutsSpec,
  TlsSpec,
} from "../api/policy.ts";
import type { AnnotationSections } from "./annotations.ts";

/** Resolved sections, each with the policy it came from (undefined: schema defaults). */
export interface EffectivePolicy {
  tls: TlsSpec;
  tlsFrom: LoadBalancerPolicy | undefined;
  /** The certificate for hosts the Ingress's own spec.tls does not serve; its own section, so that a
   * policy tuning tls options does not drop the class's wildcard certificate. */
  certificate: CertificateSpec | undefined;
  certificateFrom: LoadBalancerPolicy | undefined;
  balancer: BalancerSpec;
  affinity: AffinitySpec | undefined;
  /** backendSplits apply only from a policy that targets the Ingress itself (its Services live there). */
  backendSplits: readonly BackendSplitSpec[];
  backendSplitsFrom: LoadBalancerPolicy | undefined;
  healthCheck: HealthCheckSpec;
  timeouts: TimeoutsSpec;
  limits: LimitsSpec;
  retry: RetrySpec;
}

export function resolveEffectivePolicy(
  ingressPolicy: LoadBalancerPolicy | undefined,
  classPolicy: LoadBalancerPolicy | undefined,
  annotations: AnnotationSections = {},
): EffectivePolicy {
  const pick = <
    K extends
      | "tls"
      | "certificate"
      | "balancer"
      | "affinity"
      | "healthCheck"
      | "timeouts"
      | "limits"
      | "retry",
  >(
    section: K,
  ): { value: LoadBalancerPolicy["spec"][K] | undefined; from: LoadBalancerPolicy | undefined } => {
    for (const policy of [ingressPolicy, classPolicy]) {
      const value = policy?.spec[section];
      if (value !== undefined) return { value, from: policy };
    }
    return { value: undefined, from: undefined };
  };
  // The Ingress's annotations rank between its own policy and the class's (annotations.ts).
  const tls =
    ingressPolicy?.spec.tls === undefined && annotations.tls
      ? { value: annotations.tls.spec, from: annotations.tls.from }
      : pick("tls");
  const affinity =
    ingressPolicy?.spec.affinity === undefined && annotations.affinity
      ? annotations.affinity
      : pick("affinity").value;
  const certificate = pick("certificate");
  return {
    tls: tls.value ?? defaultPolicySection("tls"),
    tlsFrom: tls.from,
    certificate: certificate.value,
    certificateFrom: certificate.from,
    balancer: pick("balancer").value ?? defaultPolicySection("balancer"),
    affinity,
    backendSplits: ingressPolicy?.spec.backendSplits ?? [],
    backendSplitsFrom: ingressPolicy?.spec.backendSplits ? ingressPolicy : undefined,
    healthCheck: pick("healthCheck").value ?? defaultPolicySection("healthCheck"),
    timeouts: pick("timeouts").value ?? defaultPolicySection("timeouts"),
    limits: pick("limits").value ?? defaultPolicySection("limits"),
    retry: pick("retry").value ?? defaultPolicySection("retry"),
  };
}
