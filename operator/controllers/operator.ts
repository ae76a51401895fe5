// The operator: thin glue between the cluster cache (informers), the pure compiler and infrastructure
// builders, and the API writes. Level-based: every run of a key reads the whole current state from the
// cache, computes what should be, and writes only the difference; it never branches on which event
// woke it. Keys of the work queue:
//   fleet              compile everything; when leading, apply the fleet (server-side apply, skipping
//                      unchanged objects), the shared keys, cert-manager Certificates, Events
//   prune              delete mirror Secrets and Certificates no longer built, once the Deployment has
//                      rolled out (old pods still mount the mirrors until then)
//   programmed         ask the ready proxies which config they serve
//   status/<Kind>/<ns>/<name>   write one object's status if it differs from what is written
// Every replica watches and compiles (so a new leader starts warm and readiness means "compiles");
// only the leader writes, and its writes are aborted the moment its term ends.
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import type { KubeConfig, V1Deployment, V1Secret } from "@kubernetes/client-node";
import type { CertManagerCertificate } from "../api/cert-manager.ts";
import { formatKey, parseKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import { POLICY_API_VERSION, POLICY_KIND } from "../api/policy.ts";
import { compile } from "../compiler/compile.ts";
import { CONTROLLER_NAME } from "../compiler/ingress-class.ts";
import { Reason } from "../compiler/reasons.ts";
import type { CompilerOutput, Diagnostic, StatusIntent } from "../compiler/types.ts";
import {
  buildProxyInfrastructure,
  buildRotatedSharedKeysSecret,
  buildSharedKeysSecret,
  CERTIFICATES_ANNOTATION,
  InfraError,
  type InfraOwner,
  type InfraSettings,
  infraNames,
  MANAGED_BY,
  type RandomBytes,
  sortForApply,
} from "../infra/index.ts";
import { LABEL_MANAGED_BY } from "../infra/metadata.ts";
import { RECOVERY_BACKOFF_MAX_MS } from "../kube/backoff.ts";
import { createKubeClient, type KubeClient } from "../kube/client.ts";
import { describeError, KubeApiError } from "../kube/errors.ts";
import type { Logger } from "../kube/logger.ts";
import { createWorkQueue, PermanentError, type WorkQueue } from "../kube/work-queue.ts";
import { Applier, type ApplyObject } from "./applier.ts";
import { type ClusterCache, createClusterCache } from "./cluster-cache.ts";
import { EventRecorder, type EventSubject } from "./events.ts";
import { fetchProxyReports, readyAdminAddresses } from "./proxy-reports.ts";
import { AFFINITY_ROTATED_ANNOTATION, planSharedKeys } from "./shared-keys.ts";
import {
  buildLoadBalancerIngress,
  buildPolicyStatus,
  buildProgrammedCondition,
  hasWrittenStatus,
  isSameStatus,
  type PolicyStatus,
  type ProxyReport,
} from "./status.ts";

/** Options of createOperator. */
export interface OperatorOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** This replica's identity, in Events (reportingInstance). */
  identity: string;
  /** The proxy fleet's settings (namespace = the controller namespace). */
  settings: InfraSettings;
  /** IngressClass served; it owns every object of the fleet. Default "portcullis". */
  ingressClassName?: string;
  /** "namespace/name" of the certificate for handshakes whose SNI matches no host. Default none. */
  defaultCertificate?: string | undefined;
  /** Server-side apply field manager. Default "portcullis-operator". */
  fieldManager?: string;
  /** Debounce of recompiles after a change, in ms (and its cap: 5×). Default 100. */
  holdOffMs?: number;
  /** Periodic recompile, in s: certificate expiry, key rotation and drift are noticed by then. Default 60. */
  resyncSeconds?: number;
  /** Seconds between affinity-key rotations; 0 turns rotation off. Default 7 days. */
  affinityKeyRotationSeconds?: number;
  /** How often the proxies are asked for their config while some policy is not Programmed, in ms. Default 1000. */
  programmedPollMs?: number;
  /** Informer watchdog, for tests. Default: the informer's. */
  quietRelistMs?: number;
  /** Default node:crypto randomBytes. */
  randomBytes?: RandomBytes;
  /** Namespaces whose Secrets the operator may read (see ClusterCacheOptions). Default: all. */
  secretNamespaces?: readonly string[] | undefined;
  /** Aborts createOperator's start-up checks (waiting for an unreachable API server). */
  signal?: AbortSignal | undefined;
}

