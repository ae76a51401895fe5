// The objects problems are reported against, built in one place.
import type { V1Ingress } from "@kubernetes/client-node";
import { generationOf, keyOf } from "../api/objects.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import type { Subject } from "./reporter.ts";

export function policySubject(policy: LoadBalancerPolicy): Subject {
  const { namespace, name } = keyOf(policy);
  return { kind: "LoadBalancerPolicy", namespace, name, generation: generationOf(policy) };
}

export function ingressSubject(ingress: V1Ingress): Subject {
  const { namespace, name } = keyOf(ingress);
  return { kind: "Ingress", namespace, name, generation: generationOf(ingress) };
}
