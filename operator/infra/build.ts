// The proxy fleet's infrastructure, built from the compiled config: PURE (no I/O, no clock, no
// randomness), deterministic (sorted output, equal inputs give equal objects) and written for
// server-side apply under one field manager: only fields we own are set, never status, never a value
// the API server would default anyway, never an empty object. List-map keys (container and Service
// ports' protocol) are always set.
//
// What the operator does with the result (I/O, elsewhere): apply the objects in sortForApply order
// (so that pods find every volume source), create the shared-keys Secret when absent
// (buildSharedKeysSecret), and prune the mirror Secrets (mirrorSecretSelector) no longer built — after
// the Deployment has rolled out, since old pods still mount them until then.
import type { KubernetesObject } from "@kubernetes/client-node";
import { computeConfigVersion } from "../../proxy/config/validate.ts";
import { compareStrings } from "../api/keys.ts";
import { buildConfigMap } from "./configmap.ts";
import { buildProxyDeployment } from "./deployment.ts";
import { InvalidInfraConfigError, InvalidInfraSettingsError, InvalidOwnerError } from "./errors.ts";
import {
  buildConfigReaderRole,
  buildConfigReaderRoleBinding,
  buildProxyServiceAccount,
} from "./rbac.ts";
import { buildMirrorSecrets, certificateSetHash, planMirrors } from "./secrets.ts";
import { buildAdminService, buildProxyDisruptionBudget, buildProxyService } from "./service.ts";
import { validateInfraSettings } from "./settings.ts";
import type { InfraInput, InfraOutput, InfraOwner, InfraSettings } from "./types.ts";

/**
 * Everything the operator applies for the proxy fleet, except the shared-keys Secret. Throws an
 * InfraError (nothing should be applied) when the settings are invalid, the owner cannot own the
 * objects, the config's version is not its content hash, its files are not under the secrets
 * directory, or a Secret it references is missing from `secrets`.
 */
export function buildProxyInfrastructure(input: InfraInput): InfraOutput {
  const { config, secrets, settings, owner } = input;
  const problems = validateInfraSettings(settings);
  if (problems.length > 0) throw new InvalidInfraSettingsError(problems);
  checkOwner(owner, settings);
  if (computeConfigVersion(config) !== config.version)
    throw new InvalidInfraConfigError(
      `config version ${config.version} is not the content hash of the config`,
    );

  const plans = planMirrors(config, settings);
  const objects: KubernetesObject[] = [
    buildConfigMap(config, settings, owner),
    ...buildMirrorSecrets(plans, secrets, settings, owner),
    buildProxyDeployment(settings, owner, plans, certificateSetHash(plans)),
    buildProxyService(settings, owner),
    buildAdminService(settings, owner),
    buildProxyDisruptionBudget(settings, owner),
    buildProxyServiceAccount(settings, owner),
    buildConfigReaderRole(settings, owner),
    buildConfigReaderRoleBinding(settings, owner),
  ];
  return { objects: objects.sort(compareObjects), configHash: config.version };
}

function checkOwner(owner: InfraOwner, settings: InfraSettings): void {
  for (const field of ["apiVersion", "kind", "name", "uid"] as const) {
    if (typeof owner[field] !== "string" || owner[field] === "")
      throw new InvalidOwnerError(`owner.${field} must be a non-empty string`);
  }
  if (owner.namespace !== undefined && owner.namespace !== settings.namespace)
    throw new InvalidOwnerError(
      `owner ${owner.kind} "${owner.namespace}/${owner.name}" is in another namespace than the fleet (${settings.namespace}); the garbage collector would treat the reference as dangling`,
    );
}

/** Output order: kind, then name. */
export function compareObjects(a: KubernetesObject, b: KubernetesObject): number {
  return (
    compareStrings(a.kind ?? "", b.kind ?? "") ||
    compareStrings(a.metadata?.name ?? "", b.metadata?.name ?? "")
  );
}

/**
 * Kinds in the order to apply them: identity and permissions first, then what the pods mount, then
 * what selects the pods, the Deployment last (its new pods then find every volume source).
 */
export const APPLY_ORDER: readonly string[] = [
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "PodDisruptionBudget",
  "Deployment",
];

/** A copy of `objects` in APPLY_ORDER (unknown kinds last), then by name. */
export function sortForApply<T extends KubernetesObject>(objects: readonly T[]): T[] {
  const rank = (object: T): number => {
    const index = APPLY_ORDER.indexOf(object.kind ?? "");
    return index === -1 ? APPLY_ORDER.length : index;
  };
  return [...objects].sort(
    (a, b) => rank(a) - rank(b) || compareStrings(a.metadata?.name ?? "", b.metadata?.name ?? ""),
  );
}