/** A running operator. */
export interface Operator {
  /** Starts watching and compiling; resolves once the cache has synced. */
  start(): Promise<void>;
  /** Writes as the leader until `signal` aborts; resolves then. */
  lead(signal: AbortSignal): Promise<void>;
  /** Stops everything and closes connections. */
  stop(): Promise<void>;
  /** Whether the cache has synced and a compile has succeeded: the operator's readiness. */
  ready(): boolean;
  /** Resolves when the queue has nothing to do (for tests). */
  idle(): Promise<void>;
}

export const DEFAULT_FIELD_MANAGER = "portcullis-operator";
const DEFAULT_ROTATION_SECONDS = 7 * 24 * 3600;
const PROXY_REPORT_TIMEOUT_MS = 2000;
/** Programmed is re-checked this often even when everything is Programmed (a proxy may restart). */
const PROGRAMMED_IDLE_POLL_MS = 30_000;

export async function createOperator(options: OperatorOptions): Promise<Operator> {
  const fieldManager = options.fieldManager ?? DEFAULT_FIELD_MANAGER;
  const client = createKubeClient({ kubeConfig: options.kubeConfig, fieldManager });
  const cache = await createClusterCache({
    kubeConfig: options.kubeConfig,
    client,
    logger: options.logger,
    namespace: options.settings.namespace,
    pinnedSecrets: options.defaultCertificate ? [options.defaultCertificate] : [],
    ...(options.quietRelistMs === undefined ? {} : { quietRelistMs: options.quietRelistMs }),
    signal: options.signal,
    secretNamespaces: options.secretNamespaces,
  });
  return new Reconciler(options, fieldManager, client, cache);
}

class Reconciler implements Operator {
  readonly #options: OperatorOptions;
  readonly #logger: Logger;
  readonly #settings: InfraSettings;
  readonly #className: string;
  readonly #fieldManager: string;
  readonly #client: KubeClient;
  readonly #cache: ClusterCache;
  readonly #queue: WorkQueue;
  readonly #applier: Applier;
  readonly #events: EventRecorder;
  readonly #randomBytes: RandomBytes;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** The last successful compile. */
  #output: CompilerOutput | undefined;
  /** Version of the config last applied to the ConfigMap. */
  #appliedVersion: string | undefined;
  /** Mirror Secret names and the certificates annotation of the last fleet built: what prune keeps. */
  #built: { mirrors: Set<string>; certificates: string; issued: Set<string> } | undefined;
  #reports: ProxyReport[] = [];
  #leading: AbortSignal | undefined;
  #ownerWarning = "";

