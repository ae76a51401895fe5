// The proxy pods' identity: a ServiceAccount whose only permission is reading the one config
// ConfigMap (get, list, watch, by resourceNames). Listing and watching are allowed by resourceNames
// only when the request selects that name (fieldSelector metadata.name=<name>), as config-sync does.
import type { V1Role, V1RoleBinding, V1ServiceAccount } from "@kubernetes/client-node";
import { objectMeta } from "./metadata.ts";
import { infraNames } from "./names.ts";
import type { InfraOwner, InfraSettings } from "./types.ts";

/** `<prefix>-proxy`; tokens are never mounted automatically (config-sync projects its own). */
export function buildProxyServiceAccount(
  settings: InfraSettings,
  owner: InfraOwner,
): V1ServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: objectMeta(settings, owner, infraNames(settings.namePrefix).proxy, "proxy"),
    automountServiceAccountToken: false,
  };
}

/** `<prefix>-proxy-config-reader`: get, list and watch of `<prefix>-proxy-config` only. */
export function buildConfigReaderRole(settings: InfraSettings, owner: InfraOwner): V1Role {
  const names = infraNames(settings.namePrefix);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: objectMeta(settings, owner, names.configReader, "proxy"),
    rules: [
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: [names.configMap],
        verbs: ["get", "list", "watch"],
      },
    ],
  };
}

/** Binds the config-reader Role to the proxy ServiceAccount. */
export function buildConfigReaderRoleBinding(
  settings: InfraSettings,
  owner: InfraOwner,
): V1RoleBinding {
  const names = infraNames(settings.namePrefix);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: objectMeta(settings, owner, names.configReader, "proxy"),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: names.configReader },
    subjects: [{ kind: "ServiceAccount", name: names.proxy, namespace: settings.namespace }],
  };
}
