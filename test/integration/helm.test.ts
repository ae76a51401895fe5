// The Helm chart (charts/portcullis) with the real helm binary against a real kube-apiserver + etcd
// (test/support/cluster.ts): lint, template and the values schema; install (CRDs included); the
// operator run as a child process with the chart Deployment's own args (only paths, ports and the
// kubeconfig rewritten) under a token of the chart's ServiceAccount, so the API server enforces the
// chart's RBAC while the operator reconciles a sample into the proxy fleet; the identity's rights
// (`kubectl auth can-i --list`) asserted against the matrix documented in charts/portcullis/README.md;
// Secrets readable cluster-wide only when a value opts in; an upgrade with changed values; uninstall
// and exactly what it leaves behind.
//
// There is no controller-manager: Deployments get no pods and nothing garbage-collects. So the objects
// the operator created outlive `helm uninstall` here; the test asserts they are owned by the
// IngressClass the chart installed (and uninstalled), which is what makes a real cluster delete them.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { V1ConfigMap, V1Deployment, V1Volume } from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";
import { type InfraSettingsInput, resolveInfraSettings } from "../../operator/infra/index.ts";
import { delay, freePort, NODE, PORTCULLIS, removeTree, temporaryRoot } from "../e2e/support.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";
import { buildTlsSecret, createCertificateAuthority, issueCertificate } from "../support/pki.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CHART = join(REPO, "charts", "portcullis");
const FIXTURES = join(REPO, "test", "integration", "fixtures", "helm");
const CERT_MANAGER = join(REPO, "schemas", "cert-manager-v1.21.1");
const CRD_FILE = "portcullis.dev_loadbalancerpolicies.yaml";

const RELEASE = "portcullis";
const SYSTEM = "portcullis-system";
/** Listed in secrets.namespaces: the sample lives here. */
const APPS = "shop";
/** Neither the release's nor listed: what the operator may do in any namespace. */
const ELSEWHERE = "elsewhere";
const SERVICE_ACCOUNT = "portcullis-operator";
const IDENTITY = `system:serviceaccount:${SYSTEM}:${SERVICE_ACCOUNT}`;
/** An identity nothing is bound to: what every authenticated identity may do anyway. */
const NOBODY = `system:serviceaccount:${ELSEWHERE}:nobody`;

// ---- The RBAC matrix (the same table is in charts/portcullis/README.md) ----------------------------
// Rows as `kubectl auth can-i --list` prints them: resource, resource names, verbs (sorted here).

type Row = readonly [resource: string, names: string, verbs: string];

/** Granted by Kubernetes to every authenticated identity (system:basic-user), not by the chart. */
const KUBERNETES_DEFAULTS: Row[] = [
  ["selfsubjectreviews.authentication.k8s.io", "", "create"],
  ["selfsubjectaccessreviews.authorization.k8s.io", "", "create"],
  ["selfsubjectrulesreviews.authorization.k8s.io", "", "create"],
];
/** ClusterRole portcullis-operator: in every namespace. */
const EVERY_NAMESPACE: Row[] = [
  ["ingressclasses.networking.k8s.io", "", "list watch"],
  ["ingresses.networking.k8s.io", "", "list watch"],
  ["ingresses.networking.k8s.io/status", "", "patch"],
  ["loadbalancerpolicies.portcullis.dev", "", "list watch"],
  ["loadbalancerpolicies.portcullis.dev/status", "", "patch"],
  ["services", "", "list watch"],
  ["endpointslices.discovery.k8s.io", "", "list watch"],
  ["events.events.k8s.io", "", "create"],
  ["issuers.cert-manager.io", "", "list watch"],
  ["clusterissuers.cert-manager.io", "", "list watch"],
  ["certificates.cert-manager.io", "", "create delete list patch watch"],
];
/** Role portcullis-operator: the release namespace, where the proxy fleet runs. */
const RELEASE_NAMESPACE: Row[] = [
  ...EVERY_NAMESPACE.filter(([resource]) => resource !== "services"),
  ["services", "", "create list patch watch"],
  ["deployments.apps", "", "create list patch watch"],
  ["poddisruptionbudgets.policy", "", "create list patch watch"],
  ["configmaps", "", "create list patch watch"],
  ["configmaps", "portcullis-proxy-config", "get"],
  ["serviceaccounts", "", "create list patch watch"],
  ["roles.rbac.authorization.k8s.io", "", "create list patch watch"],
  ["rolebindings.rbac.authorization.k8s.io", "", "create list patch watch"],
  ["secrets", "", "create delete get list patch watch"],
  ["secrets", "portcullis-shared-keys", "update"],
  ["leases.coordination.k8s.io", "portcullis-operator", "get update"],
];
/** Role portcullis-secret-reader in each of secrets.namespaces (or, with clusterWide, everywhere). */
const SECRET_READER: Row = ["secrets", "", "get list watch"];

