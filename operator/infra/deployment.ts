// The proxy Deployment. Each pod runs two containers:
//   proxy        `portcullis proxy`: serves traffic; reads the config from the emptyDir that
//                config-sync fills (falling back to the ConfigMap mounted as a volume until then),
//                the shared keys and the mirrored certificates from Secret volumes. No API token.
//   config-sync  `portcullis config-sync`: watches the one ConfigMap it may read and writes it
//                atomically into the emptyDir, so a config change reaches the proxy in well under
//                2 s without a restart. The pod's only API token is projected into this container.
//
// What rolls the pods: the pod template changes only with the settings or the set of mounted
// Secrets (volumes, and the portcullis.dev/certificates annotation hashing that set). A new config
// never touches the template, and a rotated certificate reaches the pods through kubelet's volume
// refresh and the proxy's file watch.
//
// Containers set args only: the image's entry point is the `portcullis` command.
//
// No preStop hook: on SIGTERM the proxy itself reports not-ready and keeps serving for
// drainDelaySeconds (while endpoints and load balancers catch up), then drains until drainSeconds;
// terminationGracePeriodSeconds leaves a margin after that before SIGKILL.
import type {
  V1Affinity,
  V1Container,
  V1Deployment,
  V1PodSecurityContext,
  V1PodSpec,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { infraLabels, objectMeta, proxySelector } from "./metadata.ts";
import {
  CONFIG_DIR,
  CONFIG_FILE,
  CONFIG_SYNC_CONTAINER,
  CONTAINER_PORTS,
  INITIAL_CONFIG_DIR,
  infraNames,
  KEYS_DIR,
  PROXY_CONTAINER,
  RUN_AS_ID,
  SERVICE_ACCOUNT_DIR,
} from "./names.ts";
import type { MirrorPlan } from "./secrets.ts";
import type { InfraOwner, InfraSettings, ResourceSettings } from "./types.ts";

/** Pod template annotation: sha256 of the mounted Secret set (certificateSetHash). */
export const CERTIFICATES_ANNOTATION = "portcullis.dev/certificates";
/** Makes `kubectl logs` and `kubectl exec` pick the proxy container without -c. */
const DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container";

/** Mode of Secret volume files: owner read only (fsGroup adds group read for the proxy's GID). */
const SECRET_FILE_MODE = 0o400;
/** The emptyDir holds config.json and, during an atomic write, its temporary copy. */
const CONFIG_VOLUME_SIZE = "4Mi";

const VOLUMES = {
  config: "config",
  initialConfig: "config-initial",
  sharedKeys: "shared-keys",
  token: "config-sync-token",
} as const;

/**
 * Security context of every container: what the "restricted" Pod Security Standard asks, plus a
 * read-only root filesystem (the proxy writes only into the config emptyDir).
 */
export function containerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: RUN_AS_ID,
    runAsGroup: RUN_AS_ID,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * Pod security context. fsGroup makes kubelet give the Secret and ConfigMap files to the proxy's
 * group with group read added: without it, 0400 root-owned key files would be unreadable by UID 10001.
 */
function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_ID,
    runAsGroup: RUN_AS_ID,
    fsGroup: RUN_AS_ID,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function resources(settings: ResourceSettings): V1ResourceRequirements | undefined {
  const out: V1ResourceRequirements = {};
  if (Object.keys(settings.requests).length > 0) out.requests = { ...settings.requests };
  if (Object.keys(settings.limits).length > 0) out.limits = { ...settings.limits };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `portcullis proxy` arguments: every port and timing explicit, so the pod does not rely on defaults. */
export function proxyArgs(settings: InfraSettings): string[] {
  return [
    "proxy",
    "--config",
    `${CONFIG_DIR}/${CONFIG_FILE}`,
    "--initial-config",
    `${INITIAL_CONFIG_DIR}/${CONFIG_FILE}`,
    "--keys-dir",
    KEYS_DIR,
    "--https-port",
    String(CONTAINER_PORTS.https),
    "--http-port",
    String(CONTAINER_PORTS.http),
    "--admin-port",
    String(CONTAINER_PORTS.admin),
    "--workers",
    String(settings.workers),
    "--drain-seconds",
    String(settings.drainSeconds),
    "--drain-delay-seconds",
    String(settings.drainDelaySeconds),
    "--log-level",
    settings.logLevel,
    ...settings.trustedProxies.flatMap((cidr) => ["--trusted-proxy", cidr]),
  ];
}

/** `portcullis config-sync` arguments. */
export function configSyncArgs(settings: InfraSettings): string[] {
  return [
    "config-sync",
    "--namespace",
    settings.namespace,
    "--configmap",
    infraNames(settings.namePrefix).configMap,
    "--out",
    `${CONFIG_DIR}/${CONFIG_FILE}`,
  ];
}

function withResources(container: V1Container, settings: ResourceSettings): V1Container {
  const requirements = resources(settings);
  if (requirements) container.resources = requirements;
  return container;
}

function proxyContainer(settings: InfraSettings, plans: readonly MirrorPlan[]): V1Container {
  const mounts: V1VolumeMount[] = [
    { name: VOLUMES.config, mountPath: CONFIG_DIR, readOnly: true },
    { name: VOLUMES.initialConfig, mountPath: INITIAL_CONFIG_DIR, readOnly: true },
    { name: VOLUMES.sharedKeys, mountPath: KEYS_DIR, readOnly: true },
    ...plans.map((plan) => ({ name: plan.volumeName, mountPath: plan.mountPath, readOnly: true })),
  ];
  return withResources(
    {
      name: PROXY_CONTAINER,
      image: settings.image,
      imagePullPolicy: settings.imagePullPolicy,
      args: proxyArgs(settings),
      // Container ports' list key is (containerPort, protocol): protocol is set for server-side apply.
      ports: (["https", "http", "admin"] as const).map((name) => ({
        name,
        containerPort: CONTAINER_PORTS[name],
        protocol: "TCP",
      })),
      // Fast readiness: a surge pod counts as available soon after it serves, and the drain's
      // not-ready turns up within a period.
      readinessProbe: { httpGet: { path: "/readyz", port: "admin" }, periodSeconds: 2 },
      livenessProbe: { httpGet: { path: "/healthz", port: "admin" }, timeoutSeconds: 5 },
      // Up to 60 s to bring the admin port up; liveness starts only after.
      startupProbe: {
        httpGet: { path: "/healthz", port: "admin" },
        periodSeconds: 1,
        failureThreshold: 60,
      },
      securityContext: containerSecurityContext(),
      terminationMessagePolicy: "FallbackToLogsOnError",
      volumeMounts: mounts,
    },
    settings.resources.proxy,
  );
}

function configSyncContainer(settings: InfraSettings): V1Container {
  return withResources(
    {
      name: CONFIG_SYNC_CONTAINER,
      image: settings.image,
      imagePullPolicy: settings.imagePullPolicy,
      args: configSyncArgs(settings),
      securityContext: containerSecurityContext(),
      terminationMessagePolicy: "FallbackToLogsOnError",
      volumeMounts: [
        { name: VOLUMES.config, mountPath: CONFIG_DIR },
        { name: VOLUMES.token, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true },
      ],
    },
    settings.resources.configSync,
  );
}

function volumes(settings: InfraSettings, plans: readonly MirrorPlan[]): V1Volume[] {
  const names = infraNames(settings.namePrefix);
  return [
    { name: VOLUMES.config, emptyDir: { medium: "Memory", sizeLimit: CONFIG_VOLUME_SIZE } },
    { name: VOLUMES.initialConfig, configMap: { name: names.configMap } },
    {
      name: VOLUMES.sharedKeys,
      secret: { secretName: names.sharedKeys, defaultMode: SECRET_FILE_MODE },
    },
    {
      // What automountServiceAccountToken would mount (token, cluster CA, namespace), but only into
      // config-sync. The token is the API default one-hour bound token: the client re-reads the
      // file every minute and kubelet refreshes it well before expiry, so no legacy extension is needed.
      name: VOLUMES.token,
      projected: {
        sources: [
          { serviceAccountToken: { path: "token" } },
          {
            configMap: {
              name: "kube-root-ca.crt",
              items: [{ key: "ca.crt", path: "ca.crt" }],
            },
          },
          {
            downwardAPI: {
              items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
            },
          },
        ],
      },
    },
    ...plans.map((plan) => ({
      name: plan.volumeName,
      secret: { secretName: plan.secretName, defaultMode: SECRET_FILE_MODE },
    })),
  ];
}

function affinity(settings: InfraSettings): V1Affinity | undefined {
  const term = {
    labelSelector: { matchLabels: proxySelector(settings) },
    topologyKey: "kubernetes.io/hostname",
  };
  switch (settings.podAntiAffinity) {
    case "None":
      return undefined;
    case "Required":
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case "Preferred":
      return {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }],
        },
      };
  }
}

