// The policy compiler: cluster objects in, one ProxyConfig plus status intents and diagnostics out.
// Pure: no I/O, no clock (options.now), no randomness; output sorted so that it is byte-identical
// whatever order the objects arrive in. Bad input never throws: each problem is reported against
// the object and field at fault, and only the broken part is dropped.
import type { V1Ingress, V1IngressBackend, V1Secret } from "@kubernetes/client-node";
import {
  type BackendConfig,
  type CaBundleConfig,
  type CertificateConfig,
  type ConfigSource,
  type HostTlsConfig,
  PROXY_CONFIG_SCHEMA_VERSION,
  type ProxyConfig,
  type RouteConfig,
  type VirtualHostConfig,
} from "../../proxy/config/types.ts";
import { computeConfigVersion, validateProxyConfig } from "../../proxy/config/validate.ts";
import { admitIngress, admitPolicy } from "../admission/index.ts";
import { parseDurationSeconds } from "../api/duration.ts";
import { compareStrings, formatKey } from "../api/keys.ts";
import { compareAge, generationOf, keyOf } from "../api/objects.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import { compileNginxAnnotations } from "./annotations.ts";
import { attachPolicies } from "./attach.ts";
import {
  type CertificateProblem,
  hostCovered,
  inspectCaSecret,
  inspectTlsSecret,
} from "./certificates.ts";
import { buildClusterDraft, ClusterRegistry, validatePolicyDurations } from "./clusters.ts";
import { type EffectivePolicy, resolveEffectivePolicy } from "./effective.ts";
import { EndpointIndex } from "./endpoints.ts";
import { ANY_HOST, compareHosts, validateHost } from "./hosts.ts";
import { classifyIngresses } from "./ingress-class.ts";
import { buildCertificateRequests } from "./issuance.ts";
import { compareRoutes, matchTypeOf, normalizePath, validatePath } from "./paths.ts";
import { Reason } from "./reasons.ts";
import { Reporter, type Subject } from "./reporter.ts";
import { wellShapedInput } from "./shapes.ts";
import { ingressSubject, policySubject } from "./subjects.ts";
import { buildHstsHeader, CIPHERS } from "./tls.ts";
import type { CompilerInput, CompilerOptions, CompilerOutput } from "./types.ts";

/** Defaults for options that do not come from objects. */
export function defaultCompilerOptions(now: Date): CompilerOptions {
  return {
    ingressClassName: "portcullis",
    controllerNamespace: "portcullis-system",
    secretsDir: "/etc/portcullis/secrets",
    now,
  };
}

/** Default ticket-key rotation when no policy says otherwise (the schema's default, 12h). */
const DEFAULT_ROTATION_SECONDS = 12 * 3600;

/** A certificate that may serve a host, in order of preference. */
interface TlsCandidate {
  certificate: CertificateConfig;
  policy: EffectivePolicy;
  /** An Ingress's own spec.tls beats every policy certificate, whichever Ingress is older. */
  from: "ingress" | "policy";
}

/** A virtual host while it is being built. */
interface VirtualHostDraft {
  host: string;
  /** Namespace of the oldest Ingress that claimed the host; other namespaces may not add to it. */
  namespace: string;
  routes: Map<string, { route: Omit<RouteConfig, "cluster">; clusterId: string; owner: string }>;
  defaultClusterId: string | null;
  tlsCandidates: TlsCandidate[];
  /** Policy of the Ingress that created the host: settles TLS options when the certificate is the default one. */
  policy: EffectivePolicy;
  /**
   * Set when an Ingress listed the host in spec.tls or its policy names a certificate: the host is
   * meant for HTTPS, so if no certificate serves it, it must not silently fall back to plain HTTP.
   */
  tlsIntent: { policy: EffectivePolicy; subject: Subject; field: string } | undefined;
}

export function compile(input: CompilerInput, options: CompilerOptions): CompilerOutput {
  const reporter = new Reporter();
  // Objects the compiler does not admit itself are reduced to the shapes it reads (shapes.ts).
  const compiler = new Compilation(wellShapedInput(input), options, reporter);
  return compiler.run();
}

