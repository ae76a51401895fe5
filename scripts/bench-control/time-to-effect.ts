// Control-plane benchmark: time from an API change to the proxy serving it, p50/p99, against a real
// kube-apiserver + etcd (test/support/cluster.ts), with the operator as a child process and a proxy
// pod run from the operator's own Deployment (test/support/pod.ts). Changes, each timed from the
// moment the API server acknowledged the write until an HTTPS request shows it:
//   endpoint     an EndpointSlice's port moves to another backend
//   route        a path is added to / removed from the Ingress
//   certificate  the TLS Secret is renewed (includes the stand-in kubelet's 250 ms volume refresh;
//                a real kubelet takes about a minute, which no operator can shorten)
//
//   node scripts/bench-control/time-to-effect.ts [--changes 30] [--json]
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { V1Deployment } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { removeTree, temporaryRoot } from "../../test/e2e/support.ts";
import { startCluster, type TestCluster } from "../../test/support/cluster.ts";
import {
  APPS,
  type BackendProcess,
  CRD,
  get,
  hostAddress,
  ingress,
  policy,
  readyz,
  SYSTEM,
  slice,
  startBackend,
  startOperator,
  timeUntil,
} from "../../test/support/operator-fixture.ts";
import {
  buildTlsSecret,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import { startProxyPod } from "../../test/support/pod.ts";

/** Percentiles of one kind of change, ms. */
export interface EffectFigures {
  change: string;
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

/** The value at percentile `p` (nearest rank) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      changes: { type: "string", default: "30" },
      json: { type: "boolean", default: false },
    },
  });
  const changes = Number(values.changes);
  const cluster = await startCluster();
  const root = await temporaryRoot();
  const backends: BackendProcess[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    const figures = await measure(cluster, root, backends, stops, changes);
    if (values.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    else {
      process.stdout.write("| change | samples | p50 | p99 | max |\n|---|---|---|---|---|\n");
      for (const f of figures)
        process.stdout.write(
          `| ${f.change} | ${f.samples} | ${f.p50} ms | ${f.p99} ms | ${f.max} ms |\n`,
        );
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const backend of backends) backend.server.close();
    await cluster.stop();
    await removeTree(root);
  }
}

async function measure(
  cluster: TestCluster,
  root: string,
  backends: BackendProcess[],
  stops: (() => Promise<void>)[],
  changes: number,
): Promise<EffectFigures[]> {
  const address = hostAddress();
  const ca = await createCertificateAuthority();
  const apply = async (...objects: object[]): Promise<void> => {
    const result = await cluster.kubectl(
      ["apply", "--server-side", "--field-manager=user", "-f", "-"],
      {
        input: objects.map((o) => stringify(o)).join("---\n"),
      },
    );
    if (result.code !== 0) throw new Error(result.stderr);
  };
  const crds = await cluster.kubectl(["apply", "--server-side", "-f", CRD]);
  if (crds.code !== 0) throw new Error(crds.stderr);
  await cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
  for (const name of ["a1", "a2", "b1", "c1"]) backends.push(await startBackend(name, address));
  const port = (i: number): number => backends[i]?.port ?? 0;
  const secret = async () => {
    const leaf = await issueCertificate(ca, { dnsNames: ["*.example.com", "example.com"] });
    return buildTlsSecret(
      { namespace: APPS, name: "wildcard-example-com" },
      { certificatePem: leaf.chainPem, keyPem: leaf.keyPem },
    );
  };
  await apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: SYSTEM } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: APPS } },
  );
  await apply(
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "portcullis" },
      spec: { controller: "portcullis.dev/ingress-controller" },
    },
    await secret(),
    ...["app-1", "app-2", "app-3"].map((name) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: APPS },
      spec: { ports: [{ name: "http", port: 80, targetPort: "http" }] },
    })),
    slice("app-1", "a1", address, port(0)),
    slice("app-1", "a2", address, port(1)),
    slice("app-2", "b1", address, port(2)),
    slice("app-3", "c1", address, port(3)),
    ingress(["app-1", "app-2"]),
    policy("shop-session"),
  );
  const operator = await startOperator(cluster, root, "bench", []);
  stops.push(() => operator.stop());
  await timeUntil(
    "the operator ready",
    async () => ((await readyz(operator.healthPort)) ? true : undefined),
    60_000,
  );
  const deployment = await timeUntil(
    "the proxy Deployment",
    async () => {
      const result = await cluster.kubectl([
        "get",
        "deployment",
        "-n",
        SYSTEM,
        "portcullis-proxy",
        "-o",
        "json",
      ]);
      return result.code === 0 ? (JSON.parse(result.stdout) as V1Deployment) : undefined;
    },
    60_000,
  );
  const pod = await startProxyPod({
    cluster,
    deployment: deployment.value,
    root: join(root, "pod"),
    bindAddress: address,
  });
  stops.push(() => pod.stop());
  const ca_ = ca.certificatePem;
  await timeUntil(
    "the proxy serving",
    async () =>
      (await get(address, pod.httpsPort, "/app-2/", ca_)).status === 200 ? true : undefined,
    60_000,
  );

  const endpoint: number[] = [];
  for (let i = 0; i < changes; i++) {
    const target = i % 2 === 0 ? 3 : 2; // app-2's slice alternates between b1's and c1's ports
    await apply(slice("app-2", "b1", address, port(target)));
    const want = target === 3 ? "c1" : "b1";
    endpoint.push(
      (
        await timeUntil("endpoint change", async () =>
          (await get(address, pod.httpsPort, "/app-2/", ca_)).body === want ? true : undefined,
        )
      ).ms,
    );
  }
  const route: number[] = [];
  for (let i = 0; i < changes; i++) {
    const adding = i % 2 === 0;
    await apply(ingress(adding ? ["app-1", "app-2", "app-3"] : ["app-1", "app-2"]));
    route.push(
      (
        await timeUntil("route change", async () =>
          (await get(address, pod.httpsPort, "/app-3/", ca_)).status === (adding ? 200 : 404)
            ? true
            : undefined,
        )
      ).ms,
    );
  }
  const certificate: number[] = [];
  for (let i = 0; i < Math.min(changes, 10); i++) {
    const before = (await get(address, pod.httpsPort, "/app-1/", ca_)).fingerprint;
    await apply(await secret());
    certificate.push(
      (
        await timeUntil("certificate change", async () =>
          (await get(address, pod.httpsPort, "/app-1/", ca_)).fingerprint !== before
            ? true
            : undefined,
        )
      ).ms,
    );
  }
  const summarise = (change: string, samples: number[]): EffectFigures => ({
    change,
    samples: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
  });
  return [
    summarise("endpoint", endpoint),
    summarise("route", route),
    summarise("certificate (incl. 250 ms stand-in kubelet refresh)", certificate),
  ];
}

if (process.argv[1]?.endsWith("time-to-effect.ts")) await main();
