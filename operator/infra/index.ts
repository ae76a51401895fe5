// operator/infra: PURE builders of the objects the proxy fleet runs on (Deployment, Services,
// PodDisruptionBudget, ConfigMap, mirrored Secrets, RBAC), from the compiled config and the settings.
export { APPLY_ORDER, buildProxyInfrastructure, compareObjects, sortForApply } from "./build.ts";
export { CONFIG_VERSION_LABEL, MAX_CONFIGMAP_DATA_BYTES } from "./configmap.ts";
export { CERTIFICATES_ANNOTATION } from "./deployment.ts";
export {
  ConfigTooLargeError,
  InfraError,
  InvalidInfraConfigError,
  InvalidInfraSettingsError,
  InvalidOwnerError,
  MissingSecretError,
} from "./errors.ts";
export { infraLabels, MANAGED_BY, mirrorSecretSelector, proxySelector } from "./metadata.ts";
export { CONFIG_SYNC_CONTAINER, infraNames, PROXY_CONTAINER } from "./names.ts";
export { redactSecretData } from "./redact.ts";
export {
  buildRotatedSharedKeysSecret,
  buildSharedKeysSecret,
  type RandomBytes,
  SOURCE_ANNOTATION,
  SOURCE_NAME_LABEL,
  SOURCE_NAMESPACE_LABEL,
} from "./secrets.ts";
export { DEFAULT_INFRA_SETTINGS, resolveInfraSettings, validateInfraSettings } from "./settings.ts";
export type {
  InfraInput,
  InfraOutput,
  InfraOwner,
  InfraSettings,
  InfraSettingsInput,
  PodAntiAffinityMode,
  ProxyLogLevel,
  ResourceSettings,
  ServiceSettings,
} from "./types.ts";
