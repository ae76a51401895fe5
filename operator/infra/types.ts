// The infrastructure builder's contract: what goes in (the compiled ProxyConfig, the Secrets it
// references, the operator's settings for the fleet) and what comes out (the objects the operator
// server-side-applies). Pure data, no I/O.
import type { KubernetesObject, V1Secret, V1Toleration } from "@kubernetes/client-node";
import type { ProxyConfig } from "../../proxy/config/types.ts";

/** Log levels of the proxy (`--log-level`). */
export type ProxyLogLevel = "error" | "warn" | "info" | "debug";

/** Requests and limits of one container, as resource name → Kubernetes quantity ("500m", "256Mi"). */
export interface ResourceSettings {
  /** What the scheduler reserves. Empty: none (the field is left out). */
  requests: Record<string, string>;
  /** Hard caps. Empty: none (the field is left out). */
  limits: Record<string, string>;
}

/** How the proxy fleet is exposed. */
export interface ServiceSettings {
  /** Service type of `<prefix>-proxy`. Default "LoadBalancer". */
  type: "LoadBalancer" | "NodePort" | "ClusterIP";
  /** Annotations of `<prefix>-proxy` (cloud load-balancer options). Default none. */
  annotations: Record<string, string>;
  /**
   * "Local" (default) sends external traffic only to proxies on the receiving node, which keeps the
   * client's source IP (no SNAT) at the cost of uneven spread. Left out for ClusterIP, which has no
   * external traffic.
   */
  externalTrafficPolicy: "Local" | "Cluster";
  /** spec.loadBalancerClass (type LoadBalancer only); null leaves it to the cluster's default. Default null. */
  loadBalancerClass: string | null;
}

/** Spreading of proxy pods over nodes. */
export type PodAntiAffinityMode =
  /** Prefer one proxy per node (hostname), but schedule anyway when nodes run out. The default. */
  | "Preferred"
  /**
   * One proxy per node, strictly. With maxSurge 1 a rollout needs a spare node: replicas must be
   * below the number of schedulable nodes.
   */
  | "Required"
  /** No anti-affinity. */
  | "None";

/** Everything about the proxy fleet that does not come from cluster objects, defaults filled in. */
export interface InfraSettings {
  /** Namespace of every object built; the controller namespace. Default "portcullis-system". */
  namespace: string;
  /** Prefix of every object name (`<prefix>-proxy`, `<prefix>-proxy-config`, ...). Default "portcullis". */
  namePrefix: string;
  /** Image holding the `portcullis` entry point (both `proxy` and `config-sync`). No default. */
  image: string;
  /** Default "IfNotPresent". */
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** Names of Secrets (in `namespace`) for pulling the image. Default none. */
  imagePullSecrets: string[];
  /**
   * Proxy pods; null leaves spec.replicas out so that an autoscaler owns it. Default 2. Switch to
   * null only once the autoscaler has written replicas: server-side apply drops a field nobody else
   * owns, and the API server would then default it to 1.
   */
  replicas: number | null;
  /**
   * Worker processes per pod (`--workers`), always passed: Node's availableParallelism() counts the
   * node's cores, not the pod's CPU, so the proxy's own default would over-fork. Keep it near the
   * proxy's CPU request in cores. Default 2.
   */
  workers: number;
  /** Container resources. No CPU limits by default: throttling adds tail latency to every request. */
  resources: {
    /** Default requests cpu 500m, memory 256Mi; limits memory 512Mi. */
    proxy: ResourceSettings;
    /** Default requests cpu 10m, memory 64Mi; limits memory 128Mi. */
    configSync: ResourceSettings;
  };
  service: ServiceSettings;
  /** Seconds from SIGTERM until the proxy exits, whatever is still open (`--drain-seconds`). Default 25. */
  drainSeconds: number;
  /**
   * Seconds the proxy keeps serving while reporting not-ready after SIGTERM, so that load balancers
   * and kube-proxy stop sending before it stops accepting (`--drain-delay-seconds`). Default 5.
   */
  drainDelaySeconds: number;
  /** Pod terminationGracePeriodSeconds; must exceed drainSeconds. Default drainSeconds + 10. */
  terminationGracePeriodSeconds: number;
  /** Default "Preferred". */
  podAntiAffinity: PodAntiAffinityMode;
  /** Pod nodeSelector. Default none. */
  nodeSelector: Record<string, string>;
  /** Pod tolerations. Default none. */
  tolerations: V1Toleration[];
  /** Pod priorityClassName; null for none. Default null. */
  priorityClassName: string | null;
  /** Peers whose X-Forwarded-* headers the proxy keeps (`--trusted-proxy`, CIDRs). Default none. */
  trustedProxies: string[];
  /** Default "info". */
  logLevel: ProxyLogLevel;
  /**
   * Where the proxy finds Secret files: `<secretsDir>/<namespace>/<name>/tls.crt`. Must equal the
   * compiler's secretsDir. Default "/etc/portcullis/secrets".
   */
  secretsDir: string;
}

/** InfraSettings as given (by flags or chart values): every field but `image` may be left out. */
export type InfraSettingsInput = Partial<
  Omit<InfraSettings, "image" | "resources" | "service" | "terminationGracePeriodSeconds">
> & {
  image: string;
  /** Each container's value replaces that container's default as a whole. */
  resources?: Partial<InfraSettings["resources"]>;
  /** Merged field by field over the defaults. */
  service?: Partial<ServiceSettings>;
  /** Default drainSeconds + 10. */
  terminationGracePeriodSeconds?: number;
};

/**
 * The object every built object is owned by (controller: true), so that deleting it deletes the
 * fleet. Cluster-scoped (the IngressClass), or namespaced in the settings' namespace: a namespaced
 * owner elsewhere is invalid and the garbage collector would treat the reference as dangling.
 */
export interface InfraOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** Set only for a namespaced owner; must equal InfraSettings.namespace. */
  namespace?: string;
}

/** Input of buildProxyInfrastructure. */
export interface InfraInput {
  /** The compiled config; its certificate and CA bundle paths decide the Secret volumes. */
  config: ProxyConfig;
  /** Secrets the config may reference (others are ignored, so a whole cache may be passed). */
  secrets: readonly V1Secret[];
  settings: InfraSettings;
  owner: InfraOwner;
}

/** Output of buildProxyInfrastructure. */
export interface InfraOutput {
  /** Every object to apply, sorted by kind, then name (see sortForApply for the order to apply in). */
  objects: KubernetesObject[];
  /**
   * The config's version (sha256 hex): the proxies report it on /config once they serve this config,
   * which is what the operator waits for before marking policies Programmed.
   */
  configHash: string;
}