/** The Deployment `<prefix>-proxy`, mounting the Secrets of `plans` (whose set hashes to `certificates`). */
export function buildProxyDeployment(
  settings: InfraSettings,
  owner: InfraOwner,
  plans: readonly MirrorPlan[],
  certificates: string,
): V1Deployment {
  const names = infraNames(settings.namePrefix);
  const spec: V1PodSpec = {
    serviceAccountName: names.proxy,
    automountServiceAccountToken: false,
    // No environment variables for every Service in the namespace.
    enableServiceLinks: false,
    terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
    securityContext: podSecurityContext(),
    containers: [proxyContainer(settings, plans), configSyncContainer(settings)],
    volumes: volumes(settings, plans),
  };
  const podAffinity = affinity(settings);
  if (podAffinity) spec.affinity = podAffinity;
  if (Object.keys(settings.nodeSelector).length > 0)
    spec.nodeSelector = { ...settings.nodeSelector };
  if (settings.tolerations.length > 0) spec.tolerations = [...settings.tolerations];
  if (settings.priorityClassName !== null) spec.priorityClassName = settings.priorityClassName;
  if (settings.imagePullSecrets.length > 0)
    spec.imagePullSecrets = settings.imagePullSecrets.map((name) => ({ name }));

  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: objectMeta(settings, owner, names.proxy, "proxy"),
    spec: {
      // Left out when null, so that an autoscaler owns it.
      ...(settings.replicas === null ? {} : { replicas: settings.replicas }),
      selector: { matchLabels: proxySelector(settings) },
      // One extra pod at a time, never one fewer ready: with readiness on /readyz and the proxy's
      // drain, a rollout (a certificate added or removed, a new image) fails no request.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: infraLabels(settings, "proxy"),
          annotations: {
            [CERTIFICATES_ANNOTATION]: certificates,
            [DEFAULT_CONTAINER_ANNOTATION]: PROXY_CONTAINER,
          },
        },
        spec,
      },
    },
  };
}
