// Which Ingresses are ours: those whose spec.ingressClassName (or the deprecated
// kubernetes.io/ingress.class annotation) names our class, and those with no class at all when our
// IngressClass is marked the cluster default. An IngressClass object of our name that names another
// controller means the class is not ours: nothing is served, and every such Ingress is told why.
import type { V1Ingress, V1IngressClass } from "@kubernetes/client-node";
import { formatKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import { Reason } from "./reasons.ts";
import type { Reporter } from "./reporter.ts";
import { ingressSubject } from "./subjects.ts";
import type { CompilerOptions } from "./types.ts";

/** The controller string IngressClasses name to be served by Portcullis. */
export const CONTROLLER_NAME = "portcullis.dev/ingress-controller";
const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
const LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

export interface IngressClassification {
  /** Our Ingresses by "namespace/name". */
  ours: Map<string, V1Ingress>;
  /** Keys of Ingresses of other classes (so a policy targeting one gets a precise message). */
  foreign: Set<string>;
}

export function classifyIngresses(
  ingresses: readonly V1Ingress[],
  classes: readonly V1IngressClass[],
  options: CompilerOptions,
  reporter: Reporter,
): IngressClassification {
  const ourClass = classes.find((c) => c.metadata?.name === options.ingressClassName);
  const classIsOurs = !ourClass || ourClass.spec?.controller === CONTROLLER_NAME;
  const weAreDefault =
    ourClass?.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true" && classIsOurs;
  const result: IngressClassification = { ours: new Map(), foreign: new Set() };
  for (const ingress of ingresses) {
    const key = formatKey(keyOf(ingress));
    const fromField = ingress.spec?.ingressClassName !== undefined;
    const className =
      ingress.spec?.ingressClassName ?? ingress.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
    const named = className === options.ingressClassName;
    if ((named && classIsOurs) || (className === undefined && weAreDefault)) {
      result.ours.set(key, ingress);
      continue;
    }
    result.foreign.add(key);
    if (named) {
      reporter.error(
        ingressSubject(ingress),
        Reason.NotOurClass,
        fromField ? "spec.ingressClassName" : `metadata.annotations["${LEGACY_CLASS_ANNOTATION}"]`,
        `IngressClass "${options.ingressClassName}" names controller "${ourClass?.spec?.controller ?? ""}", not "${CONTROLLER_NAME}"`,
      );
    }
  }
  return result;
}