class Compilation {
  readonly #input: CompilerInput;
  readonly #options: CompilerOptions;
  readonly #reporter: Reporter;
  readonly #endpoints: EndpointIndex;
  readonly #clusters = new ClusterRegistry();
  readonly #secrets = new Map<string, V1Secret>();
  readonly #certificates = new Map<string, CertificateConfig>();
  readonly #caBundles = new Map<string, CaBundleConfig>();
  readonly #vhosts = new Map<string, VirtualHostDraft>();
  readonly #passthrough = new Map<
    string,
    { clusterId: string; namespace: string; owner: string }
  >();
  readonly #sources: ConfigSource[] = [];
  /** Per policy with backendSplits: the Ingresses it split and the split indexes some rule used. */
  readonly #splitUse = new Map<LoadBalancerPolicy, { ingresses: string[]; used: Set<number> }>();
  #rotationSeconds = DEFAULT_ROTATION_SECONDS;
  #rotationSet = false;

  constructor(input: CompilerInput, options: CompilerOptions, reporter: Reporter) {
    this.#input = input;
    this.#options = options;
    this.#reporter = reporter;
    this.#endpoints = new EndpointIndex(input.services, input.endpointSlices);
    for (const secret of input.secrets) this.#secrets.set(formatKey(keyOf(secret)), secret);
  }

  run(): CompilerOutput {
    const policies = this.#admittedPolicies();
    const ingresses = this.#admittedIngresses();
    const { ours, foreign } = classifyIngresses(
      ingresses,
      this.#input.ingressClasses,
      this.#options,
      this.#reporter,
    );
    const attachment = attachPolicies(policies, ours, foreign, this.#options, this.#reporter);

    for (const policy of policies) this.#addSource("LoadBalancerPolicy", policy);
    const sorted = [...ours.values()].sort(compareAge);
    for (const ingress of sorted) {
      this.#addSource("Ingress", ingress);
      const ingressPolicy = attachment.ingressPolicies.get(formatKey(keyOf(ingress)));
      const annotations = compileNginxAnnotations(
        ingress,
        ingressPolicy,
        attachment.classPolicy,
        this.#reporter,
      );
      const effective = resolveEffectivePolicy(ingressPolicy, attachment.classPolicy, annotations);
      this.#noteRotation(effective);
      this.#compileIngress(ingress, effective, ingressPolicy);
    }
    if (attachment.classPolicy) {
      this.#noteRotation(resolveEffectivePolicy(undefined, attachment.classPolicy));
      if (attachment.classPolicy.spec.backendSplits) {
        this.#reporter.warning(
          policySubject(attachment.classPolicy),
          Reason.Ignored,
          "spec.backendSplits",
          "backendSplits apply only from a policy that targets the Ingress (they name Services of its namespace)",
        );
      }
    }
    this.#reportUnusedSplits();

    const certificates = buildCertificateRequests(
      [attachment.classPolicy, ...attachment.ingressPolicies.values()],
      ours,
      this.#input,
      this.#reporter,
    );
    const config = this.#assemble();
    return {
      config,
      statuses: this.#reporter.statuses(),
      diagnostics: this.#reporter.diagnostics(),
      certificates,
    };
  }

