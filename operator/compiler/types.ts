// The compiler's contract: what goes in (cluster objects, as read from the API or from manifests)
// and what comes out (a ProxyConfig, status intents, diagnostics). Pure data, no I/O.
import type {
  V1EndpointSlice,
  V1Ingress,
  V1IngressClass,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import type { ProxyConfig } from "../../proxy/config/types.ts";
import type {
  CertManagerCertificate,
  CertManagerClusterIssuer,
  CertManagerIssuer,
} from "../api/cert-manager.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import type { Reason } from "./reasons.ts";

/** Every object the compiler reads. Order does not matter: output is sorted. */
export interface CompilerInput {
  ingressClasses: V1IngressClass[];
  ingresses: V1Ingress[];
  policies: LoadBalancerPolicy[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  /** Only kubernetes.io/tls Secrets and CA Secrets referenced by policies are needed; others are ignored. */
  secrets: V1Secret[];
  issuers: CertManagerIssuer[];
  clusterIssuers: CertManagerClusterIssuer[];
}

/** Settings of the compilation that do not come from objects. */
export interface CompilerOptions {
  /** IngressClass this fleet serves. Default "portcullis". */
  ingressClassName: string;
  /** Namespace the controller runs in; only there may a policy target the IngressClass. */
  controllerNamespace: string;
  /** Where Secrets are mounted in the proxy: <dir>/<namespace>/<secret>/tls.crt. */
  secretsDir: string;
  /** "Now" for certificate validity checks, passed in so the compiler stays pure and golden tests stable. */
  now: Date;
  /** A Secret ("namespace/name") served to handshakes whose SNI matches no host; none by default. */
  defaultCertificate?: string;
}

export type ConditionStatus = "True" | "False" | "Unknown";

/** A condition the compiler wants written; the operator adds lastTransitionTime and observedGeneration. */
export interface ConditionIntent {
  type: "Accepted" | "ResolvedRefs" | "Programmed";
  status: ConditionStatus;
  reason: Reason;
  message: string;
}

/** Desired status of one object. */
export interface StatusIntent {
  kind: "LoadBalancerPolicy" | "Ingress";
  namespace: string;
  name: string;
  /** metadata.generation the conditions describe (0 for manifests without one). */
  generation: number;
  conditions: ConditionIntent[];
  /** For a policy whose spec.certificate is in effect: the certificate it serves, once resolved. */
  certificate?: CertificateStatusIntent;
}

/** status.certificate of a policy: what its certificate covers and until when. */
export interface CertificateStatusIntent {
  /** The Secret holding it (in the policy's namespace). */
  secretName: string;
  /** DNS names (SANs) the certificate covers, sorted. */
  dnsNames: string[];
  /** End of validity, RFC 3339. */
  notAfter: string;
  /** Hosts the policy's targets serve that no SAN covers, sorted (they are not served with it). */
  uncoveredHosts: string[];
}

/** One problem found, named by object and field, for CLI output, Events and logs. */
export interface Diagnostic {
  severity: "Error" | "Warning";
  reason: Reason;
  kind: string;
  namespace: string;
  name: string;
  /** JSON path of the field at fault, e.g. "spec.rules[0].http.paths[1].path". */
  field: string;
  message: string;
}

/** Everything the compiler produces. */
export interface CompilerOutput {
  config: ProxyConfig;
  statuses: StatusIntent[];
  diagnostics: Diagnostic[];
  /** cert-manager Certificates the operator should apply for issuerRef policies. */
  certificates: CertManagerCertificate[];
}
