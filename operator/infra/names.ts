// Names, paths and ports of the proxy fleet: every object name derives from the settings' prefix,
// every path and port here is one the proxy's flags or the compiler's config also use.
import { createHash } from "node:crypto";
import { formatKey, type ObjectKey } from "../api/keys.ts";

/** Container running `portcullis proxy`. */
export const PROXY_CONTAINER = "proxy";
/** Container running `portcullis config-sync`: the only one holding an API token. */
export const CONFIG_SYNC_CONTAINER = "config-sync";

/** ConfigMap key (and file name) of the config. */
export const CONFIG_FILE = "config.json";
/** emptyDir that config-sync writes the config into and the proxy reads it from. */
export const CONFIG_DIR = "/run/portcullis/config";
/** The ConfigMap mounted as a volume: what the proxy serves until config-sync has written a copy. */
export const INITIAL_CONFIG_DIR = "/etc/portcullis/config-initial";
/** The shared-keys Secret (ticket-secret, affinity-secret, affinity-secret.previous). */
export const KEYS_DIR = "/etc/portcullis/keys";
/** Where Kubernetes clients look for the in-cluster token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The compiler's default secretsDir. */
export const DEFAULT_SECRETS_DIR = "/etc/portcullis/secrets";

/** Container ports, named as the Services and probes refer to them (the proxy's defaults). */
export const CONTAINER_PORTS = { https: 8443, http: 8080, admin: 9901 } as const;
/** Ports of the proxy Service. */
export const SERVICE_PORTS = { https: 443, http: 80 } as const;

/** UID and GID the containers run as (non-root, outside the range of distributions' system users). */
export const RUN_AS_ID = 10001;

/** Names of the fleet's fixed objects. */
export interface InfraNames {
  /** Deployment, Service, PodDisruptionBudget and ServiceAccount: `<prefix>-proxy`. */
  proxy: string;
  /** Headless Service of the admin port: `<prefix>-proxy-admin`. */
  adminService: string;
  /** `<prefix>-proxy-config`. */
  configMap: string;
  /** Role and RoleBinding letting config-sync read the ConfigMap: `<prefix>-proxy-config-reader`. */
  configReader: string;
  /** `<prefix>-shared-keys`. */
  sharedKeys: string;
}

export function infraNames(prefix: string): InfraNames {
  return {
    proxy: `${prefix}-proxy`,
    adminService: `${prefix}-proxy-admin`,
    configMap: `${prefix}-proxy-config`,
    configReader: `${prefix}-proxy-config-reader`,
    sharedKeys: `${prefix}-shared-keys`,
  };
}

/** Longest prefix for which every name above (and each mirror Secret's) is a valid Service name (63). */
export const MAX_NAME_PREFIX_LENGTH = 63 - "-proxy-admin".length;

/**
 * What a mirror Secret carries: "tls" (kubernetes.io/tls: a certificate and key, maybe a CA bundle
 * too) or "ca" (Opaque: a CA bundle alone). Part of the name because a Secret's type is immutable.
 */
export type MirrorKind = "tls" | "ca";

/** Hex digits of sha256("namespace/name") in mirror names: 48 bits, collisions are checked anyway. */
const MIRROR_HASH_LENGTH = 12;

function mirrorId(kind: MirrorKind, source: ObjectKey): string {
  const digest = createHash("sha256").update(formatKey(source)).digest("hex");
  return `${kind}-${digest.slice(0, MIRROR_HASH_LENGTH)}`;
}

/** `<prefix>-<kind>-<12 hex of sha256("namespace/name")>`: fixed length, whatever the source's name. */
export function mirrorSecretName(prefix: string, kind: MirrorKind, source: ObjectKey): string {
  return `${prefix}-${mirrorId(kind, source)}`;
}

/** `<kind>-<12 hex>`: the mirror's volume in the pod (a DNS label, whatever the prefix's length). */
export function mirrorVolumeName(kind: MirrorKind, source: ObjectKey): string {
  return mirrorId(kind, source);
}
