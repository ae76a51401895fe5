// The fleet's settings: defaults, and the checks that keep a bad flag or chart value from ever
// reaching the API server as a half-applied fleet. Problems are collected (all of them, each naming
// the setting) and thrown together; nothing falls back to a default silently.
import { posix } from "node:path";
import { compileTrustedProxies } from "../../proxy/http/trusted-proxies.ts";
import { isDNS1123Label, isDNS1123Subdomain } from "../admission/names.ts";
import { InvalidInfraSettingsError } from "./errors.ts";
import {
  CONFIG_DIR,
  DEFAULT_SECRETS_DIR,
  INITIAL_CONFIG_DIR,
  KEYS_DIR,
  MAX_NAME_PREFIX_LENGTH,
  SERVICE_ACCOUNT_DIR,
} from "./names.ts";
import type { InfraSettings, InfraSettingsInput, ResourceSettings } from "./types.ts";

/** Seconds added to drainSeconds for the default terminationGracePeriodSeconds. */
export const GRACE_MARGIN_SECONDS = 10;

/** Every default except the image (which has none) and the grace period (derived from drainSeconds). */
export const DEFAULT_INFRA_SETTINGS: Omit<
  InfraSettings,
  "image" | "terminationGracePeriodSeconds"
> = {
  namespace: "portcullis-system",
  namePrefix: "portcullis",
  imagePullPolicy: "IfNotPresent",
  imagePullSecrets: [],
  replicas: 2,
  workers: 2,
  resources: {
    proxy: { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "512Mi" } },
    configSync: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
  },
  service: {
    type: "LoadBalancer",
    annotations: {},
    externalTrafficPolicy: "Local",
    loadBalancerClass: null,
  },
  drainSeconds: 25,
  drainDelaySeconds: 5,
  podAntiAffinity: "Preferred",
  nodeSelector: {},
  tolerations: [],
  priorityClassName: null,
  trustedProxies: [],
  logLevel: "info",
  secretsDir: DEFAULT_SECRETS_DIR,
};

const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set([
  ...Object.keys(DEFAULT_INFRA_SETTINGS),
  "image",
  "terminationGracePeriodSeconds",
]);
const SERVICE_KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULT_INFRA_SETTINGS.service));
const RESOURCES_KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULT_INFRA_SETTINGS.resources));
const RESOURCE_KEYS: ReadonlySet<string> = new Set(["requests", "limits"]);

/** Settings with the defaults filled in; throws InvalidInfraSettingsError listing every problem. */
export function resolveInfraSettings(input: InfraSettingsInput): InfraSettings {
  const problems = [
    ...unknownKeys(input, TOP_LEVEL_KEYS, ""),
    ...unknownKeys(input.service, SERVICE_KEYS, "service."),
    ...unknownKeys(input.resources, RESOURCES_KEYS, "resources."),
    ...unknownKeys(input.resources?.proxy, RESOURCE_KEYS, "resources.proxy."),
    ...unknownKeys(input.resources?.configSync, RESOURCE_KEYS, "resources.configSync."),
  ];
  const { resources, service, terminationGracePeriodSeconds, ...rest } = input;
  const drainSeconds = rest.drainSeconds ?? DEFAULT_INFRA_SETTINGS.drainSeconds;
  const settings: InfraSettings = {
    ...DEFAULT_INFRA_SETTINGS,
    ...rest,
    resources: {
      proxy: resourceSettings(resources?.proxy, DEFAULT_INFRA_SETTINGS.resources.proxy),
      configSync: resourceSettings(
        resources?.configSync,
        DEFAULT_INFRA_SETTINGS.resources.configSync,
      ),
    },
    service: { ...DEFAULT_INFRA_SETTINGS.service, ...service },
    terminationGracePeriodSeconds:
      terminationGracePeriodSeconds ??
      (typeof drainSeconds === "number" ? drainSeconds + GRACE_MARGIN_SECONDS : Number.NaN),
  };
  problems.push(...validateInfraSettings(settings));
  if (problems.length > 0) throw new InvalidInfraSettingsError(problems);
  return settings;
}

/** A container's resources as given: both maps, or the default when not given at all. */
function resourceSettings(
  given: Partial<ResourceSettings> | undefined,
  fallback: ResourceSettings,
): ResourceSettings {
  if (given === undefined)
    return { requests: { ...fallback.requests }, limits: { ...fallback.limits } };
  return { requests: given.requests ?? {}, limits: given.limits ?? {} };
}

function unknownKeys(value: unknown, known: ReadonlySet<string>, path: string): string[] {
  if (typeof value !== "object" || value === null) return [];
  return Object.keys(value)
    .filter((key) => !known.has(key))
    .map((key) => `${path}${key}: unknown setting`);
}

/** Kubernetes quantity ("500m", "1.5Gi", "1e3"), as resource.ParseQuantity accepts it. */
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;