  /** Admission again, defensively: the compiler must never see what the API server would refuse. */
  #admittedPolicies(): LoadBalancerPolicy[] {
    const admitted: LoadBalancerPolicy[] = [];
    for (const raw of this.#input.policies) {
      const admission = admitPolicy(raw);
      const { object } = admission;
      const errors =
        admission.errors.length > 0 ? admission.errors : validatePolicyDurations(object.spec);
      if (errors.length === 0) {
        admitted.push(object);
        continue;
      }
      const subject = policySubject(object);
      for (const error of errors)
        this.#reporter.error(subject, Reason.Invalid, error.field, error.message);
    }
    return admitted;
  }

  #admittedIngresses(): V1Ingress[] {
    const admitted: V1Ingress[] = [];
    for (const raw of this.#input.ingresses) {
      const { object, errors } = admitIngress(raw);
      if (errors.length === 0) {
        admitted.push(object);
        continue;
      }
      const subject = ingressSubject(object);
      for (const error of errors)
        this.#reporter.error(subject, Reason.Invalid, error.field, error.message);
    }
    return admitted;
  }

  #addSource(kind: ConfigSource["kind"], object: V1Ingress | LoadBalancerPolicy): void {
    const { namespace, name } = keyOf(object);
    this.#sources.push({ kind, namespace, name, generation: generationOf(object) });
  }

  /** Every replica rotates on the shortest period any policy asks for. */
  #noteRotation(policy: EffectivePolicy): void {
    const seconds = parseDurationSeconds(policy.tls.sessionResumption.rotationPeriod);
    // A policy that turns tickets off has no say in how often the keys of others rotate.
    if (seconds === undefined || !policy.tlsFrom || !policy.tls.sessionResumption.tickets) return;
    this.#rotationSeconds = this.#rotationSet ? Math.min(this.#rotationSeconds, seconds) : seconds;
    this.#rotationSet = true;
  }

  #compileIngress(
    ingress: V1Ingress,
    policy: EffectivePolicy,
    ingressPolicy: LoadBalancerPolicy | undefined,
  ): void {
    const subject = ingressSubject(ingress);
    this.#reporter.track(subject);
    if (policy.tls.mode === "Passthrough") {
      this.#compilePassthrough(ingress, subject, policy);
      return;
    }
    const namespace = subject.namespace;
    const owner = formatKey(subject);
    const splitUse =
      ingressPolicy && policy.backendSplitsFrom === ingressPolicy
        ? (this.#splitUse.get(ingressPolicy) ?? { ingresses: [], used: new Set<number>() })
        : undefined;
    if (ingressPolicy && splitUse) {
      splitUse.ingresses.push(owner);
      this.#splitUse.set(ingressPolicy, splitUse);
    }
    const spec = ingress.spec ?? {};
    const ingressHosts = new Set<string>();

    (spec.rules ?? []).forEach((rule, i) => {
      const host = rule.host ?? ANY_HOST;
      if (host !== ANY_HOST) {
        const problem = validateHost(host);
        if (problem) {
          this.#reporter.error(subject, Reason.InvalidHost, `spec.rules[${i}].host`, problem);
          return;
        }
      }
      const vhost = this.#claimHost(host, namespace, policy, subject, `spec.rules[${i}].host`);
      if (!vhost) return;
      ingressHosts.add(host);
      (rule.http?.paths ?? []).forEach((path, j) => {
        const field = `spec.rules[${i}].http.paths[${j}]`;
        const matchType = matchTypeOf(path.pathType);
        if (!matchType) {
          this.#reporter.error(
            subject,
            Reason.InvalidPath,
            `${field}.pathType`,
            `unsupported pathType "${path.pathType ?? ""}"`,
          );
          return;
        }
        const rawPath = path.path ?? "/";
        const problem = validatePath(rawPath);
        if (problem) {
          this.#reporter.error(
            subject,
            Reason.InvalidPath,
            `${field}.path`,
            `"${rawPath}" ${problem}`,
          );
          return;
        }
        const normalized = normalizePath(matchType, rawPath);
        const routeKey = `${matchType} ${normalized}`;
        const existing = vhost.routes.get(routeKey);
        if (existing) {
          this.#reporter.error(
            subject,
            Reason.Conflicted,
            field,
            `${matchType} path "${normalized}" on host "${host}" is already routed by ${
              existing.owner === owner
                ? `${existing.route.source.slice(owner.length + 1)} of this Ingress`
                : `the older Ingress "${existing.owner}"`
            }`,
          );
          return;
        }
        const splitIndex = policy.backendSplits.findIndex(
          (split) =>
            split.path === rawPath && (split.host === undefined || split.host === rule.host),
        );
        const clusterId =
          splitIndex >= 0 && policy.backendSplitsFrom
            ? this.#splitCluster(policy, policy.backendSplitsFrom, splitIndex)
            : this.#backendCluster(path.backend, policy, subject, `${field}.backend`);
        if (splitIndex >= 0) splitUse?.used.add(splitIndex);
        if (clusterId === undefined) return;
        vhost.routes.set(routeKey, {
          route: { pathType: matchType, path: normalized, source: `${owner} ${field}` },
          clusterId,
          owner,
        });
      });
    });

    if (spec.defaultBackend) {
      const clusterId = this.#backendCluster(
        spec.defaultBackend,
        policy,
        subject,
        "spec.defaultBackend",
      );
      this.#setDefaultBackend(clusterId, ingressHosts, namespace, policy, subject);
    }

    const ownTlsHosts = this.#collectIngressTls(ingress, subject, policy, ingressHosts);
    this.#collectPolicyTls(
      policy,
      [...ingressHosts].filter((h) => !ownTlsHosts.has(h)),
    );
  }

  /** A split no rule of any targeted Ingress used has no effect: told once per split, after every Ingress. */
  #reportUnusedSplits(): void {
    for (const [policy, { ingresses, used }] of this.#splitUse) {
      const targets = ingresses
        .sort(compareStrings)
        .map((i) => `"${i}"`)
        .join(", ");
      (policy.spec.backendSplits ?? []).forEach((split, k) => {
        if (used.has(k)) return;
        this.#reporter.warning(
          policySubject(policy),
          Reason.Ignored,
          `spec.backendSplits[${k}].path`,
          `no rule of ${ingresses.length === 1 ? "Ingress" : "Ingresses"} ${targets} has path "${split.path}"${split.host ? ` on host "${split.host}"` : ""}`,
        );
      });
    }
  }

  /** The vhost for a host, or undefined when another namespace (or a Passthrough route) holds it. */
  #claimHost(
    host: string,
    namespace: string,
    policy: EffectivePolicy,
    subject: Subject,
    field: string,
  ): VirtualHostDraft | undefined {
    const passthrough = this.#passthrough.get(host);
    if (passthrough) {
      this.#reporter.error(
        subject,
        Reason.Conflicted,
        field,
        `host "${host}" is already a Passthrough host of the older Ingress "${passthrough.owner}"`,
      );
      return undefined;
    }
    let vhost = this.#vhosts.get(host);
    if (!vhost) {
      vhost = {
        host,
        namespace,
        routes: new Map(),
        defaultClusterId: null,
        tlsCandidates: [],
        tlsIntent: undefined,
        policy,
      };
      this.#vhosts.set(host, vhost);
    } else if (vhost.namespace !== namespace && host !== ANY_HOST) {
      this.#reporter.error(
        subject,
        Reason.Conflicted,
        field,
        `host "${host}" belongs to namespace "${vhost.namespace}", whose Ingress claimed it first`,
      );
      return undefined;
    }
    return vhost;
  }

  /**
   * An Ingress defaultBackend serves what its own hosts' paths do not match, and, for the oldest such
   * Ingress, every request whose host matches no rule.
   */
  #setDefaultBackend(
    clusterId: string,
    hosts: Set<string>,
    namespace: string,
    policy: EffectivePolicy,
    subject: Subject,
  ): void {
    const targets = new Set(hosts);
    targets.add(ANY_HOST);
    for (const host of targets) {
      const vhost =
        host === ANY_HOST
          ? this.#claimHost(ANY_HOST, namespace, policy, subject, "spec.defaultBackend")
          : this.#vhosts.get(host);
      if (!vhost) continue;
      if (vhost.defaultClusterId === null) {
        vhost.defaultClusterId = clusterId;
      } else if (vhost.defaultClusterId !== clusterId) {
        this.#reporter.warning(
          subject,
          Reason.Conflicted,
          "spec.defaultBackend",
          host === ANY_HOST
            ? "requests whose host matches no rule already go to the default backend of an older Ingress"
            : `host "${host}" already has the default backend of an older Ingress`,
        );
      }
    }
  }

  /** A cluster for an Ingress backend, or undefined (reported) when it cannot be served at all. */
  #backendCluster(
    backend: V1IngressBackend | undefined,
    policy: EffectivePolicy,
    subject: Subject,
    field: string,
  ): string {
    if (!backend?.service) {
      this.#reporter.error(
        subject,
        Reason.UnsupportedBackend,
        field,
        "only Service backends are supported (resource backends are not); requests get 503",
      );
      // Like a missing Service: the route stays and answers 503 rather than yield to a shorter prefix.
      return this.#addCluster([], policy);
    }
    const { name, port } = backend.service;
    const ref = port?.name !== undefined ? { name: port.name } : { number: port?.number ?? 0 };
    const resolved = this.#resolveBackend(
      subject.namespace,
      name,
      ref,
      1,
      subject,
      `${field}.service`,
    );
    return this.#addCluster([resolved], policy);
  }

  #splitCluster(
    policy: EffectivePolicy,
    from: LoadBalancerPolicy,
    index: number,
  ): string | undefined {
    const split = policy.backendSplits[index];
    if (!split) return undefined;
    const subject = policySubject(from);
    const backends: BackendConfig[] = [];
    split.backends.forEach((backend, b) => {
      const ref =
        backend.port.name !== undefined
          ? { name: backend.port.name }
          : { number: backend.port.number ?? 0 };
      const resolved = this.#resolveBackend(
        subject.namespace,
        backend.name,
        ref,
        backend.weight,
        subject,
        `spec.backendSplits[${index}].backends[${b}]`,
      );
      backends.push(resolved);
    });
    if (backends.length === 0) return undefined;
    return this.#addCluster(backends, policy);
  }

  /**
   * Registers the cluster of some backends. Reencrypt without a usable CA bundle fails closed: the
   * route stays (as for a missing Service) but gets no endpoints, so nothing is proxied unverified.
   */
  #addCluster(backends: BackendConfig[], policy: EffectivePolicy): string {
    const upstreamTls = this.#upstreamTls(policy);
    const unverifiable = policy.tls.mode === "Reencrypt" && upstreamTls === null;
    const usable = unverifiable ? backends.map((b) => ({ ...b, endpoints: [] })) : backends;
    return this.#clusters.add(buildClusterDraft(usable, policy, upstreamTls));
  }

  /**
   * A backend with its endpoints. A missing or unsupported Service still yields a backend (with no
   * endpoints, so the route answers 503) rather than dropping the route, which would let a shorter
   * prefix take its traffic.
   */
  #resolveBackend(
    namespace: string,
    service: string,
    ref: { name?: string; number?: number },
    weight: number,
    subject: Subject,
    field: string,
  ): BackendConfig {
    const key = formatKey({ namespace, name: service });
    const portText = ref.name ?? String(ref.number);
    const resolution = this.#endpoints.resolve(namespace, service, ref);
    switch (resolution.kind) {
      case "externalName":
        this.#reporter.error(
          subject,
          Reason.UnsupportedBackend,
          `${field}.name`,
          `Service "${key}" is of type ExternalName, which is not served (it would let a namespace proxy to any host); requests get 503`,
        );
        return { service: key, port: portText, weight, endpoints: [] };
      case "serviceNotFound":
        this.#reporter.error(
          subject,
          Reason.BackendNotFound,
          `${field}.name`,
          `Service "${key}" does not exist`,
        );
        return { service: key, port: portText, weight, endpoints: [] };
      case "portNotFound":
        this.#reporter.error(
          subject,
          Reason.BackendNotFound,
          `${field}.port`,
          `Service "${key}" has no port ${portText}`,
        );
        return { service: key, port: portText, weight, endpoints: [] };
      case "ok":
        if (resolution.endpoints.length === 0) {
          this.#reporter.warning(
            subject,
            Reason.NoEndpoints,
            `${field}.name`,
            `Service "${key}" port ${portText} has no endpoints yet; requests get 503`,
          );
        }
        return { service: key, port: portText, weight, endpoints: resolution.endpoints };
    }
  }

  #upstreamTls(policy: EffectivePolicy): { caBundle: string; serverName: string | null } | null {
    const upstream = policy.tls.upstream;
    if (policy.tls.mode !== "Reencrypt" || !upstream || !policy.tlsFrom) return null;
    const subject = policySubject(policy.tlsFrom);
    const key = formatKey({ namespace: subject.namespace, name: upstream.caSecretName });
    if (!this.#caBundles.has(key)) {
      const secret = this.#secrets.get(key);
      if (!secret) {
        this.#reporter.error(
          subject,
          Reason.SecretNotFound,
          "spec.tls.upstream.caSecretName",
          `Secret "${key}" does not exist; its routes answer 503 until backends can be verified`,
        );
        return null;
      }
      const inspected = inspectCaSecret(secret);
      if (inspected.sha256 === undefined) {
        for (const p of inspected.problems)
          this.#reporter.error(
            subject,
            p.reason,
            "spec.tls.upstream.caSecretName",
            `Secret "${key}": ${p.message}`,
          );
        return null;
      }
      this.#caBundles.set(key, {
        name: key,
        file: this.#secretFile(key, "ca.crt"),
        sha256: inspected.sha256,
      });
    }
    return { caBundle: key, serverName: upstream.serverName ?? null };
  }

  #compilePassthrough(ingress: V1Ingress, subject: Subject, policy: EffectivePolicy): void {
    const owner = formatKey(subject);
    (ingress.spec?.rules ?? []).forEach((rule, i) => {
      const field = `spec.rules[${i}]`;
      if (!rule.host) {
        this.#reporter.error(
          subject,
          Reason.Invalid,
          `${field}.host`,
          "a Passthrough rule needs a host: TLS streams are routed by SNI",
        );
        return;
      }
      const problem = validateHost(rule.host);
      if (problem) {
        this.#reporter.error(subject, Reason.InvalidHost, `${field}.host`, problem);
        return;
      }
      const paths = rule.http?.paths ?? [];
      const rootIndex = paths.findIndex((p) => p.path === "/" && p.pathType !== "Exact");
      const chosen = Math.max(rootIndex, 0);
      paths.forEach((_p, j) => {
        if (j !== chosen)
          this.#reporter.warning(
            subject,
            Reason.Ignored,
            `${field}.http.paths[${j}]`,
            "paths are not visible under Passthrough; only one backend per host is used",
          );
      });
      const backend = paths[chosen]?.backend ?? ingress.spec?.defaultBackend;
      const existing = this.#passthrough.get(rule.host);
      if (existing || this.#vhosts.has(rule.host)) {
        this.#reporter.error(
          subject,
          Reason.Conflicted,
          `${field}.host`,
          `host "${rule.host}" is already served by the older Ingress "${existing?.owner ?? this.#vhostOwner(rule.host)}"`,
        );
        return;
      }
      if (!backend) {
        this.#reporter.error(
          subject,
          Reason.Invalid,
          `${field}.http`,
          "a Passthrough host needs a backend: a path, or spec.defaultBackend",
        );
        return;
      }
      const clusterId = this.#backendCluster(
        backend,
        policy,
        subject,
        paths[chosen] ? `${field}.http.paths[${chosen}].backend` : "spec.defaultBackend",
      );
      this.#passthrough.set(rule.host, { clusterId, namespace: subject.namespace, owner });
    });
    if ((ingress.spec?.tls ?? []).length > 0) {
      this.#reporter.warning(
        subject,
        Reason.Ignored,
        "spec.tls",
        "under Passthrough the backend holds the certificate; spec.tls is not used",
      );
    }
  }

  #vhostOwner(host: string): string {
    const vhost = this.#vhosts.get(host);
    const first = vhost ? [...vhost.routes.values()][0] : undefined;
    return first?.owner ?? `in namespace ${vhost?.namespace ?? "?"}`;
  }

  /**
   * spec.tls of the Ingress: each Secret checked once, each listed host checked for coverage.
   * Returns the hosts it bound a valid certificate to.
   */
  #collectIngressTls(
    ingress: V1Ingress,
    subject: Subject,
    policy: EffectivePolicy,
    ingressHosts: Set<string>,
  ): Set<string> {
    const bound = new Set<string>();
    (ingress.spec?.tls ?? []).forEach((entry, k) => {
      const field = `spec.tls[${k}]`;
      const listed =
        entry.hosts && entry.hosts.length > 0
          ? entry.hosts
          : [...ingressHosts].filter((h) => h !== ANY_HOST);
      for (const host of listed) this.#markTlsIntent(host, policy, subject, field);
      if (!entry.secretName) return; // no Secret: the policy's or the default certificate serves these hosts
      const certificate = this.#certificate(
        subject.namespace,
        entry.secretName,
        subject,
        `${field}.secretName`,
      );
      if (!certificate) return;
      const hosts =
        entry.hosts && entry.hosts.length > 0
          ? entry.hosts
          : [...ingressHosts].filter((h) => h !== ANY_HOST);
      hosts.forEach((host, m) => {
        const vhost = this.#vhosts.get(host);
        // Only hosts this namespace holds: another tenant's host keeps its own certificate.
        if (vhost && vhost.namespace !== subject.namespace) return;
        if (!hostCovered(host, certificate.dnsNames)) {
          this.#reporter.error(
            subject,
            Reason.HostNotCovered,
            entry.hosts ? `${field}.hosts[${m}]` : `${field}.secretName`,
            `certificate in Secret "${certificate.name}" does not cover host "${host}" (it covers ${certificate.dnsNames.join(", ") || "no DNS names"})`,
          );
          return;
        }
        vhost?.tlsCandidates.push({ certificate, policy, from: "ingress" });
        bound.add(host);
      });
    });
    return bound;
  }

  /** Records that a host of this namespace is meant to be served over HTTPS. */
  #markTlsIntent(host: string, policy: EffectivePolicy, subject: Subject, field: string): void {
    const vhost = this.#vhosts.get(host);
    if (!vhost || vhost.namespace !== subject.namespace || vhost.tlsIntent) return;
    vhost.tlsIntent = { policy, subject, field };
  }

  /** spec.certificate of the effective policy, for the Ingress's hosts its own spec.tls does not serve. */
  #collectPolicyTls(policy: EffectivePolicy, hosts: readonly string[]): void {
    const spec = policy.certificate;
    if (!spec || !policy.certificateFrom) return;
    const subject = policySubject(policy.certificateFrom);
    const field = "spec.certificate.secretName";
    for (const host of hosts) {
      if (host !== ANY_HOST) this.#markTlsIntent(host, policy, subject, field);
    }
    const key = formatKey({ namespace: subject.namespace, name: spec.secretName });
    if (spec.issuerRef && !this.#secrets.has(key)) {
      this.#reporter.warning(
        subject,
        Reason.CertificatePending,
        field,
        `Secret "${key}" has not been issued by cert-manager yet`,
      );
      return;
    }
    const certificate = this.#certificate(subject.namespace, spec.secretName, subject, field);
    if (!certificate) return;
    this.#reporter.certificate(subject, {
      secretName: spec.secretName,
      dnsNames: [...certificate.dnsNames],
      notAfter: certificate.notAfter,
      uncoveredHosts: hosts.filter((h) => h !== ANY_HOST && !hostCovered(h, certificate.dnsNames)),
    });
    for (const host of hosts) {
      if (host === ANY_HOST) continue;
      if (!hostCovered(host, certificate.dnsNames)) {
        this.#reporter.error(
          subject,
          Reason.HostNotCovered,
          field,
          `certificate in Secret "${key}" does not cover host "${host}" (it covers ${certificate.dnsNames.join(", ") || "no DNS names"})`,
        );
        continue;
      }
      this.#vhosts.get(host)?.tlsCandidates.push({ certificate, policy, from: "policy" });
    }
  }

  /** A validated certificate by Secret, problems reported at `field` of `subject` (each Secret parsed once). */
  #certificate(
    namespace: string,
    secretName: string,
    subject: Subject,
    field: string,
  ): CertificateConfig | undefined {
    const key = formatKey({ namespace, name: secretName });
    const loaded = this.#loadCertificate(key);
    if (loaded === "missing") {
      this.#reporter.error(subject, Reason.SecretNotFound, field, `Secret "${key}" does not exist`);
      return undefined;
    }
    if (Array.isArray(loaded)) {
      for (const p of loaded) {
        this.#reporter.error(subject, p.reason, field, `Secret "${key}": ${p.message}`);
      }
      return undefined;
    }
    return loaded;
  }

  /** The certificate config of a TLS Secret ("namespace/name"), cached; or why there is none. */
  #loadCertificate(key: string): CertificateConfig | "missing" | CertificateProblem[] {
    const cached = this.#certificates.get(key);
    if (cached) return cached;
    const secret = this.#secrets.get(key);
    if (!secret) return "missing";
    const { certificate, problems } = inspectTlsSecret(secret, this.#options.now);
    if (!certificate || problems.length > 0) return problems;
    const config: CertificateConfig = {
      name: key,
      certFile: this.#secretFile(key, "tls.crt"),
      keyFile: this.#secretFile(key, "tls.key"),
      sha256: certificate.sha256,
      dnsNames: certificate.dnsNames,
      notAfter: certificate.notAfter.toISOString(),
    };
    this.#certificates.set(key, config);
    return config;
  }

  #secretFile(key: string, file: string): string {
    return `${this.#options.secretsDir}/${key}/${file}`;
  }

  /**
   * The listener's default certificate, validated like any other. It is an option, not an object, so
   * its problems have no object to be reported against; `portcullis check` reports the option instead.
   */
  #defaultCertificate(): CertificateConfig | undefined {
    const key = this.#options.defaultCertificate;
    if (!key) return undefined;
    const loaded = this.#loadCertificate(key);
    return loaded === "missing" || Array.isArray(loaded) ? undefined : loaded;
  }

  #hostTls(vhost: VirtualHostDraft, fallback: CertificateConfig | undefined): HostTlsConfig | null {
    const chosen =
      vhost.tlsCandidates.find((c) => c.from === "ingress") ??
      vhost.tlsCandidates[0] ??
      (fallback && (vhost.host === ANY_HOST || hostCovered(vhost.host, fallback.dnsNames))
        ? { certificate: fallback, policy: vhost.policy, from: "policy" }
        : undefined);
    if (!chosen) return this.#heldBackTls(vhost);
    const tls = chosen.policy.tls;
    return {
      certificate: chosen.certificate.name,
      minVersion: tls.minVersion,
      ciphers: CIPHERS[tls.cipherPolicy],
      hsts: buildHstsHeader(tls.hsts),
      httpRedirect: tls.httpRedirect,
      sessionTickets: tls.sessionResumption.tickets,
    };
  }

  /**
   * A host meant for HTTPS that no valid certificate serves yet (broken or pending Secret): it keeps its
   * TLS settings with no certificate, so the proxy refuses its handshakes (or serves the default
   * certificate) and redirects plain HTTP, instead of serving the application in cleartext.
   */
  #heldBackTls(vhost: VirtualHostDraft): HostTlsConfig | null {
    const intent = vhost.tlsIntent;
    if (!intent) return null;
    const tls = intent.policy.tls;
    this.#reporter.warning(
      intent.subject,
      Reason.NoCertificate,
      intent.field,
      `no valid certificate serves host "${vhost.host}" yet: its HTTPS handshakes fail and plain HTTP is ${tls.httpRedirect ? "redirected to HTTPS" : "served"} until one does`,
    );
    return {
      certificate: null,
      minVersion: tls.minVersion,
      ciphers: CIPHERS[tls.cipherPolicy],
      hsts: buildHstsHeader(tls.hsts),
      httpRedirect: tls.httpRedirect,
      sessionTickets: tls.sessionResumption.tickets,
    };
  }

  #assemble(): ProxyConfig {
    const fallback = this.#defaultCertificate();
    const { clusters, names } = this.#clusters.build();
    const clusterName = (id: string): string => names.get(id) as string;
    const virtualHosts: VirtualHostConfig[] = [...this.#vhosts.values()]
      .map((vhost) => ({
        host: vhost.host,
        tls: this.#hostTls(vhost, fallback),
        routes: [...vhost.routes.values()]
          .map(({ route, clusterId }) => ({ ...route, cluster: clusterName(clusterId) }))
          .sort(compareRoutes),
        defaultCluster:
          vhost.defaultClusterId === null ? null : clusterName(vhost.defaultClusterId),
      }))
      .sort((a, b) => compareHosts(a.host, b.host));
    const usedCertificates = new Set(
      virtualHosts.flatMap((v) => (v.tls?.certificate ? [v.tls.certificate] : [])),
    );
    if (fallback) usedCertificates.add(fallback.name);
    const body: Omit<ProxyConfig, "version"> = {
      schemaVersion: PROXY_CONFIG_SCHEMA_VERSION,
      sources: [...this.#sources].sort(
        (a, b) =>
          compareStrings(a.kind, b.kind) ||
          compareStrings(a.namespace, b.namespace) ||
          compareStrings(a.name, b.name),
      ),
      listener: {
        defaultCertificate: fallback?.name ?? null,
        unknownServerName: fallback ? "DefaultCertificate" : "Reject",
        sessionTicketRotationSeconds: Math.min(86_400, Math.max(60, this.#rotationSeconds)),
      },
      certificates: [...this.#certificates.values()]
        .filter((c) => usedCertificates.has(c.name))
        .sort((a, b) => compareStrings(a.name, b.name)),
      caBundles: [...this.#caBundles.values()].sort((a, b) => compareStrings(a.name, b.name)),
      virtualHosts,
      passthrough: [...this.#passthrough.entries()]
        .map(([host, p]) => ({ host, cluster: clusterName(p.clusterId) }))
        .sort((a, b) => compareHosts(a.host, b.host)),
      clusters,
    };
    const { schemaVersion, ...rest } = body;
    const config: ProxyConfig = { schemaVersion, version: computeConfigVersion(body), ...rest };
    const problems = validateProxyConfig(config, { versionJustComputed: true });
    if (problems.length > 0) {
      // A compiler bug, not bad input: fail loudly rather than hand the proxy something it refuses.
      throw new Error(`Compiler produced an invalid ProxyConfig: ${problems.join("; ")}`);
    }
    return config;
  }
}
