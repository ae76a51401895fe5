// `npm start`: the mission on one machine. Makes a local CA and a wildcard certificate for
// *.example.com, starts four demo backends (two behind /app-1, two behind /app-2), writes ordinary
// Kubernetes manifests for them, and runs `portcullis serve` on those manifests: TLS terminated at the
// load balancer, cookie affinity, path routing. Then it prints curl lines and shows what they return.
// `--once` exits after the demonstration (the tests use it); otherwise it serves until Ctrl-C.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import {
  buildTlsSecret,
  createCertificateAuthority,
  issueCertificate,
} from "../test/support/pki.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "shop.example.com";
const NAMESPACE = "shop";
const onceOnly = process.argv.includes("--once");

/** A free loopback port (preferring `wanted`, so the printed curl lines are short when possible). */
async function freePort(wanted: number): Promise<number> {
  for (const port of [wanted, 0]) {
    const server = createNetServer();
    try {
      server.listen(port, "127.0.0.1");
      await once(server, "listening");
      const chosen = (server.address() as AddressInfo).port;
      server.close();
      await once(server, "close");
      return chosen;
    } catch {
      server.close();
    }
  }
  throw new Error("no free port");
}

/** A demo backend: answers with its own name, so you can see where each request went. */
async function startBackend(name: string): Promise<{ name: string; port: number; server: Server }> {
  const server = createHttpServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(
      `${name} answered ${req.method} ${req.url} (X-Forwarded-For: ${req.headers["x-forwarded-for"] ?? "-"})\n`,
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { name, port: (server.address() as AddressInfo).port, server };
}

function manifests(backends: { name: string; port: number }[], tlsSecret: object): object[] {
  const slice = (service: string, backend: { name: string; port: number }) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: backend.name,
      namespace: NAMESPACE,
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: backend.port, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["127.0.0.1"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: backend.name },
      },
    ],
  });
  const service = (name: string) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: NAMESPACE },
    spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  });
  const path = (p: string, svc: string) => ({
    path: p,
    pathType: "Prefix",
    backend: { service: { name: svc, port: { name: "http" } } },
  });
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
        tls: [{ hosts: [HOST], secretName: "wildcard-example-com" }],
        rules: [
          { host: HOST, http: { paths: [path("/app-1", "app-1"), path("/app-2", "app-2")] } },
        ],
      },
    },
    {
      apiVersion: "portcullis.dev/v1alpha1",
      kind: "LoadBalancerPolicy",
      metadata: { name: "shop", namespace: NAMESPACE },
      spec: {
        targetRefs: [{ kind: "Ingress", name: "shop" }],
        affinity: { cookie: { name: "shop-pin", maxAge: "1h" } },
      },
    },
    service("app-1"),
    service("app-2"),
    ...backends.map((b) => slice(b.name.slice(0, 5), b)),
    tlsSecret,
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "portcullis-shared-keys",
        namespace: NAMESPACE,
        labels: { "portcullis.dev/shared-keys": "true" },
      },
      type: "Opaque",
      data: {
        "ticket-secret": randomBytes(32).toString("base64"),
        "affinity-secret": randomBytes(32).toString("base64"),
      },
    },
  ];
}