const MATRIX = {
  [SYSTEM]: [...KUBERNETES_DEFAULTS, ...RELEASE_NAMESPACE],
  [APPS]: [...KUBERNETES_DEFAULTS, ...EVERY_NAMESPACE, SECRET_READER],
  [ELSEWHERE]: [...KUBERNETES_DEFAULTS, ...EVERY_NAMESPACE],
};
const MATRIX_CLUSTER_WIDE_SECRETS = {
  [SYSTEM]: MATRIX[SYSTEM],
  [APPS]: MATRIX[APPS],
  [ELSEWHERE]: [...MATRIX[ELSEWHERE], SECRET_READER],
};

function formatRow([resource, names, verbs]: Row): string {
  return `${resource} [${names}] [${verbs.split(" ").sort().join(" ")}]`;
}

/** The resource rows and the non-resource rows of `kubectl auth can-i --list`, normalised and sorted. */
function parseCanI(text: string): { resources: string[]; urls: string[] } {
  const resources: string[] = [];
  const urls: string[] = [];
  for (const line of text.split("\n").slice(1)) {
    const resource = /^(\S+)\s+\[\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line);
    const url = /^\s+\[(\S+)\]\s+\[\]\s+\[([^\]]*)\]\s*$/.exec(line);
    if (resource) resources.push(formatRow([resource[1], resource[2], resource[3]] as Row));
    else if (url) urls.push(`${url[1]} [${url[2]}]`);
    else if (line.trim() !== "") throw new Error(`unexpected can-i line: ${line}`);
  }
  return { resources: [...new Set(resources)].sort(), urls: [...new Set(urls)].sort() };
}