  constructor(
    options: OperatorOptions,
    fieldManager: string,
    client: KubeClient,
    cache: ClusterCache,
  ) {
    this.#options = options;
    this.#logger = options.logger;
    this.#settings = options.settings;
    this.#className = options.ingressClassName ?? "portcullis";
    this.#fieldManager = fieldManager;
    this.#client = client;
    this.#cache = cache;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
    const holdOffMs = options.holdOffMs ?? 100;
    this.#queue = createWorkQueue({
      name: "operator",
      logger: options.logger,
      concurrency: 4,
      // Same cap as the informers': after an outage, a failed key is retried within 8 s at most.
      backoff: { maxMs: RECOVERY_BACKOFF_MAX_MS },
      holdOffMs,
      maxHoldOffMs: holdOffMs * 5,
      isPermanent: (error) => error instanceof PermanentError || isPermanentApiError(error),
    });
    this.#applier = new Applier(client, (kind, key) => cache.resourceVersionOf(kind, key));
    this.#events = new EventRecorder(client, options.logger, options.identity);
    cache.onChange((topic, kind) => {
      this.#queue.add("fleet");
      if (kind === "Deployment") this.#queue.add("prune");
      if (topic === "certificates") this.#queue.add("prune");
      if (kind === "EndpointSlice" || kind === "Service") this.#queue.add("programmed");
    });
  }

  async start(): Promise<void> {
    await this.#cache.start();
    this.#queue.start((key, signal) => this.#reconcile(key, signal));
    this.#queue.add("fleet");
    this.#every((this.#options.resyncSeconds ?? 60) * 1000, () => this.#queue.add("fleet"));
    this.#every(PROGRAMMED_IDLE_POLL_MS, () => this.#queue.add("programmed"));
  }

  async lead(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.#leading = signal;
    // A new term starts from what the API server holds, not from what an earlier term applied.
    this.#applier.reset();
    this.#logger.info("Started leading: reconciling the fleet", {});
    this.#queue.add("fleet");
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    if (this.#leading === signal) this.#leading = undefined;
    this.#logger.info("Stopped leading: no more writes", {});
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.#queue.stop();
    await this.#cache.stop();
    await this.#client.close();
  }

  ready(): boolean {
    return this.#output !== undefined;
  }

  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  #every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  async #reconcile(key: string, signal: AbortSignal): Promise<void> {
    if (key === "fleet") return this.#reconcileFleet(signal);
    if (key === "prune") return this.#prune(signal);
    if (key === "programmed") return this.#checkProgrammed(signal);
    const [, kind, ...rest] = key.split("/");
    const objectKey = rest.join("/");
    if (kind === POLICY_KIND) return this.#writePolicyStatus(objectKey, signal);
    if (kind === "Ingress") return this.#writeIngressStatus(objectKey, signal);
    this.#logger.error("Dropped unknown work key", { key });
  }

  /** The signal a write must honour: the queue's, and the current term's. Undefined: not leading. */
  #writeSignal(signal: AbortSignal): AbortSignal | undefined {
    const term = this.#leading;
    if (term === undefined || term.aborted) return undefined;
    return AbortSignal.any([signal, term]);
  }

  async #reconcileFleet(signal: AbortSignal): Promise<void> {
    await this.#cache.hydrateReferencedSecrets(signal);
    const input = this.#cache.compilerInput();
    let output: CompilerOutput;
    try {
      // compile() validates what it emits and throws only on a compiler bug, never on user input.
      output = compile(input, {
        ingressClassName: this.#className,
        controllerNamespace: this.#settings.namespace,
        secretsDir: this.#settings.secretsDir,
        now: new Date(),
        ...(this.#options.defaultCertificate
          ? { defaultCertificate: this.#options.defaultCertificate }
          : {}),
      });
    } catch (error) {
      this.#logger.error("Failed to compile; keeping the last config", {
        error: describeError(error),
      });
      throw new PermanentError("compile failed", { cause: error });
    }
    const first = this.#output === undefined;
    this.#output = output;
    if (first) this.#logger.info("Compiled the first config", { version: output.config.version });

    const write = this.#writeSignal(signal);
    if (write === undefined) return;
    const owner = this.#owner();
    if (owner !== undefined) {
      await this.#applyFleet(output, input.secrets, owner, write);
      await this.#ensureSharedKeys(owner, write);
    }
    await this.#applyCertificates(output.certificates, write);
    await this.#recordProblems(output.diagnostics, write);
    for (const status of output.statuses) this.#queue.add(statusKey(status));
    for (const ingress of this.#cache.ingresses.list()) {
      if (hasWrittenStatus(ingress.metadata?.managedFields, this.#fieldManager))
        this.#queue.add(`status/Ingress/${formatKey(keyOf(ingress))}`);
    }
    this.#queue.add("programmed");
    this.#queue.add("prune");
  }

  /** The IngressClass that owns the fleet, if it exists and names our controller. */
  #owner(): InfraOwner | undefined {
    const ingressClass = this.#cache.ingressClasses.get(this.#className);
    const problem =
      ingressClass === undefined
        ? `IngressClass "${this.#className}" does not exist`
        : ingressClass.spec?.controller !== CONTROLLER_NAME
          ? `IngressClass "${this.#className}" names controller "${ingressClass.spec?.controller ?? ""}", not "${CONTROLLER_NAME}"`
          : undefined;
    if (problem !== undefined || ingressClass?.metadata?.uid === undefined) {
      const message = problem ?? `IngressClass "${this.#className}" has no uid`;
      if (this.#ownerWarning !== message)
        this.#logger.warn("Skipped the proxy fleet: no IngressClass to own it", {
          problem: message,
        });
      this.#ownerWarning = message;
      return undefined;
    }
    this.#ownerWarning = "";
    return {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      name: this.#className,
      uid: ingressClass.metadata.uid,
    };
  }

  async #applyFleet(
    output: CompilerOutput,
    secrets: readonly V1Secret[],
    owner: InfraOwner,
    signal: AbortSignal,
  ): Promise<void> {
    let built: ReturnType<typeof buildProxyInfrastructure>;
    try {
      built = buildProxyInfrastructure({
        config: output.config,
        secrets,
        settings: this.#settings,
        owner,
      });
    } catch (error) {
      if (error instanceof InfraError) {
        this.#logger.error("Failed to build the proxy fleet; keeping the last one", {
          error: describeError(error),
        });
        throw new PermanentError(describeError(error), { cause: error });
      }
      throw error;
    }
    let sent = 0;
    for (const object of sortForApply(built.objects)) {
      const result = await this.#applier.apply(object as ApplyObject, { signal });
      if (!result.sent) continue;
      sent += 1;
      this.#logger.info(`Applied proxy ${object.kind}`, {
        namespace: object.metadata?.namespace,
        name: object.metadata?.name,
        resourceVersion: result.stored?.metadata?.resourceVersion,
      });
    }
    if (this.#appliedVersion !== built.configHash) {
      this.#logger.info("Applied proxy config", { version: built.configHash, objects: sent });
    }
    this.#appliedVersion = built.configHash;
    const deployment = built.objects.find((o) => o.kind === "Deployment") as
      | V1Deployment
      | undefined;
    this.#built = {
      mirrors: new Set(
        built.objects
          .filter((o) => o.kind === "Secret")
          .map((o) => formatKey(keyOf(o as V1Secret))),
      ),
      certificates:
        deployment?.spec?.template.metadata?.annotations?.[CERTIFICATES_ANNOTATION] ?? "",
      issued: this.#built?.issued ?? new Set(),
    };
  }

  /** Creates the shared-keys Secret when absent (never overwrites it) and rotates its affinity key. */
  async #ensureSharedKeys(owner: InfraOwner, signal: AbortSignal): Promise<void> {
    const name = infraNames(this.#settings.namePrefix).sharedKeys;
    const key = formatKey({ namespace: this.#settings.namespace, name });
    const current = this.#cache.secret(key);
    const now = new Date();
    const plan = planSharedKeys(
      current,
      now,
      this.#options.affinityKeyRotationSeconds ?? DEFAULT_ROTATION_SECONDS,
    );
    if (plan.action === "keep") return;
    if (plan.action === "create" || current === undefined) {
      const secret = buildSharedKeysSecret(this.#settings, this.#randomBytes, owner);
      secret.metadata = {
        ...secret.metadata,
        annotations: { ...secret.metadata?.annotations, [AFFINITY_ROTATED_ANNOTATION]: iso(now) },
      };
      try {
        await this.#client.create(asWritable(secret), signal);
        this.#logger.info("Created shared keys Secret", {
          namespace: this.#settings.namespace,
          name,
        });
      } catch (error) {
        // Created meanwhile (by an earlier term whose watch event has not arrived): keep it.
        if (!(error instanceof KubeApiError && error.statusCode === 409)) throw error;
      }
      return;
    }
    const rotated = buildRotatedSharedKeysSecret(current, this.#settings, this.#randomBytes, owner);
    rotated.metadata = {
      ...rotated.metadata,
      annotations: { ...rotated.metadata?.annotations, [AFFINITY_ROTATED_ANNOTATION]: iso(now) },
      ...(current.metadata?.resourceVersion
        ? { resourceVersion: current.metadata.resourceVersion }
        : {}),
    };
    // Replace, conditional on the version read: two writers can never both rotate.
    await this.#client.replace(asWritable(rotated), signal);
    this.#logger.info("Rotated affinity key", { namespace: this.#settings.namespace, name });
  }

  /** Applies the cert-manager Certificates the policies ask for, each owned by its policy. */
  async #applyCertificates(
    certificates: readonly CertManagerCertificate[],
    signal: AbortSignal,
  ): Promise<void> {
    if (certificates.length > 0 && this.#cache.certManager === undefined) {
      this.#logger.warn("Skipped cert-manager Certificates: cert-manager is not installed", {
        certificates: certificates.length,
      });
      return;
    }
    const issued = new Set<string>();
    for (const certificate of certificates) {
      const { namespace, name } = keyOf(certificate);
      const policyName = certificate.metadata.labels?.["portcullis.dev/policy"] ?? "";
      const policy = this.#cache.policies.get(formatKey({ namespace, name: policyName }));
      if (policy?.metadata.uid === undefined) continue;
      const object = {
        ...certificate,
        metadata: {
          ...certificate.metadata,
          labels: { ...certificate.metadata.labels, [LABEL_MANAGED_BY]: MANAGED_BY },
          ownerReferences: [
            {
              apiVersion: POLICY_API_VERSION,
              kind: POLICY_KIND,
              name: policyName,
              uid: policy.metadata.uid,
              controller: true,
            },
          ],
        },
      };
      const result = await this.#applier.apply(object as unknown as ApplyObject, { signal });
      if (result.sent)
        this.#logger.info("Applied cert-manager Certificate", {
          namespace,
          name,
          policy: policyName,
        });
      issued.add(formatKey({ namespace, name }));
    }
    if (this.#built) this.#built.issued = issued;
    else this.#built = { mirrors: new Set(), certificates: "", issued };
  }

  /** Warning Events for the problems of each object, once per problem and generation. */
  async #recordProblems(diagnostics: readonly Diagnostic[], signal: AbortSignal): Promise<void> {
    const events = diagnostics.map((diagnostic) => {
      const object =
        diagnostic.kind === POLICY_KIND
          ? this.#cache.policies.get(formatKey(diagnostic))
          : this.#cache.ingresses.get(formatKey(diagnostic));
      const subject: EventSubject = {
        apiVersion: diagnostic.kind === POLICY_KIND ? POLICY_API_VERSION : "networking.k8s.io/v1",
        kind: diagnostic.kind,
        namespace: diagnostic.namespace,
        name: diagnostic.name,
        uid: object?.metadata?.uid,
      };
      return {
        intent: {
          subject,
          type: diagnostic.severity === "Error" ? ("Warning" as const) : ("Normal" as const),
          reason: diagnostic.reason,
          action: "Compile",
          note: `${diagnostic.field}: ${diagnostic.message}`,
        },
        signature: `${object?.metadata?.generation ?? 0}/${diagnostic.reason}/${diagnostic.field}/${diagnostic.message}`,
      };
    });
    await this.#events.record(events, signal);
  }

  /** Deletes mirror Secrets and Certificates no longer built, once no pod can still mount them. */
  async #prune(signal: AbortSignal): Promise<void> {
    const write = this.#writeSignal(signal);
    const built = this.#built;
    if (write === undefined || built === undefined) return;
    const names = infraNames(this.#settings.namePrefix);
    const deployment = this.#cache.deployments.get(
      formatKey({ namespace: this.#settings.namespace, name: names.proxy }),
    );
    if (deployment !== undefined && isRolledOut(deployment, built.certificates)) {
      for (const secret of this.#cache.secrets.list()) {
        const key = formatKey(keyOf(secret));
        const labels = secret.metadata?.labels ?? {};
        if (
          secret.metadata?.namespace !== this.#settings.namespace ||
          labels[LABEL_MANAGED_BY] !== MANAGED_BY ||
          labels["app.kubernetes.io/component"] !== "certificate-mirror" ||
          labels["app.kubernetes.io/instance"] !== this.#settings.namePrefix ||
          built.mirrors.has(key)
        )
          continue;
        await this.#delete("Secret", "v1", secret, write);
      }
    }
    for (const certificate of this.#cache.certManager?.certificates.list() ?? []) {
      const key = formatKey(keyOf(certificate));
      if (certificate.metadata.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY || built.issued.has(key))
        continue;
      await this.#delete("Certificate", "cert-manager.io/v1", certificate, write);
    }
  }

  async #delete(
    kind: string,
    apiVersion: string,
    object: { metadata?: { namespace?: string; name?: string; uid?: string } | undefined },
    signal: AbortSignal,
  ): Promise<void> {
    const { namespace, name } = keyOf(object);
    const deleted = await this.#client.delete(
      { apiVersion, kind, namespace, name },
      { uid: object.metadata?.uid, signal },
    );
    this.#applier.forget(kind, formatKey({ namespace, name }));
    if (deleted) this.#logger.info(`Deleted unused ${kind}`, { namespace, name });
  }

  async #checkProgrammed(signal: AbortSignal): Promise<void> {
    const admin = infraNames(this.#settings.namePrefix).adminService;
    const slices = this.#cache.endpointSlices
      .list()
      .filter(
        (slice) =>
          slice.metadata?.namespace === this.#settings.namespace &&
          slice.metadata?.labels?.["kubernetes.io/service-name"] === admin,
      );
    const reports = await fetchProxyReports(
      readyAdminAddresses(slices),
      PROXY_REPORT_TIMEOUT_MS,
      signal,
    );
    const changed = !isSameStatus(reports, this.#reports);
    this.#reports = reports;
    const pending = (this.#output?.statuses ?? []).filter(
      (intent) =>
        intent.kind === POLICY_KIND &&
        buildProgrammedCondition(intent, reports, this.#appliedVersion).status !== "True" &&
        intent.conditions.some((c) => c.type === "Accepted" && c.status === "True"),
    );
    if (changed) {
      for (const intent of this.#output?.statuses ?? []) {
        if (intent.kind === POLICY_KIND) this.#queue.add(statusKey(intent));
      }
    }
    if (pending.length > 0)
      this.#queue.add("programmed", { delayMs: this.#options.programmedPollMs ?? 1000 });
  }

  async #writePolicyStatus(key: string, signal: AbortSignal): Promise<void> {
    const write = this.#writeSignal(signal);
    const policy = this.#cache.policies.get(key);
    const intent = this.#output?.statuses.find(
      (s) => s.kind === POLICY_KIND && formatKey(s) === key,
    );
    if (write === undefined || policy === undefined || intent === undefined) return;
    if (intent.generation !== (policy.metadata.generation ?? 0)) {
      // Compiled from an older generation: the recompile this change queued will come back here.
      this.#queue.add("fleet");
      return;
    }
    const programmed = buildProgrammedCondition(intent, this.#reports, this.#appliedVersion);
    const current = policy.status as PolicyStatus | undefined;
    const desired = buildPolicyStatus(
      intent,
      programmed,
      current,
      new Date(),
      this.#renewalTime(intent),
    );
    if (isSameStatus(current, desired)) return;
    const { namespace, name } = parseKey(key);
    await this.#client.apply(
      {
        apiVersion: POLICY_API_VERSION,
        kind: POLICY_KIND,
        metadata: { namespace, name },
        status: desired,
      },
      { subresource: "status", signal: write },
    );
    this.#logger.info("Updated LoadBalancerPolicy status", {
      namespace,
      name,
      generation: intent.generation,
      programmed: programmed.status,
    });
    const wasProgrammed = current?.conditions?.find((c) => c.type === "Programmed");
    if (programmed.status === "True" && wasProgrammed?.status !== "True") {
      await this.#events.emit(
        {
          subject: {
            apiVersion: POLICY_API_VERSION,
            kind: POLICY_KIND,
            namespace,
            name,
            uid: policy.metadata.uid,
          },
          type: "Normal",
          reason: Reason.Programmed,
          action: "Program",
          note: `Generation ${intent.generation} is served: ${programmed.message}`,
        },
        write,
      );
    }
  }

  #renewalTime(intent: StatusIntent): string | undefined {
    const secretName = intent.certificate?.secretName;
    if (secretName === undefined) return undefined;
    const certificate = this.#cache.certManager?.certificates.get(
      formatKey({ namespace: intent.namespace, name: secretName }),
    );
    const renewal = (certificate?.status as { renewalTime?: unknown } | undefined)?.renewalTime;
    return typeof renewal === "string" ? renewal : undefined;
  }

  async #writeIngressStatus(key: string, signal: AbortSignal): Promise<void> {
    const write = this.#writeSignal(signal);
    const ingress = this.#cache.ingresses.get(key);
    if (write === undefined || ingress === undefined) return;
    const intent = this.#output?.statuses.find((s) => s.kind === "Ingress" && formatKey(s) === key);
    const ours = intent?.conditions.some((c) => c.type === "Accepted" && c.status === "True");
    if (!ours && !hasWrittenStatus(ingress.metadata?.managedFields, this.#fieldManager)) return;
    const service = this.#cache.services.get(
      formatKey({
        namespace: this.#settings.namespace,
        name: infraNames(this.#settings.namePrefix).proxy,
      }),
    );
    const desired = ours ? buildLoadBalancerIngress(service) : [];
    if (isSameStatus(ingress.status?.loadBalancer?.ingress ?? [], desired)) return;
    const { namespace, name } = parseKey(key);
    await this.#client.apply(
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { namespace, name },
        status: { loadBalancer: desired.length > 0 ? { ingress: desired } : {} },
      },
      { subresource: "status", signal: write },
    );
    this.#logger.info("Updated Ingress status", { namespace, name, addresses: desired.length });
  }
}

function statusKey(intent: StatusIntent): string {
  return `status/${intent.kind}/${formatKey(intent)}`;
}

/**
 * Whether the Deployment runs only pods of its current template, and that template mounts the
 * certificates last built: then no pod mounts a mirror that is no longer built.
 */
function isRolledOut(deployment: V1Deployment, certificates: string): boolean {
  const template = deployment.spec?.template.metadata?.annotations?.[CERTIFICATES_ANNOTATION] ?? "";
  const status = deployment.status;
  const wanted = deployment.spec?.replicas ?? status?.replicas ?? 0;
  return (
    template === certificates &&
    (status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (status?.updatedReplicas ?? 0) === wanted &&
    (status?.replicas ?? 0) === wanted
  );
}

/** 4xx answers other than conflicts, throttling and timeouts: the request itself is wrong. */
function isPermanentApiError(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return false;
  return (
    error.statusCode >= 400 &&
    error.statusCode < 500 &&
    ![401, 403, 404, 408, 409, 429].includes(error.statusCode)
  );
}

function iso(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

/** A built Secret as the client's write type (its builders always set apiVersion, kind and name). */
function asWritable(secret: V1Secret): V1Secret & ApplyObject {
  return secret as V1Secret & ApplyObject;
}
