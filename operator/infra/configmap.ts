// The ConfigMap carrying the compiled config. config-sync watches it and hands each new version to
// the proxy within a second or so; the pods also mount it as a volume, as the config to start from
// while the API server is unreachable.
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { ProxyConfig } from "../../proxy/config/types.ts";
import { ConfigTooLargeError } from "./errors.ts";
import { objectMeta } from "./metadata.ts";
import { CONFIG_FILE, infraNames } from "./names.ts";
import type { InfraOwner, InfraSettings } from "./types.ts";

/** Label: the first 16 hex digits of the config's version (a label value holds at most 63). */
export const CONFIG_VERSION_LABEL = "portcullis.dev/config-version";
/** The API server's limit on a ConfigMap's data: keys plus values, 1 MiB. */
export const MAX_CONFIGMAP_DATA_BYTES = 1024 * 1024;

/**
 * config.json as stored: indented for people reading the ConfigMap, or compact when the indented
 * form would not fit (a few thousand Ingresses). Throws ConfigTooLargeError when neither fits.
 */
export function renderConfigJson(config: ProxyConfig): string {
  const budget = MAX_CONFIGMAP_DATA_BYTES - Buffer.byteLength(CONFIG_FILE);
  const pretty = `${JSON.stringify(config, null, 2)}\n`;
  if (Buffer.byteLength(pretty) <= budget) return pretty;
  const compact = `${JSON.stringify(config)}\n`;
  const bytes = Buffer.byteLength(compact);
  if (bytes <= budget) return compact;
  throw new ConfigTooLargeError(bytes, budget);
}

/** `<prefix>-proxy-config`, key config.json. */
export function buildConfigMap(
  config: ProxyConfig,
  settings: InfraSettings,
  owner: InfraOwner,
): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: objectMeta(settings, owner, infraNames(settings.namePrefix).configMap, "proxy", {
      labels: { [CONFIG_VERSION_LABEL]: config.version.slice(0, 16) },
    }),
    data: { [CONFIG_FILE]: renderConfigJson(config) },
  };
}
