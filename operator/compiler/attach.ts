// Policy attachment: which LoadBalancerPolicy applies to which Ingress. A policy targets Ingresses in
// its own namespace, or the IngressClass (defaults for all its Ingresses, honoured only from the
// controller namespace, since any namespace could otherwise set them for everyone). When several
// policies target the same object, the oldest wins and the others are told they Conflicted.
import type { V1Ingress } from "@kubernetes/client-node";
import { formatKey } from "../api/keys.ts";
import { compareAge, keyOf } from "../api/objects.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import { Reason } from "./reasons.ts";
import type { Reporter } from "./reporter.ts";
import { policySubject } from "./subjects.ts";
import type { CompilerOptions } from "./types.ts";

/** The policies that apply to each Ingress of our class. */
export interface Attachment {
  /** The accepted policy targeting the IngressClass, if any. */
  classPolicy: LoadBalancerPolicy | undefined;
  /** "namespace/ingress" → the accepted policy targeting that Ingress. */
  ingressPolicies: Map<string, LoadBalancerPolicy>;
}

/**
 * Resolves every policy's targetRefs against our Ingresses. `ours` holds our class's Ingresses by key;
 * `foreign` the keys of Ingresses of other classes.
 */
export function attachPolicies(
  policies: readonly LoadBalancerPolicy[],
  ours: ReadonlyMap<string, V1Ingress>,
  foreign: ReadonlySet<string>,
  options: CompilerOptions,
  reporter: Reporter,
): Attachment {
  const attachment: Attachment = { classPolicy: undefined, ingressPolicies: new Map() };
  const winners = new Map<string, LoadBalancerPolicy>();
  for (const policy of [...policies].sort(compareAge)) {
    const subject = policySubject(policy);
    reporter.track(subject);
    policy.spec.targetRefs.forEach((ref, i) => {
      const field = `spec.targetRefs[${i}]`;
      let targetKey: string;
      if (ref.kind === "IngressClass") {
        if (ref.name !== options.ingressClassName) {
          reporter.error(
            subject,
            Reason.TargetNotFound,
            field,
            `IngressClass "${ref.name}" is not served by this controller (it serves "${options.ingressClassName}")`,
          );
          return;
        }
        if (subject.namespace !== options.controllerNamespace) {
          reporter.error(
            subject,
            Reason.NotAllowed,
            field,
            `only a policy in the controller namespace "${options.controllerNamespace}" may target the IngressClass`,
          );
          return;
        }
        targetKey = `IngressClass/${ref.name}`;
      } else {
        const key = formatKey({ namespace: subject.namespace, name: ref.name });
        if (foreign.has(key)) {
          reporter.error(
            subject,
            Reason.TargetNotFound,
            field,
            `Ingress "${key}" belongs to another IngressClass`,
          );
          return;
        }
        if (!ours.has(key)) {
          reporter.error(subject, Reason.TargetNotFound, field, `Ingress "${key}" does not exist`);
          return;
        }
        targetKey = `Ingress/${key}`;
      }
      const winner = winners.get(targetKey);
      if (winner && winner !== policy) {
        reporter.error(
          subject,
          Reason.Conflicted,
          field,
          `${ref.kind} "${ref.name}" is already targeted by the older policy "${formatKey(keyOf(winner))}"`,
        );
        return;
      }
      winners.set(targetKey, policy);
      if (ref.kind === "IngressClass") attachment.classPolicy = policy;
      else attachment.ingressPolicies.set(targetKey.slice("Ingress/".length), policy);
    });
  }
  return attachment;
}
