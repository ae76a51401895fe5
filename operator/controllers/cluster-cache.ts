// The operator's view of the cluster: one informer per resource type it reads, and the one place
// that decides which Secrets matter. Secrets are watched cluster-wide, but only those the Ingresses
// and policies reference (and the fleet's own) are cached with their data; every other Secret is kept
// as a metadata-only stub, so memory does not grow with the cluster's Secrets and key material the
// operator does not need never sits in its heap. When a new reference appears, the Secret is fetched
// once (hydrate) and its next watch event caches it in full.
import { setTimeout as sleep } from "node:timers/promises";
import type {
  KubeConfig,
  V1ConfigMap,
  V1Deployment,
  V1EndpointSlice,
  V1Ingress,
  V1IngressClass,
  V1PodDisruptionBudget,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import type {
  CertManagerCertificate,
  CertManagerClusterIssuer,
  CertManagerIssuer,
} from "../api/cert-manager.ts";
import { formatKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import type { CompilerInput } from "../compiler/types.ts";
import { MANAGED_BY } from "../infra/metadata.ts";
import { Backoff, RECOVERY_BACKOFF_MAX_MS } from "../kube/backoff.ts";
import type { KubeClient } from "../kube/client.ts";
import { describeError, KubeApiError } from "../kube/errors.ts";
import { createInformer, type Informer, type KubeObject } from "../kube/informer.ts";
import type { Logger } from "../kube/logger.ts";
import { fetchJson } from "../kube/request.ts";
import { combineInformers } from "./combined-informer.ts";

/** Options of createClusterCache. */
export interface ClusterCacheOptions {
  kubeConfig: KubeConfig;
  client: KubeClient;
  logger: Logger;
  /** The controller namespace: where the fleet's objects live. */
  namespace: string;
  /** "namespace/name" of Secrets always cached in full (the default certificate). */
  pinnedSecrets: readonly string[];
  /** Informer tuning, for tests. Default: the informer's. */
  quietRelistMs?: number;
  /** Aborts the start-up checks (the operator is stopping). */
  signal?: AbortSignal | undefined;
  /**
   * Namespaces whose Secrets are watched (the controller namespace is always added), so that the
   * operator needs Secret access only there. Undefined: all namespaces (cluster-wide access).
   */
  secretNamespaces?: readonly string[] | undefined;
}

/** What changed, for the operator to decide what to reconcile. */
export type CacheTopic = "inputs" | "fleet" | "certificates";

/** The informers the operator reads from, and the compiler's input built from them. */
export interface ClusterCache {
  readonly ingressClasses: Informer<V1IngressClass>;
  readonly ingresses: Informer<V1Ingress>;
  readonly policies: Informer<LoadBalancerPolicy>;
  readonly services: Informer<V1Service>;
  readonly endpointSlices: Informer<V1EndpointSlice>;
  readonly secrets: Informer<V1Secret>;
  /** The fleet's own objects (controller namespace, managed-by label): to see drift and rollouts. */
  readonly deployments: Informer<V1Deployment>;
  readonly configMaps: Informer<V1ConfigMap>;
  readonly disruptionBudgets: Informer<V1PodDisruptionBudget>;
  readonly serviceAccounts: Informer<V1ServiceAccount>;
  readonly roles: Informer<V1Role>;
  readonly roleBindings: Informer<V1RoleBinding>;
  /** Undefined when cert-manager's CRDs are not installed (checked at start). */
  readonly certManager:
    | {
        certificates: Informer<CertManagerCertificate>;
        issuers: Informer<CertManagerIssuer>;
        clusterIssuers: Informer<CertManagerClusterIssuer>;
      }
    | undefined;
  /** Lists and watches everything; resolves once every informer has synced. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Calls `handler` with the topic of each change (after the cache holds it). */
  onChange(handler: (topic: CacheTopic, kind: string, key: string) => void): void;
  /** Everything the compiler reads, from the cache. */
  compilerInput(): CompilerInput;
  /** A Secret with its data, if it is cached in full (referenced) or was hydrated. */
  secret(key: string): V1Secret | undefined;
  /** Makes sure every referenced Secret's data is cached: fetches those seen only as stubs. */
  hydrateReferencedSecrets(signal: AbortSignal): Promise<void>;
  /** The live resourceVersion of a fleet object by kind and "namespace/name", if it is watched. */
  resourceVersionOf(kind: string, key: string): string | undefined;
}

const STUB_ANNOTATION = "portcullis.dev/cache-stub";

export async function createClusterCache(options: ClusterCacheOptions): Promise<ClusterCache> {
  const { kubeConfig, logger, namespace } = options;
  const base = {
    kubeConfig,
    logger,
    // Retries back off to at most 8 s (jittered down to 4–8 s): while the API server is down, the
    // operator's ~15 informers send 2–4 requests/s in all, and once it is back every watch resumes
    // within 8 s, which bounds how long re-converging takes.
    backoff: { maxMs: RECOVERY_BACKOFF_MAX_MS },
    ...(options.quietRelistMs === undefined ? {} : { quietRelistMs: options.quietRelistMs }),
  };
  const fleetSelector = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
  const owned = { ...base, namespace, labelSelector: fleetSelector };
  /** Referenced Secret keys, recomputed from Ingresses and policies on each of their changes. */
  let referenced = new Set<string>(options.pinnedSecrets);
  const hydrated = new Map<string, V1Secret>();

  const keepSecret = (secret: V1Secret): V1Secret => {
    const key = formatKey(keyOf(secret));
    if (referenced.has(key) || isFleetSecret(secret, namespace)) return secret;
    // A stub: enough to know the Secret exists (and its type), nothing of its data.
    const { name, namespace: ns, uid, resourceVersion, labels } = secret.metadata ?? {};
    return {
      metadata: {
        ...(name === undefined ? {} : { name }),
        ...(ns === undefined ? {} : { namespace: ns }),
        ...(uid === undefined ? {} : { uid }),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
        ...(labels === undefined ? {} : { labels }),
        annotations: { [STUB_ANNOTATION]: "true" },
      },
      ...(secret.type === undefined ? {} : { type: secret.type }),
    };
  };

  const informers = {
    ingressClasses: createInformer<V1IngressClass>({
      ...base,
      path: "/apis/networking.k8s.io/v1/ingressclasses",
    }),
    ingresses: createInformer<V1Ingress>({ ...base, path: "/apis/networking.k8s.io/v1/ingresses" }),
    policies: createInformer<LoadBalancerPolicy>({
      ...base,
      path: "/apis/portcullis.dev/v1alpha1/loadbalancerpolicies",
    }),
    services: createInformer<V1Service>({ ...base, path: "/api/v1/services" }),
    endpointSlices: createInformer<V1EndpointSlice>({
      ...base,
      path: "/apis/discovery.k8s.io/v1/endpointslices",
    }),
    secrets:
      options.secretNamespaces === undefined
        ? createInformer<V1Secret>({ ...base, path: "/api/v1/secrets", keep: keepSecret })
        : combineInformers(
            [...new Set([namespace, ...options.secretNamespaces])].sort().map((ns) =>
              createInformer<V1Secret>({
                ...base,
                path: "/api/v1/secrets",
                namespace: ns,
                keep: keepSecret,
              }),
            ),
          ),
    deployments: createInformer<V1Deployment>({ ...owned, path: "/apis/apps/v1/deployments" }),
    configMaps: createInformer<V1ConfigMap>({ ...owned, path: "/api/v1/configmaps" }),
    disruptionBudgets: createInformer<V1PodDisruptionBudget>({
      ...owned,
      path: "/apis/policy/v1/poddisruptionbudgets",
    }),
    serviceAccounts: createInformer<V1ServiceAccount>({
      ...owned,
      path: "/api/v1/serviceaccounts",
    }),
    roles: createInformer<V1Role>({ ...owned, path: "/apis/rbac.authorization.k8s.io/v1/roles" }),
    roleBindings: createInformer<V1RoleBinding>({
      ...owned,
      path: "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    }),
  };
  const certManager = (await hasCertManager(kubeConfig, logger, options.signal))
    ? {
        certificates: createInformer<CertManagerCertificate>({
          ...base,
          path: "/apis/cert-manager.io/v1/certificates",
        }),
        issuers: createInformer<CertManagerIssuer>({
          ...base,
          path: "/apis/cert-manager.io/v1/issuers",
        }),
        clusterIssuers: createInformer<CertManagerClusterIssuer>({
          ...base,
          path: "/apis/cert-manager.io/v1/clusterissuers",
        }),
      }
    : undefined;

  const all: [string, Informer<KubeObject>, CacheTopic][] = [
    ["IngressClass", informers.ingressClasses, "inputs"],
    ["Ingress", informers.ingresses, "inputs"],
    ["LoadBalancerPolicy", informers.policies, "inputs"],
    ["Service", informers.services, "inputs"],
    ["EndpointSlice", informers.endpointSlices, "inputs"],
    ["Secret", informers.secrets, "inputs"],
    ["Deployment", informers.deployments, "fleet"],
    ["ConfigMap", informers.configMaps, "fleet"],
    ["PodDisruptionBudget", informers.disruptionBudgets, "fleet"],
    ["ServiceAccount", informers.serviceAccounts, "fleet"],
    ["Role", informers.roles, "fleet"],
    ["RoleBinding", informers.roleBindings, "fleet"],
  ];
  if (certManager) {
    all.push(
      ["Certificate", certManager.certificates, "certificates"],
      ["Issuer", certManager.issuers, "inputs"],
      ["ClusterIssuer", certManager.clusterIssuers, "inputs"],
    );
  }

  const refreshReferences = (): void => {
    referenced = referencedSecrets(
      informers.ingresses.list(),
      informers.policies.list(),
      options.pinnedSecrets,
    );
  };
  informers.ingresses.onChange(refreshReferences);
  informers.policies.onChange(refreshReferences);
  informers.secrets.onChange((event) => {
    // The informer now holds whatever the watch said last: a hydrated copy is out of date.
    hydrated.delete(event.key);
  });

  const secret = (key: string): V1Secret | undefined => {
    const cached = informers.secrets.get(key);
    if (cached && cached.metadata?.annotations?.[STUB_ANNOTATION] !== "true") return cached;
    return cached ? hydrated.get(key) : undefined;
  };

  const byKind = new Map(all.map(([kind, informer]) => [kind, informer]));
  const secretScope =
    options.secretNamespaces === undefined
      ? undefined
      : new Set([namespace, ...options.secretNamespaces]);
  const readable = (ns: string): boolean => secretScope === undefined || secretScope.has(ns);
  /** Referenced Secrets already warned about (outside --secret-namespaces). */
  const unreadable = new Set<string>();
  return {
    ...informers,
    certManager,
    async start() {
      await Promise.all(all.map(([, informer]) => informer.start()));
      refreshReferences();
    },
    async stop() {
      await Promise.all(all.map(([, informer]) => informer.stop()));
    },
    onChange(handler) {
      for (const [kind, informer, topic] of all) {
        informer.onChange((event) => handler(topic, kind, event.key));
      }
    },
    compilerInput() {
      return {
        ingressClasses: informers.ingressClasses.list(),
        ingresses: informers.ingresses.list(),
        policies: informers.policies.list(),
        services: informers.services.list(),
        endpointSlices: informers.endpointSlices.list(),
        secrets: [...referenced].flatMap((key) => secret(key) ?? []),
        issuers: certManager?.issuers.list() ?? [],
        clusterIssuers: certManager?.clusterIssuers.list() ?? [],
      };
    },
    secret,
    async hydrateReferencedSecrets(signal) {
      for (const key of referenced) {
        const secretNamespace = key.slice(0, key.indexOf("/"));
        if (!readable(secretNamespace)) {
          if (!unreadable.has(key))
            logger.warn("Skipped a Secret in a namespace the operator may not read", {
              secret: key,
              hint: "add the namespace to --secret-namespaces (chart: secrets.namespaces)",
            });
          unreadable.add(key);
          continue;
        }
        const cached = informers.secrets.get(key);
        if (cached?.metadata?.annotations?.[STUB_ANNOTATION] !== "true") continue;
        if (hydrated.get(key)?.metadata?.resourceVersion === cached.metadata?.resourceVersion)
          continue;
        const [ns, name] = key.split("/");
        const fetched = await options.client.get<V1Secret>(
          { apiVersion: "v1", kind: "Secret", namespace: ns ?? "", name: name ?? "" },
          signal,
        );
        if (fetched) hydrated.set(key, fetched);
      }
    },
    resourceVersionOf(kind, key) {
      return byKind.get(kind)?.get(key)?.metadata?.resourceVersion;
    },
  };
}

/** Secrets named by Ingress spec.tls, policy certificates and upstream CAs, and `pinned`. */
export function referencedSecrets(
  ingresses: readonly V1Ingress[],
  policies: readonly LoadBalancerPolicy[],
  pinned: readonly string[],
): Set<string> {
  const keys = new Set(pinned);
  for (const ingress of ingresses) {
    const namespace = ingress.metadata?.namespace ?? "";
    for (const tls of ingress.spec?.tls ?? []) {
      if (tls.secretName) keys.add(formatKey({ namespace, name: tls.secretName }));
    }
  }
  for (const policy of policies) {
    const namespace = policy.metadata.namespace ?? "";
    const certificate = policy.spec?.certificate?.secretName;
    if (certificate) keys.add(formatKey({ namespace, name: certificate }));
    const ca = policy.spec?.tls?.upstream?.caSecretName;
    if (ca) keys.add(formatKey({ namespace, name: ca }));
  }
  return keys;
}

function isFleetSecret(secret: V1Secret, namespace: string): boolean {
  return (
    secret.metadata?.namespace === namespace &&
    secret.metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGED_BY
  );
}

/**
 * Whether cert-manager's API group is served (its CRDs installed). Asks until the API server answers
 * (an unreachable server says nothing either way), with backoff; rejects only if `signal` aborts.
 */
async function hasCertManager(
  kubeConfig: KubeConfig,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
  for (;;) {
    try {
      await fetchJson(kubeConfig, "/apis/cert-manager.io/v1", {}, signal);
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) {
        logger.info("Found no cert-manager API; issuance through issuerRef is off", {});
        return false;
      }
      signal?.throwIfAborted();
      const delayMs = backoff.next();
      logger.warn("Failed to check for the cert-manager API; retrying", {
        attempt: backoff.failures,
        delayMs,
        error: describeError(error),
      });
      await sleep(delayMs, undefined, signal ? { signal } : {});
    }
  }
}
