// LoadBalancerPolicy types, derived from the CRD schema (crds/) via operator/generated/.
import type { components } from "../generated/loadbalancerpolicy.ts";
import type { WithMetadata } from "./kubernetes.ts";

export const POLICY_GROUP = "portcullis.dev";
export const POLICY_VERSION = "v1alpha1";
export const POLICY_API_VERSION = `${POLICY_GROUP}/${POLICY_VERSION}`;
export const POLICY_KIND = "LoadBalancerPolicy";

type Generated = components["schemas"]["LoadBalancerPolicy"];

/** A LoadBalancerPolicy after the schema's defaults are applied (by the API server, or by admission offline). */
export type LoadBalancerPolicy = WithMetadata<Generated>;
export type PolicySpec = Generated["spec"];
export type PolicyTargetRef = PolicySpec["targetRefs"][number];
export type TlsSpec = NonNullable<PolicySpec["tls"]>;
export type CertificateSpec = NonNullable<PolicySpec["certificate"]>;
export type AffinitySpec = NonNullable<PolicySpec["affinity"]>;
export type BalancerSpec = NonNullable<PolicySpec["balancer"]>;
export type BackendSplitSpec = NonNullable<PolicySpec["backendSplits"]>[number];
export type HealthCheckSpec = NonNullable<PolicySpec["healthCheck"]>;
export type TimeoutsSpec = NonNullable<PolicySpec["timeouts"]>;
export type LimitsSpec = NonNullable<PolicySpec["limits"]>;
export type RetrySpec = NonNullable<PolicySpec["retry"]>;
export type PolicyStatus = NonNullable<Generated["status"]>;
