// The operator end to end, as the integration test and the time-to-effect benchmark both run it: a
// real API server (test/support/cluster.ts), the operator as a child process, backends on this
// machine's non-loopback address (EndpointSlices refuse loopback ones), and HTTPS requests to the
// proxy pod (test/support/pod.ts) with SNI shop.example.com.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { delay, freePort, NODE, PORTCULLIS } from "../e2e/support.ts";
import type { TestCluster } from "./cluster.ts";

export const CRD = fileURLToPath(new URL("../../crds/", import.meta.url));
export const CERT_MANAGER = fileURLToPath(
  new URL("../../schemas/cert-manager-v1.21.1/", import.meta.url),
);
export const SYSTEM = "portcullis-system";
export const APPS = "shop";
export const HOST = "shop.example.com";
export const COOKIE = "shop-session";
/** The budget from an API change to the proxy serving it. */
export const BUDGET_MS = 2000;

export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === "IPv4" && !entry.internal) return entry.address;
    }
  }
  throw new Error(
    "this machine has no non-loopback IPv4 address; EndpointSlices refuse loopback ones",
  );
}

export interface Answer {
  status: number;
  body: string;
  cookie: string | undefined;
  setCookie: string[];
  fingerprint: string;
}

export function get(
  address: string,
  port: number,
  path: string,
  ca: string,
  cookie?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: address,
        port,
        path,
        servername: HOST,
        ca,
        agent: false,
        headers: { host: HOST, ...(cookie ? { cookie } : {}) },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => {
          const setCookie = res.headers["set-cookie"] ?? [];
          resolve({
            status: res.statusCode ?? 0,
            body,
            setCookie,
            cookie: setCookie.find((c) => c.startsWith(`${COOKIE}=`))?.split(";")[0],
            fingerprint: (res.socket as TLSSocket).getPeerCertificate?.().fingerprint256 ?? "",
          });
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls `check` every 20 ms until it returns a value; returns it with the time it took. */
export async function timeUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return { value, ms: Math.round(performance.now() - start) };
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

export interface BackendProcess {
  name: string;
  port: number;
  server: Server;
}

export async function startBackend(name: string, address: string): Promise<BackendProcess> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as { port: number }).port;
  return { name, port, server };
}

export function slice(service: string, id: string, address: string, port: number): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-${id}`,
      namespace: APPS,
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port, protocol: "TCP" }],
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
  };
}

export function ingress(paths: string[]): object {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: "shop", namespace: APPS },
    spec: {
      ingressClassName: "portcullis",
      rules: [
        {
          host: HOST,
          http: {
            paths: paths.map((path) => ({
              path: `/${path}`,
              pathType: "Prefix",
              backend: { service: { name: path, port: { name: "http" } } },
            })),
          },
        },
      ],
    },
  };
}

export function policy(cookieName: string, secretName = "wildcard-example-com"): object {
  return {
    apiVersion: "portcullis.dev/v1alpha1",
    kind: "LoadBalancerPolicy",
    metadata: { name: "shop", namespace: APPS },
    spec: {
      targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "shop" }],
      certificate: { secretName },
      affinity: { cookie: { name: cookieName, maxAge: "1h" } },
    },
  };
}

export interface OperatorProcess {
  child: ChildProcess;
  healthPort: number;
  output(): string;
  stop(): Promise<void>;
}

export async function startOperator(
  cluster: TestCluster,
  root: string,
  identity: string,
  extraArgs: readonly string[] = [],
  /** Kubeconfig to use instead of the cluster's (e.g. one through a CountingForwarder). */
  kubeconfigPath: string = cluster.kubeconfigPath,
  /** Leader election timings; default short ones (4/3/1 s) so tests fail over fast. */
  lease: { duration: number; renewDeadline: number; retryPeriod: number } = {
    duration: 4,
    renewDeadline: 3,
    retryPeriod: 1,
  },
): Promise<OperatorProcess> {
  const healthPort = await freePort();
  const settings = join(root, `${identity}-settings.yaml`);
  await writeFile(
    settings,
    stringify({ replicas: 1, secretsDir: join(root, "pod", "etc", "portcullis", "secrets") }),
  );
  const child = spawn(
    NODE,
    [
      PORTCULLIS,
      "operator",
      "--kubeconfig",
      kubeconfigPath,
      "--namespace",
      SYSTEM,
      "--image",
      "registry.example/portcullis:test",
      "--proxy-settings",
      settings,
      "--identity",
      identity,
      "--health-port",
      String(healthPort),
      "--health-host",
      "127.0.0.1",
      "--lease-duration",
      String(lease.duration),
      "--renew-deadline",
      String(lease.renewDeadline),
      "--retry-period",
      String(lease.retryPeriod),
      "--resync",
      "5s",
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > 400_000) output = output.slice(-200_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return {
    child,
    healthPort,
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

export async function readyz(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * A TCP forwarder in front of the API server that counts the connections it accepts: the operator's
 * requests each open one (request.ts uses a fresh connection per request), so the count over a window
 * bounds the request rate — while the API server is down too (a refused upstream closes the client).
 */
export interface CountingForwarder {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startCountingForwarder(target: URL): Promise<CountingForwarder> {
  const { createServer: createTcpServer, connect } = await import("node:net");
  let accepted = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server = createTcpServer((client) => {
    accepted += 1;
    sockets.add(client);
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A copy of `kubeconfigPath` whose server is https://127.0.0.1:<port> (TLS still verified: same IP). */
export async function kubeconfigVia(
  kubeconfigPath: string,
  port: number,
  out: string,
): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(kubeconfigPath, "utf8");
  await writeFile(
    out,
    text.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`),
  );
  return out;
}
