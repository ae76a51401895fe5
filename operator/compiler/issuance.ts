// cert-manager issuance intents: for each accepted policy with certificate.issuerRef, the
// Certificate the operator should apply. Wildcard names can only be validated by ACME through DNS-01,
// so an ACME issuer without a DNS-01 solver is reported instead of left to fail at the CA.
import type { V1Ingress } from "@kubernetes/client-node";
import {
  CERT_MANAGER_API_VERSION,
  type CertManagerCertificate,
  type CertManagerIssuerSpec,
} from "../api/cert-manager.ts";
import { compareStrings, formatKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import { isWildcard } from "./hosts.ts";
import { Reason } from "./reasons.ts";
import type { Reporter } from "./reporter.ts";
import { policySubject } from "./subjects.ts";
import type { CompilerInput } from "./types.ts";

/** Label on Certificates Portcullis manages, naming the policy that asked for it. */
export const POLICY_LABEL = "portcullis.dev/policy";

export function buildCertificateRequests(
  policies: readonly (LoadBalancerPolicy | undefined)[],
  ours: ReadonlyMap<string, V1Ingress>,
  input: CompilerInput,
  reporter: Reporter,
): CertManagerCertificate[] {
  const requests: CertManagerCertificate[] = [];
  const seen = new Set<LoadBalancerPolicy>();
  for (const policy of policies) {
    if (!policy || seen.has(policy)) continue;
    seen.add(policy);
    const certificate = policy.spec.certificate;
    if (!certificate?.issuerRef) continue;
    const subject = policySubject(policy);
    const dnsNames = [...new Set(certificate.dnsNames ?? hostsOf(policy, ours))].sort(
      compareStrings,
    );
    if (dnsNames.length === 0) {
      reporter.error(
        subject,
        Reason.Invalid,
        "spec.certificate.dnsNames",
        "no names to issue: set dnsNames or target Ingresses with hosts",
      );
      continue;
    }
    const issuer = findIssuer(policy, input);
    const issuerField = "spec.certificate.issuerRef";
    if (certificate.issuerRef.group === "cert-manager.io" && !issuer) {
      reporter.error(
        subject,
        Reason.IssuerNotFound,
        issuerField,
        `${certificate.issuerRef.kind} "${certificate.issuerRef.name}" does not exist`,
      );
      continue;
    }
    const wildcards = dnsNames.filter(isWildcard);
    if (issuer?.acme && wildcards.length > 0 && !(issuer.acme.solvers ?? []).some((s) => s.dns01)) {
      reporter.error(
        subject,
        Reason.WildcardNeedsDNS01,
        issuerField,
        `${wildcards.join(", ")} can only be issued by ACME through a DNS-01 solver, and ${certificate.issuerRef.kind} "${certificate.issuerRef.name}" has none`,
      );
      continue;
    }
    const { namespace, name } = keyOf(policy);
    requests.push({
      apiVersion: CERT_MANAGER_API_VERSION,
      kind: "Certificate",
      metadata: { name: certificate.secretName, namespace, labels: { [POLICY_LABEL]: name } },
      spec: {
        secretName: certificate.secretName,
        dnsNames,
        issuerRef: {
          name: certificate.issuerRef.name,
          kind: certificate.issuerRef.kind,
          group: certificate.issuerRef.group,
        },
      },
    } as CertManagerCertificate);
  }
  return requests.sort((a, b) => compareStrings(formatKey(keyOf(a)), formatKey(keyOf(b))));
}

/** Hosts of the policy's targeted Ingresses (all of our Ingresses for a class-level policy). */
function hostsOf(policy: LoadBalancerPolicy, ours: ReadonlyMap<string, V1Ingress>): string[] {
  const namespace = policy.metadata.namespace ?? "";
  const targets = policy.spec.targetRefs.some((r) => r.kind === "IngressClass")
    ? [...ours.values()]
    : policy.spec.targetRefs.flatMap((r) => ours.get(formatKey({ namespace, name: r.name })) ?? []);
  return targets.flatMap((ingress) =>
    (ingress.spec?.rules ?? []).flatMap((rule) => (rule.host ? [rule.host] : [])),
  );
}

function findIssuer(
  policy: LoadBalancerPolicy,
  input: CompilerInput,
): CertManagerIssuerSpec | undefined {
  const ref = policy.spec.certificate?.issuerRef;
  if (!ref) return undefined;
  const namespace = policy.metadata.namespace ?? "";
  const found =
    ref.kind === "ClusterIssuer"
      ? input.clusterIssuers.find((i) => i.metadata.name === ref.name)
      : input.issuers.find(
          (i) => i.metadata.name === ref.name && (i.metadata.namespace ?? "") === namespace,
        );
  return found?.spec;
}
