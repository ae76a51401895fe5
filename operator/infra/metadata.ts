// Labels and owner references every built object carries: the recommended app.kubernetes.io labels
// (which fleet, which part, who manages it) and one controller reference to the operator's root
// object, so that deleting it garbage-collects the fleet.
import type { V1ObjectMeta, V1OwnerReference } from "@kubernetes/client-node";
import type { InfraOwner, InfraSettings } from "./types.ts";

export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_INSTANCE = "app.kubernetes.io/instance";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";

/** Value of app.kubernetes.io/name on every object. */
export const APP_NAME = "portcullis";
/** Value of app.kubernetes.io/managed-by: what the operator lists to find what it applied. */
export const MANAGED_BY = "portcullis-operator";

/** The part of the fleet an object belongs to (app.kubernetes.io/component). */
export type Component =
  /** Deployment, Services, PodDisruptionBudget, ConfigMap, ServiceAccount and RBAC. */
  | "proxy"
  /** Copies of referenced certificate and CA Secrets. */
  | "certificate-mirror"
  /** The ticket and affinity keys. */
  | "shared-keys";

/** Labels of an object of `component` in the fleet named by the settings' prefix. */
export function infraLabels(settings: InfraSettings, component: Component): Record<string, string> {
  return {
    [LABEL_NAME]: APP_NAME,
    [LABEL_INSTANCE]: settings.namePrefix,
    [LABEL_COMPONENT]: component,
    [LABEL_MANAGED_BY]: MANAGED_BY,
  };
}

/**
 * Labels selecting the proxy pods (Deployment, Services, PodDisruptionBudget, anti-affinity).
 * A Deployment's selector is immutable: never change these.
 */
export function proxySelector(settings: InfraSettings): Record<string, string> {
  return {
    [LABEL_NAME]: APP_NAME,
    [LABEL_INSTANCE]: settings.namePrefix,
    [LABEL_COMPONENT]: "proxy",
  };
}

/** Label selector (the list-request form) of the fleet's mirror Secrets, to prune those no longer built. */
export function mirrorSecretSelector(settings: InfraSettings): string {
  return Object.entries(infraLabels(settings, "certificate-mirror"))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export function ownerReferences(owner: InfraOwner): V1OwnerReference[] {
  return [
    {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: owner.name,
      uid: owner.uid,
      controller: true,
      // No blockOwnerDeletion: setting it needs "update" on the owner's finalizers (the
      // OwnerReferencesPermissionEnforcement admission plugin), a right on IngressClasses the
      // operator has no other use for; foreground deletion of the class is not a flow we support.
    },
  ];
}

/** metadata of a built object: name, namespace, labels (plus `extraLabels`), owner; annotations if any. */
export function objectMeta(
  settings: InfraSettings,
  owner: InfraOwner,
  name: string,
  component: Component,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): V1ObjectMeta {
  const meta: V1ObjectMeta = {
    name,
    namespace: settings.namespace,
    labels: { ...infraLabels(settings, component), ...extra.labels },
  };
  if (extra.annotations && Object.keys(extra.annotations).length > 0) {
    meta.annotations = { ...extra.annotations };
  }
  meta.ownerReferences = ownerReferences(owner);
  return meta;
}