async function waitReady(adminPort: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`portcullis serve exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("portcullis serve did not become ready within 30 s");
}

/** One HTTPS request the way the printed curl line makes it. */
function get(
  port: number,
  ca: string,
  path: string,
  cookie?: string,
): Promise<{ status: number; body: string; setCookie: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        servername: HOST,
        path,
        ca,
        headers: { host: HOST, ...(cookie ? { cookie } : {}) },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers["set-cookie"]?.[0] }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A plain-HTTP request (fetch cannot set Host). */
function plainGet(
  port: number,
  path: string,
): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, headers: { host: HOST }, agent: false },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-demo-"));
  const ca = await createCertificateAuthority();
  const leaf = await issueCertificate(ca, { dnsNames: ["*.example.com", "example.com"] });
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, ca.certificatePem);
  const backends = await Promise.all(
    ["app-1-a", "app-1-b", "app-2-a", "app-2-b"].map(startBackend),
  );
  const tlsSecret = buildTlsSecret(
    { namespace: NAMESPACE, name: "wildcard-example-com" },
    { certificatePem: leaf.chainPem, keyPem: leaf.keyPem },
  );
  const manifestFile = join(dir, "manifests", "shop.yaml");
  await mkdir(dirname(manifestFile), { recursive: true });
  await writeFile(
    manifestFile,
    manifests(backends, tlsSecret)
      .map((m) => stringify(m))
      .join("---\n"),
  );

  const [httpsPort, httpPort, adminPort] = [
    await freePort(8443),
    await freePort(8080),
    await freePort(9901),
  ];
  const child = spawn(
    process.execPath,
    [
      join(root, "bin", "portcullis.ts"),
      "serve",
      dirname(manifestFile),
      "--https-port",
      String(httpsPort),
      "--http-port",
      String(httpPort),
      "--admin-port",
      String(adminPort),
      "--workers",
      "2",
      "--log-level",
      "warn",
      "--state-dir",
      join(dir, "state"),
    ],
    // Its JSON logs (stdout) would drown the demonstration; its own summary lines go to stderr.
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    for (const b of backends) b.server.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(adminPort, child);
    const curl = `curl --cacert ${caFile} --resolve ${HOST}:${httpsPort}:127.0.0.1`;
    const url = (path: string) => `https://${HOST}:${httpsPort}${path}`;
    console.log(`
Portcullis is serving https://${HOST}:${httpsPort} from ${manifestFile}
(TLS terminated here with a wildcard certificate for *.example.com, signed by a local CA)

1. TLS termination — the backends speak plain HTTP; the certificate lives on the load balancer:
   ${curl} -v ${url("/app-1/")} 2>&1 | grep -E 'subject:|SSL connection|answered'`);
    const first = await get(httpsPort, ca.certificatePem, "/app-1/");
    console.log(`   → ${first.status} ${first.body.trim()}`);
    const cookie = first.setCookie?.split(";")[0] ?? "";
    console.log(`   → Set-Cookie: ${first.setCookie ?? "(none)"}

2. Cookie affinity — the same backend every time while you send the cookie:
   ${curl} -c /tmp/portcullis-jar ${url("/app-1/")} ; for i in 1 2 3 4 5; do ${curl} -b /tmp/portcullis-jar ${url("/app-1/")}; done`);
    for (let i = 0; i < 5; i++)
      console.log(
        `   → ${(await get(httpsPort, ca.certificatePem, "/app-1/", cookie)).body.trim()}`,
      );
    console.log(`   Without the cookie, requests are balanced across app-1-a and app-1-b:
   for i in 1 2 3 4; do ${curl} ${url("/app-1/")}; done`);
    for (let i = 0; i < 4; i++)
      console.log(`   → ${(await get(httpsPort, ca.certificatePem, "/app-1/")).body.trim()}`);
    console.log(`
3. Path routing — /app-1 and /app-2 go to different pools:
   ${curl} ${url("/app-2/cart")}`);
    console.log(`   → ${(await get(httpsPort, ca.certificatePem, "/app-2/cart")).body.trim()}`);
    const redirect = await plainGet(httpPort, "/app-1/");
    console.log(`
4. Plain HTTP is redirected to HTTPS:
   curl -sI --resolve ${HOST}:${httpPort}:127.0.0.1 http://${HOST}:${httpPort}/app-1/
   → ${redirect.status} Location: ${redirect.location}

Metrics: curl -s http://127.0.0.1:${adminPort}/metrics | grep portcullis_
Edit ${manifestFile} and Portcullis applies the change without a restart.`);
    if (onceOnly) return;
    console.log("\nPress Ctrl-C to stop.");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