// ---- Helpers ----------------------------------------------------------------------------------------

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  diagnose: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${diagnose()}`);
    await delay(100);
  }
}

interface OperatorProcess {
  child: ChildProcess;
  healthPort: number;
  args: string[];
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs the operator as the chart's Deployment would: its container's args, with the ConfigMap
 * volumes written under `root` (paths in the args moved there), the health port replaced by a free
 * one on loopback, and a kubeconfig holding a token of the pod's ServiceAccount.
 */
async function startChartOperator(
  cluster: TestCluster,
  deployment: V1Deployment,
  root: string,
): Promise<OperatorProcess> {
  const pod = deployment.spec?.template.spec;
  const container = pod?.containers.find((c) => c.name === "operator");
  assert.ok(pod && container, "the Deployment runs an operator container");
  const namespace = deployment.metadata?.namespace ?? "";
  for (const mount of container.volumeMounts ?? []) {
    const volume: V1Volume | undefined = pod.volumes?.find((v) => v.name === mount.name);
    assert.ok(volume?.configMap?.name, `volume ${mount.name} is a ConfigMap`);
    const read = await cluster.kubectl([
      "get",
      "configmap",
      "-n",
      namespace,
      volume.configMap.name,
      "-o",
      "json",
    ]);
    assert.equal(read.code, 0, read.stderr);
    const map = JSON.parse(read.stdout) as V1ConfigMap;
    for (const [key, content] of Object.entries(map.data ?? {})) {
      const path = join(root, mount.mountPath, key);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
  }

  const token = await cluster.kubectl([
    "create",
    "token",
    "-n",
    namespace,
    pod.serviceAccountName ?? "default",
    "--duration",
    "1h",
  ]);
  assert.equal(token.code, 0, token.stderr);
  const admin = await readFile(cluster.kubeconfigPath, "utf8");
  const ca = /certificate-authority-data: (\S+)/.exec(admin)?.[1] ?? "";
  const kubeconfig = join(root, "operator.kubeconfig");
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "c", cluster: { server: cluster.apiserverUrl, "certificate-authority-data": ca } },
      ],
      users: [{ name: "operator", user: { token: token.stdout.trim() } }],
      contexts: [{ name: "operator", context: { cluster: "c", user: "operator" } }],
      "current-context": "operator",
    }),
  );

  const args = [...(container.args ?? [])].map((arg) =>
    arg.startsWith("/") ? join(root, arg) : arg,
  );
  assert.equal(args[0], "operator");
  const healthPort = await freePort();
  const replace = (flag: string, value: string): void => {
    const index = args.indexOf(flag);
    if (index === -1) args.push(flag, value);
    else args[index + 1] = value;
  };
  replace("--health-port", String(healthPort));
  replace("--health-host", "127.0.0.1");
  replace("--kubeconfig", kubeconfig); // in a pod: the mounted token
  const child = spawn(NODE, [PORTCULLIS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return {
    child,
    healthPort,
    args,
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
      }),
  };
}

async function httpStatus(port: number, path: string): Promise<number | undefined> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return undefined;
  }
}

/** Kind, namespace and name of every document in a rendered manifest. */
function manifestObjects(text: string): { kind: string; namespace: string; name: string }[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Record<string, unknown> | null)
    .filter((object): object is Record<string, unknown> => object !== null)
    .map((object) => {
      const metadata = object.metadata as { name: string; namespace?: string };
      return {
        kind: String(object.kind),
        namespace: metadata.namespace ?? "",
        name: metadata.name,
      };
    });
}

const describeObject = (o: { kind: string; namespace: string; name: string }): string =>
  `${o.kind} ${o.namespace}/${o.name}`;

// ---- Without a cluster --------------------------------------------------------------------------

describe("Helm chart files", () => {
  test("the chart's CRD is byte-identical to the repository's crds/", async () => {
    const chart = await readFile(join(CHART, "crds", CRD_FILE));
    const top = await readFile(join(REPO, "crds", CRD_FILE));
    assert.ok(
      chart.equals(top),
      `charts/portcullis/crds/${CRD_FILE} differs from crds/${CRD_FILE}`,
    );
  });

  test("appVersion is package.json's version", async () => {
    const chart = await readFile(join(CHART, "Chart.yaml"), "utf8");
    const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as {
      version: string;
    };
    assert.match(chart, new RegExp(`^appVersion: "${pkg.version.replaceAll(".", "\\.")}"$`, "m"));
  });
});

// ---- On the API server --------------------------------------------------------------------------

describe("Helm chart on a real API server", { skip: clusterSkip }, () => {
  let cluster: TestCluster;
  let root: string;
  let operator: OperatorProcess | undefined;
  /** uid of the IngressClass the chart installed: owner of everything the operator builds. */
  let ingressClassUid = "";
  /** What the release holds before uninstall. */
  let releaseObjects: { kind: string; namespace: string; name: string }[] = [];

  const helm = async (...args: string[]): Promise<string> => {
    const result = await cluster.helm(args);
    assert.equal(result.code, 0, `helm ${args.join(" ")}\n${result.stderr}`);
    return result.stdout;
  };
  const kubectl = async (...args: string[]): Promise<string> => {
    const result = await cluster.kubectl(args);
    assert.equal(result.code, 0, `kubectl ${args.join(" ")}\n${result.stderr}`);
    return result.stdout;
  };
  const getJson = async <T>(...args: string[]): Promise<T | undefined> => {
    const result = await cluster.kubectl(["get", ...args, "-o", "json", "--show-managed-fields"]);
    return result.code === 0 ? (JSON.parse(result.stdout) as T) : undefined;
  };
  const apply = async (...objects: object[]): Promise<void> => {
    const result = await cluster.kubectl(
      ["apply", "--server-side", "--field-manager=user", "-f", "-"],
      { input: objects.map((o) => stringify(o)).join("---\n") },
    );
    assert.equal(result.code, 0, result.stderr);
  };
  const canI = async (identity: string, namespace: string) =>
    parseCanI(await kubectl("auth", "can-i", "--list", `--as=${identity}`, "-n", namespace));
  const diagnose = (): string => `\n--- operator ---\n${operator?.output().slice(-6000) ?? ""}`;
  const operatorDeployment = async (): Promise<V1Deployment> => {
    const deployment = await getJson<V1Deployment>(
      "deployment",
      "-n",
      SYSTEM,
      `${RELEASE}-operator`,
    );
    assert.ok(deployment, "the chart's operator Deployment exists");
    return deployment;
  };
  /** The operator's log has no failure and no refusal by the API server. */
  const assertCleanLog = (): void => {
    const log = operator?.output() ?? "";
    assert.doesNotMatch(log, /Failed|forbidden/i, `the operator's log:\n${log.slice(-8000)}`);
  };

  before(
    async () => {
      cluster = await startCluster();
      root = await temporaryRoot();
      // cert-manager's CRDs, as in a cluster that runs it: the operator then watches Certificates,
      // Issuers and ClusterIssuers, and applies Certificates, all under the chart's RBAC.
      for (const plural of ["certificates", "issuers", "clusterissuers"]) {
        await kubectl(
          "apply",
          "--server-side",
          "-f",
          join(CERT_MANAGER, `cert-manager.io_${plural}.yaml`),
        );
      }
      await apply(
        ...[SYSTEM, APPS, ELSEWHERE].map((name) => ({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name },
        })),
      );
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );

  after(
    async () => {
      await operator?.stop();
      await cluster?.stop();
      if (root) await removeTree(root);
    },
    { timeout: 60_000 },
  );

  test("helm lint --strict passes, with the defaults and with every option on", async () => {
    await helm("lint", "--strict", CHART);
    await helm("lint", "--strict", CHART, "-f", join(FIXTURES, "values-everything.yaml"));
  });

  test("helm template renders; values.schema.json refuses bad values, naming them", async () => {
    const kinds = (text: string): string[] =>
      manifestObjects(text)
        .map((o) => o.kind)
        .sort();
    const defaults = await helm("template", RELEASE, CHART, "-n", SYSTEM);
    assert.deepEqual(kinds(defaults), [
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "Deployment",
      "IngressClass",
      "Lease",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "ServiceAccount",
    ]);
    const everything = await helm(
      "template",
      RELEASE,
      CHART,
      "-n",
      SYSTEM,
      "-f",
      join(FIXTURES, "values-everything.yaml"),
    );
    const objects = manifestObjects(everything).map(describeObject).sort();
    for (const expected of [
      `HorizontalPodAutoscaler ${SYSTEM}/edge-proxy`,
      `ServiceMonitor ${SYSTEM}/edge-proxy`,
      "Role shop/portcullis-secret-reader",
      "RoleBinding docs/portcullis-secret-reader",
      "IngressClass /edge",
    ])
      assert.ok(objects.includes(expected), `${expected} in\n${objects.join("\n")}`);
    assert.match(everything, /ingressclass\.kubernetes\.io\/is-default-class: "true"/);
    assert.match(everything, /image: "ghcr\.io\/portcullis\/portcullis@sha256:0123/);
    assert.match(everything, /- --secret-namespaces\n\s+- "portcullis-system,shop,docs"/);
    // The rendered proxy settings are what the operator accepts (it refuses unknown or bad ones).
    const settingsMap = parseAllDocuments(everything)
      .map((document) => document.toJS() as V1ConfigMap | null)
      .find((object) => object?.kind === "ConfigMap");
    const settings = resolveInfraSettings({
      ...(parse(settingsMap?.data?.["proxy-settings.yaml"] ?? "") as InfraSettingsInput),
      image: "registry.example/portcullis:test",
      namespace: SYSTEM,
    });
    assert.equal(settings.replicas, null, "the autoscaler owns the proxy's replicas");
    assert.equal(settings.namePrefix, "edge");
    assert.deepEqual(settings.imagePullSecrets, ["registry-credentials"]);
    assert.equal(settings.service.loadBalancerClass, "service.k8s.aws/nlb");
    assert.equal(settings.terminationGracePeriodSeconds, 60);

    const refused = async (args: string[], message: RegExp): Promise<void> => {
      const result = await cluster.helm(["template", RELEASE, CHART, "-n", SYSTEM, ...args]);
      assert.notEqual(result.code, 0, `helm template ${args.join(" ")} should fail`);
      assert.match(result.stderr, message);
    };
    await refused(
      ["--set", "operator.replicas=two"],
      /\/operator\/replicas.*got string, want integer/,
    );
    await refused(
      ["--set", "proxyAutoscaling.enabled=true", "--set", "proxy.replicas=3"],
      /\/proxy\/replicas.*got number, want null/,
    );
    await refused(["--set", "proxy.replica=3"], /\/proxy.*additional properties 'replica'/);
    await refused(
      ["--set", "proxy.resources.proxy.requests.cpu=1"],
      /\/proxy\/resources\/proxy\/requests\/cpu.*got number, want string/,
    );
    await refused(["--set", "proxy.service.type=Internal"], /\/proxy\/service\/type/);
    await refused(["--set", "secrets.namespaces={Shop}"], /\/secrets\/namespaces\/0/);
    await refused(["--set", "operator.leaderElection.enabled=false"], /\/operator\/replicas/);
  });

  test("helm install creates everything, CRDs included", { timeout: 60_000 }, async () => {
    await helm("install", RELEASE, CHART, "-n", SYSTEM, "-f", join(FIXTURES, "values-sample.yaml"));
    releaseObjects = manifestObjects(await helm("get", "manifest", RELEASE, "-n", SYSTEM));
    assert.deepEqual(
      releaseObjects.map(describeObject).sort(),
      [
        `ClusterRole /${RELEASE}-operator`,
        `ClusterRoleBinding /${RELEASE}-operator`,
        `ConfigMap ${SYSTEM}/${RELEASE}-operator-settings`,
        `Deployment ${SYSTEM}/${RELEASE}-operator`,
        "IngressClass /portcullis",
        `Lease ${SYSTEM}/${RELEASE}-operator`,
        `PodDisruptionBudget ${SYSTEM}/${RELEASE}-operator`,
        `Role ${APPS}/${RELEASE}-secret-reader`,
        `Role ${SYSTEM}/${RELEASE}-operator`,
        `RoleBinding ${APPS}/${RELEASE}-secret-reader`,
        `RoleBinding ${SYSTEM}/${RELEASE}-operator`,
        `ServiceAccount ${SYSTEM}/${SERVICE_ACCOUNT}`,
      ].sort(),
    );
    for (const object of releaseObjects) {
      const args = [object.kind.toLowerCase(), object.name];
      if (object.namespace) args.push("-n", object.namespace);
      await kubectl("get", ...args);
    }
    await kubectl("get", "crd", "loadbalancerpolicies.portcullis.dev");
    const ingressClass = await getJson<{ metadata: { uid: string }; spec: { controller: string } }>(
      "ingressclass",
      "portcullis",
    );
    assert.equal(ingressClass?.spec.controller, "portcullis.dev/ingress-controller");
    ingressClassUid = ingressClass?.metadata.uid ?? "";

    const deployment = await operatorDeployment();
    assert.equal(deployment.spec?.replicas, 2);
    const pod = deployment.spec?.template.spec;
    const container = pod?.containers[0];
    assert.equal(pod?.automountServiceAccountToken, true);
    assert.deepEqual(container?.securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(container?.livenessProbe?.httpGet?.path, "/healthz");
    assert.equal(container?.readinessProbe?.httpGet?.path, "/readyz");
    assert.ok(container?.resources?.requests?.cpu && container.resources.limits?.memory);
    const sa = await getJson<{ automountServiceAccountToken?: boolean }>(
      "serviceaccount",
      "-n",
      SYSTEM,
      SERVICE_ACCOUNT,
    );
    assert.equal(sa?.automountServiceAccountToken, false);
  });

  test("the operator, under the chart's ServiceAccount and args, reconciles a sample", {
    timeout: 120_000,
  }, async () => {
    const ca = await createCertificateAuthority();
    const leaf = await issueCertificate(ca, { dnsNames: ["*.example.com", "example.com"] });
    const ingress = (name: string, host: string): object => ({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name, namespace: APPS },
      spec: {
        ingressClassName: "portcullis",
        rules: [
          {
            host,
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "app-1", port: { name: "http" } } },
                },
              ],
            },
          },
        ],
      },
    });
    await apply(
      buildTlsSecret(
        { namespace: APPS, name: "wildcard-example-com" },
        { certificatePem: leaf.chainPem, keyPem: leaf.keyPem },
      ),
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "app-1", namespace: APPS },
        spec: { ports: [{ name: "http", port: 80, targetPort: "http" }] },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "app-1-a",
          namespace: APPS,
          labels: { "kubernetes.io/service-name": "app-1" },
        },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        // RFC 5737 documentation address: EndpointSlices refuse loopback, and nothing connects.
        endpoints: [{ addresses: ["192.0.2.10"], conditions: { ready: true } }],
      },
      ingress("shop", "shop.example.com"),
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "shop", namespace: APPS },
        spec: {
          targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "shop" }],
          certificate: { secretName: "wildcard-example-com" },
          affinity: { cookie: { name: "shop-session", maxAge: "1h" } },
        },
      },
      // cert-manager issuance: the operator applies a Certificate in the policy's namespace.
      {
        apiVersion: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: { name: "letsencrypt-dns" },
        spec: {
          acme: {
            server: "https://acme.example/directory",
            privateKeySecretRef: { name: "letsencrypt-account" },
            solvers: [
              { dns01: { cloudflare: { apiTokenSecretRef: { name: "cf", key: "token" } } } },
            ],
          },
        },
      },
      ingress("docs", "docs.example.org"),
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "docs", namespace: APPS },
        spec: {
          targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "docs" }],
          certificate: {
            secretName: "wildcard-example-org",
            issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: "letsencrypt-dns" },
            dnsNames: ["*.example.org"],
          },
        },
      },
      // A target that does not exist: reported in status and as a Warning Event.
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "orphan", namespace: APPS },
        spec: {
          targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "no-such-ingress" }],
        },
      },
    );

    operator = await startChartOperator(cluster, await operatorDeployment(), join(root, "pod-1"));
    const running = operator;
    assert.ok(running.args.includes("--secret-namespaces"));
    await until(
      "/readyz 200",
      async () => ((await httpStatus(running.healthPort, "/readyz")) === 200 ? true : undefined),
      60_000,
      diagnose,
    );
    assert.equal(await httpStatus(running.healthPort, "/healthz"), 200);

    // The fleet, including the Role the RBAC escalation check lets it write.
    const proxy = await until(
      "the proxy Deployment",
      () => getJson<V1Deployment>("deployment", "-n", SYSTEM, "portcullis-proxy"),
      30_000,
      diagnose,
    );
    assert.deepEqual(
      proxy.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}`),
      [`IngressClass/portcullis/${ingressClassUid}`],
    );
    await until(
      "the fleet's Role, RoleBinding and shared keys",
      async () => {
        const names = await kubectl("get", "role,rolebinding,secret", "-n", SYSTEM, "-o", "name");
        return [
          "role.rbac.authorization.k8s.io/portcullis-proxy-config-reader",
          "rolebinding.rbac.authorization.k8s.io/portcullis-proxy-config-reader",
          "secret/portcullis-shared-keys",
        ].every((name) => names.includes(name))
          ? true
          : undefined;
      },
      30_000,
      diagnose,
    );
    const accepted = await until(
      "policy shop Accepted=True",
      async () => {
        const lbp = await getJson<{
          status?: { conditions?: { type: string; status: string }[] };
        }>("loadbalancerpolicy", "-n", APPS, "shop");
        return lbp?.status?.conditions?.find((c) => c.type === "Accepted" && c.status === "True");
      },
      30_000,
      diagnose,
    );
    assert.ok(accepted);
    const lease = await getJson<{ spec?: { holderIdentity?: string } }>(
      "lease",
      "-n",
      SYSTEM,
      `${RELEASE}-operator`,
    );
    assert.match(lease?.spec?.holderIdentity ?? "", /.+/, "the chart's Lease is held");

    // Every other write the RBAC allows: a Certificate applied, then deleted; a Warning Event; the
    // Ingress status; the affinity key rotated (update of the shared-keys Secret).
    await until(
      "the cert-manager Certificate",
      () => getJson("certificate.cert-manager.io", "-n", APPS, "wildcard-example-org"),
      30_000,
      diagnose,
    );
    await until(
      "a Warning Event",
      async () => {
        const events = await kubectl("get", "events.events.k8s.io", "-n", APPS, "-o", "json");
        return events.includes("TargetNotFound") && events.includes("portcullis.dev/operator")
          ? true
          : undefined;
      },
      30_000,
      diagnose,
    );
    await kubectl(
      "patch",
      "service",
      "-n",
      SYSTEM,
      "portcullis-proxy",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: "203.0.113.10" }] } } }),
    );
    await until(
      "the Ingress status",
      async () => {
        const shop = await getJson<{ status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(
          "ingress",
          "-n",
          APPS,
          "shop",
        );
        return shop?.status?.loadBalancer?.ingress?.[0]?.ip === "203.0.113.10" ? true : undefined;
      },
      30_000,
      diagnose,
    );
    await kubectl("delete", "loadbalancerpolicy", "-n", APPS, "docs");
    await until(
      "the unused Certificate deleted",
      async () => {
        const result = await cluster.kubectl([
          "get",
          "certificate.cert-manager.io",
          "-n",
          APPS,
          "wildcard-example-org",
        ]);
        return result.code !== 0 && /NotFound/.test(result.stderr) ? true : undefined;
      },
      30_000,
      diagnose,
    );
    await until(
      "the affinity key rotated",
      async () => (/Rotated affinity key/.test(running.output()) ? true : undefined),
      30_000,
      diagnose,
    );
    assertCleanLog();
  });

  test("kubectl auth can-i --list for the ServiceAccount equals the documented matrix", async () => {
    for (const [namespace, rows] of Object.entries(MATRIX)) {
      const granted = await canI(IDENTITY, namespace);
      assert.deepEqual(
        granted.resources,
        [...new Set(rows.map(formatRow))].sort(),
        `rights of ${IDENTITY} in ${namespace}`,
      );
      // No non-resource URL beyond what every authenticated identity may get.
      assert.deepEqual(granted.urls, (await canI(NOBODY, namespace)).urls);
    }
    const nobody = await canI(NOBODY, SYSTEM);
    assert.deepEqual(nobody.resources, KUBERNETES_DEFAULTS.map(formatRow).sort());
  });

  test("Secrets: not listable cluster-wide by default; secrets.clusterWide=true (helm upgrade) grants it", {
    timeout: 120_000,
  }, async () => {
    const canListAll = async (): Promise<string> =>
      (
        await cluster.kubectl([
          "auth",
          "can-i",
          "list",
          "secrets",
          "--all-namespaces",
          `--as=${IDENTITY}`,
        ])
      ).stdout.trim();
    assert.equal(await canListAll(), "no");
    assert.equal(
      (await cluster.kubectl(["get", "secrets", "-A", "--as", IDENTITY])).stderr.includes(
        "forbidden",
      ),
      true,
    );

    // The upgrade: values-sample.yaml and values-upgrade.yaml (clusterWide, autoscaled proxy, ...).
    const before = await operatorDeployment();
    await helm(
      "upgrade",
      RELEASE,
      CHART,
      "-n",
      SYSTEM,
      "-f",
      join(FIXTURES, "values-sample.yaml"),
      "-f",
      join(FIXTURES, "values-upgrade.yaml"),
    );
    assert.equal(await canListAll(), "yes");
    for (const [namespace, rows] of Object.entries(MATRIX_CLUSTER_WIDE_SECRETS)) {
      assert.deepEqual(
        (await canI(IDENTITY, namespace)).resources,
        [...new Set(rows.map(formatRow))].sort(),
        `rights of ${IDENTITY} in ${namespace} with secrets.clusterWide`,
      );
    }
    const roles = await kubectl("get", "role,rolebinding", "-n", APPS, "-o", "name");
    assert.equal(roles.trim(), "", "the per-namespace secret reader is gone");

    // Changed values reach the objects: the Deployment rolls (new settings checksum), the operator's
    // args, the IngressClass, the HPA.
    const after = await operatorDeployment();
    const checksum = (d: V1Deployment): string | undefined =>
      d.spec?.template.metadata?.annotations?.["checksum/proxy-settings"];
    assert.notEqual(checksum(after), checksum(before));
    const args = after.spec?.template.spec?.containers[0]?.args ?? [];
    assert.ok(!args.includes("--secret-namespaces"), "cluster-wide: no --secret-namespaces");
    assert.equal(args[args.indexOf("--log-level") + 1], "debug");
    const ingressClass = await getJson<{ metadata: { annotations?: Record<string, string> } }>(
      "ingressclass",
      "portcullis",
    );
    assert.equal(
      ingressClass?.metadata.annotations?.["ingressclass.kubernetes.io/is-default-class"],
      "true",
    );
    const hpa = await getJson<{
      spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number };
    }>("hpa", "-n", SYSTEM, "portcullis-proxy");
    assert.deepEqual(hpa?.spec.scaleTargetRef, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "portcullis-proxy",
    });

    // The operator restarted as the new pods would run: Secrets watched cluster-wide, the proxy's
    // replicas left to the autoscaler, 4 workers.
    await operator?.stop();
    operator = await startChartOperator(cluster, after, join(root, "pod-2"));
    const running = operator;
    await until(
      "the proxy Deployment with the new settings",
      async () => {
        const proxy = await getJson<V1Deployment>("deployment", "-n", SYSTEM, "portcullis-proxy");
        const proxyArgs = proxy?.spec?.template.spec?.containers[0]?.args ?? [];
        const owned = JSON.stringify(
          proxy?.metadata?.managedFields?.find((m) => m.manager === "portcullis-operator")
            ?.fieldsV1 ?? {},
        );
        return proxyArgs[proxyArgs.indexOf("--workers") + 1] === "4" &&
          !owned.includes('"f:replicas"')
          ? true
          : undefined;
      },
      60_000,
      diagnose,
    );
    assert.match(
      running.output(),
      /"informer":"\/api\/v1\/secrets"/,
      "Secrets watched cluster-wide",
    );
    assertCleanLog();
  });

  test("helm uninstall removes what it created; only the documented leftovers stay", {
    timeout: 60_000,
  }, async () => {
    await operator?.stop();
    await helm("uninstall", RELEASE, "-n", SYSTEM);
    assert.equal((await helm("list", "-A", "-q")).trim(), "");

    // Everything the release created is gone (the HPA of the upgrade included).
    for (const object of [
      ...releaseObjects,
      { kind: "HorizontalPodAutoscaler", namespace: SYSTEM, name: "portcullis-proxy" },
      { kind: "ClusterRole", namespace: "", name: `${RELEASE}-secret-reader` },
      { kind: "ClusterRoleBinding", namespace: "", name: `${RELEASE}-secret-reader` },
    ]) {
      const args = ["get", object.kind.toLowerCase(), object.name];
      if (object.namespace) args.push("-n", object.namespace);
      const result = await cluster.kubectl(args);
      assert.match(result.stderr, /NotFound/, `${describeObject(object)} is gone`);
    }

    // Leftover 1: the CRD (Helm never deletes CRDs from crds/), so policies survive.
    await kubectl("get", "crd", "loadbalancerpolicies.portcullis.dev");

    // Leftover 2: what the operator created in the release namespace, every object owned by the
    // IngressClass the chart installed: a controller-manager's garbage collector deletes them now
    // that it is gone. Everything in the namespace is listed (Events aside: they expire).
    const types = (await kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name"))
      .split("\n")
      .filter((name) => name !== "" && !name.startsWith("events"));
    const listed = JSON.parse(
      await kubectl("get", types.join(","), "-n", SYSTEM, "-o", "json"),
    ) as {
      items: {
        kind: string;
        metadata: {
          name: string;
          labels?: Record<string, string>;
          ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
        };
      }[];
    };
    const remaining = listed.items.map((o) => `${o.kind} ${o.metadata.name}`).sort();
    const mirror = remaining.find((name) => /^Secret portcullis-tls-[0-9a-f]{12}$/.test(name));
    assert.deepEqual(remaining, [
      "ConfigMap portcullis-proxy-config",
      "Deployment portcullis-proxy",
      "PodDisruptionBudget portcullis-proxy",
      "Role portcullis-proxy-config-reader",
      "RoleBinding portcullis-proxy-config-reader",
      "Secret portcullis-shared-keys",
      mirror ?? "Secret portcullis-tls-<hash>",
      "Service portcullis-proxy",
      "Service portcullis-proxy-admin",
      "ServiceAccount portcullis-proxy",
    ]);
    for (const object of listed.items) {
      assert.equal(
        object.metadata.labels?.["app.kubernetes.io/managed-by"],
        "portcullis-operator",
        `${object.kind} ${object.metadata.name} was made by the operator`,
      );
      assert.deepEqual(
        object.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}/${o.controller}`),
        [`IngressClass/portcullis/${ingressClassUid}/true`],
        `${object.kind} ${object.metadata.name} is owned by the uninstalled IngressClass`,
      );
    }
    const ingressClass = await cluster.kubectl(["get", "ingressclass", "portcullis"]);
    assert.match(ingressClass.stderr, /NotFound/);
  });
});