/** Problems with resolved settings (empty when valid), each naming the setting. */
export function validateInfraSettings(settings: InfraSettings): string[] {
  const problems: string[] = [];
  const add = (path: string, message: string): void => {
    problems.push(`${path}: ${message}`);
  };
  const oneOf = (path: string, value: unknown, allowed: readonly string[]): void => {
    if (typeof value !== "string" || !allowed.includes(value))
      add(path, `must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
  };
  const integer = (path: string, value: unknown, min: number, max: number): void => {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
      add(path, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  };
  const stringMap = (path: string, value: unknown): value is Record<string, string> => {
    if (
      typeof value !== "object" ||
      value === null ||
      Array.isArray(value) ||
      Object.values(value).some((v) => typeof v !== "string")
    ) {
      add(path, "must map names to strings");
      return false;
    }
    return true;
  };
  const nameCheck = (path: string, value: unknown, check: (v: string) => string[]): void => {
    if (typeof value !== "string") {
      add(path, "must be a string");
      return;
    }
    for (const message of check(value)) add(path, `${JSON.stringify(value)} ${message}`);
  };

  nameCheck("namespace", settings.namespace, isDNS1123Label);
  nameCheck("namePrefix", settings.namePrefix, (value) => {
    const messages = isDNS1123Label(value).filter((m) => !m.startsWith("must be no more than"));
    if (!/^[a-z]/.test(value)) messages.push("must start with a lowercase letter");
    if (value.length > MAX_NAME_PREFIX_LENGTH)
      messages.push(`must be no more than ${MAX_NAME_PREFIX_LENGTH} characters`);
    return messages;
  });
  if (typeof settings.image !== "string" || settings.image === "" || /\s/.test(settings.image))
    add("image", "must be an image reference without whitespace");
  oneOf("imagePullPolicy", settings.imagePullPolicy, ["Always", "IfNotPresent", "Never"]);
  if (!Array.isArray(settings.imagePullSecrets)) add("imagePullSecrets", "must be a list");
  else
    settings.imagePullSecrets.forEach((name, i) => {
      nameCheck(`imagePullSecrets[${i}]`, name, isDNS1123Subdomain);
    });
  if (settings.replicas !== null) integer("replicas", settings.replicas, 0, 1000);
  integer("workers", settings.workers, 1, 256);
  integer("drainSeconds", settings.drainSeconds, 1, 3600);
  integer("drainDelaySeconds", settings.drainDelaySeconds, 0, 600);
  if (settings.drainDelaySeconds >= settings.drainSeconds)
    add("drainDelaySeconds", "must be less than drainSeconds (the delay is part of the drain)");
  integer(
    "terminationGracePeriodSeconds",
    settings.terminationGracePeriodSeconds,
    settings.drainSeconds + 1,
    7200,
  );

  for (const container of ["proxy", "configSync"] as const) {
    const resources = settings.resources?.[container];
    for (const part of ["requests", "limits"] as const) {
      const path = `resources.${container}.${part}`;
      const map = resources?.[part];
      if (!stringMap(path, map)) continue;
      for (const [name, quantity] of Object.entries(map))
        if (!QUANTITY.test(quantity)) add(`${path}.${name}`, `"${quantity}" is not a quantity`);
    }
  }

  const service = settings.service;
  oneOf("service.type", service?.type, ["LoadBalancer", "NodePort", "ClusterIP"]);
  stringMap("service.annotations", service?.annotations);
  oneOf("service.externalTrafficPolicy", service?.externalTrafficPolicy, ["Local", "Cluster"]);
  if (service?.loadBalancerClass !== null && service?.loadBalancerClass !== undefined) {
    if (typeof service.loadBalancerClass !== "string" || service.loadBalancerClass === "")
      add("service.loadBalancerClass", "must be a non-empty string or null");
    else if (service.type !== "LoadBalancer")
      add("service.loadBalancerClass", "may be set only when service.type is LoadBalancer");
  }

  oneOf("podAntiAffinity", settings.podAntiAffinity, ["Preferred", "Required", "None"]);
  stringMap("nodeSelector", settings.nodeSelector);
  if (!Array.isArray(settings.tolerations)) add("tolerations", "must be a list");
  if (settings.priorityClassName !== null)
    nameCheck("priorityClassName", settings.priorityClassName, isDNS1123Subdomain);
  if (!Array.isArray(settings.trustedProxies)) add("trustedProxies", "must be a list");
  else {
    try {
      compileTrustedProxies(settings.trustedProxies);
    } catch (error) {
      add("trustedProxies", (error as Error).message);
    }
  }
  oneOf("logLevel", settings.logLevel, ["error", "warn", "info", "debug"]);
  problems.push(...secretsDirProblems(settings.secretsDir));
  return problems;
}

/** The fixed mounts secretsDir may neither hold nor sit inside. */
const FIXED_MOUNTS = [CONFIG_DIR, INITIAL_CONFIG_DIR, KEYS_DIR, SERVICE_ACCOUNT_DIR];

function secretsDirProblems(dir: unknown): string[] {
  if (
    typeof dir !== "string" ||
    !posix.isAbsolute(dir) ||
    posix.normalize(dir) !== dir ||
    dir === "/"
  )
    return [
      `secretsDir: must be a normalised absolute path other than / (got ${JSON.stringify(dir)})`,
    ];
  if (dir.endsWith("/")) return [`secretsDir: must not end with "/" (got "${dir}")`];
  const within = (inner: string, outer: string): boolean =>
    inner === outer || inner.startsWith(`${outer}/`);
  return FIXED_MOUNTS.filter((mount) => within(dir, mount) || within(mount, dir)).map(
    (mount) => `secretsDir: "${dir}" overlaps the mount at ${mount}`,
  );
}
