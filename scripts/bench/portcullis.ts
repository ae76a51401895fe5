// Portcullis as a proxy under test, run as a pod runs it: manifests as a user writes them
// (IngressClass, Ingress for shop.example.com/app-1, a LoadBalancerPolicy with cookie affinity, the
// Service and its EndpointSlices on the two backends, the TLS Secret), compiled once with
// `portcullis compile`, the Secret and the shared keys written where the pod mounts them, and the
// data plane `portcullis proxy --workers 1` on that config. Its supervisor process is part of what is
// measured. (`portcullis serve` would also keep the compiler and a manifest watcher in the
// supervisor, which a pod's proxy container does not run.)
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { buildTlsSecret } from "../../test/support/pki.ts";
import { type CertificateFiles, HOST } from "./certificates.ts";
import { freePort } from "./ports.ts";
import { type Started, startPinned, waitForPort } from "./processes.ts";

/** The repository root. */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Node 26 from the devDependencies. */
export const NODE = join(REPO, "node_modules", ".bin", "node");
/** The CLI from source (type-stripped on load), used for `compile`. */
const CLI = join(REPO, "bin", "portcullis.ts");
/**
 * The CLI as the image runs it: compiled to JavaScript by `npm run build` (Dockerfile: `node
 * /app/dist/bin/portcullis.js`). The data plane is measured from it, not from source: type stripping
 * keeps its compiler (amaro) loaded in every process, about 45 MiB of RSS the product does not have.
 */
const BUILT_CLI = join(REPO, "dist", "bin", "portcullis.js");

const NAMESPACE = "shop";
const TLS_SECRET = "wildcard-example-com";
/** The affinity cookie's name (the policy's `affinity.cookie.name`). */
export const PORTCULLIS_COOKIE = "shop-session";
/** The path every client requests; the Ingress routes it (Prefix) to the two backends. */
export const BENCH_PATH = "/app-1/";

/** What the manifests describe. */
export interface PortcullisManifestsSpec {
  backendPorts: readonly number[];
  certificate: CertificateFiles;
}

/** The manifests, one YAML document each (pure). */
export function buildPortcullisManifests(spec: PortcullisManifestsSpec): object[] {
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "portcullis" },
      spec: { controller: "portcullis.dev/ingress-controller" },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "shop", namespace: NAMESPACE },
      spec: {
        ingressClassName: "portcullis",
        tls: [{ hosts: [HOST], secretName: TLS_SECRET }],
        rules: [
          {
            host: HOST,
            http: {
              paths: [
                {
                  path: "/app-1",
                  pathType: "Prefix",
                  backend: { service: { name: "app-1", port: { name: "http" } } },
                },
              ],
            },
          },
        ],
      },
    },
    {
      apiVersion: "portcullis.dev/v1alpha1",
      kind: "LoadBalancerPolicy",
      metadata: { name: "shop", namespace: NAMESPACE },
      spec: {
        targetRefs: [{ kind: "Ingress", name: "shop" }],
        affinity: { cookie: { name: PORTCULLIS_COOKIE, maxAge: "1h", sameSite: "Lax" } },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "app-1", namespace: NAMESPACE },
      spec: { selector: { app: "app-1" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    },
    // A slice's ports apply to all its endpoints, and each backend has its own port: one slice each.
    ...spec.backendPorts.map((port, i) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `app-1-${i}`,
        namespace: NAMESPACE,
        labels: { "kubernetes.io/service-name": "app-1" },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port, protocol: "TCP" }],
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true, serving: true } }],
    })),
    buildTlsSecret(
      { namespace: NAMESPACE, name: TLS_SECRET },
      { certificatePem: spec.certificate.chainPem, keyPem: spec.certificate.keyPem },
    ),
  ];
}

/** A compiled config and the files it refers to, shared by every process of one key type. */
export interface PortcullisDeployment {
  configPath: string;
  /** The shared keys, as the pod mounts the shared-keys Secret: files ticket-secret, affinity-secret. */
  keysDir: string;
}

/**
 * Writes the manifests into `dir`, mounts the TLS Secret and the shared keys under it as a pod
 * would, and compiles the config with `portcullis compile`.
 */
export async function deployPortcullis(
  dir: string,
  spec: PortcullisManifestsSpec & { keys: { ticket: Buffer; affinity: Buffer } },
): Promise<PortcullisDeployment> {
  const manifestsDir = join(dir, "manifests");
  const secretsDir = join(dir, "secrets");
  const keysDir = join(dir, "keys");
  const secretDir = join(secretsDir, NAMESPACE, TLS_SECRET);
  for (const d of [manifestsDir, secretDir, keysDir]) await mkdir(d, { recursive: true });
  const yaml = buildPortcullisManifests(spec)
    .map((o) => stringify(o))
    .join("---\n");
  await writeFile(join(manifestsDir, "manifests.yaml"), yaml, { mode: 0o600 });
  await writeFile(join(secretDir, "tls.crt"), spec.certificate.chainPem);
  await writeFile(join(secretDir, "tls.key"), spec.certificate.keyPem, { mode: 0o600 });
  await writeFile(join(keysDir, "ticket-secret"), spec.keys.ticket, { mode: 0o600 });
  await writeFile(join(keysDir, "affinity-secret"), spec.keys.affinity, { mode: 0o600 });
  const { stdout } = await promisify(execFile)(
    NODE,
    [CLI, "compile", manifestsDir, "--secrets-dir", secretsDir],
    { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
  );
  const configPath = join(dir, "config.json");
  await writeFile(configPath, stdout);
  return { configPath, keysDir };
}

/** Compiles the sources into dist/ (`npm run build`), so the proxy runs as the image runs it. */
export async function buildPortcullis(): Promise<void> {
  // The package's own build script, so the benchmark compiles exactly what the image does.
  await promisify(execFile)("npm", ["run", "--silent", "build"], {
    cwd: REPO,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/**
 * Starts `portcullis proxy --workers 1` (the compiled CLI: call buildPortcullis first) on a compiled config, pinned to `core` (supervisor and worker
 * inherit the pinning), and waits until it listens. Its stdout (the access log, always on) goes to
 * /dev/null.
 */
export async function startPortcullis(
  deployment: PortcullisDeployment,
  port: number,
  core: number,
): Promise<Started> {
  const [httpPort, adminPort] = [await freePort(), await freePort()];
  const process = startPinned("Portcullis", core, NODE, [
    BUILT_CLI,
    "proxy",
    "--config",
    deployment.configPath,
    "--keys-dir",
    deployment.keysDir,
    "--workers",
    "1",
    "--https-port",
    String(port),
    "--http-port",
    String(httpPort),
    "--admin-port",
    String(adminPort),
    "--bind-address",
    "127.0.0.1",
    "--drain-seconds",
    "2",
    "--log-level",
    "warn",
  ]);
  await waitForPort(port, 60_000, process);
  return process;
}
