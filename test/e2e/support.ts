// End-to-end fixtures for `portcullis serve`: recording backends on loopback, a manifests directory
// written as a user would write it (IngressClass, Ingress, LoadBalancerPolicy, Services, EndpointSlices,
// a wildcard TLS Secret, the shared-keys Secret), the real `portcullis serve` process on fixed free
// ports, and HTTPS clients that verify against the test CA. Every wait here is bounded; every process
// started here is tracked and stopped by `stopAllServes` (and killed if the test process exits first).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect as http2Connect } from "node:http2";
import { Agent, request as httpsRequest } from "node:https";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import type { V1Secret } from "@kubernetes/client-node";
import { stringify } from "yaml";
import {
  type RecordedRequest,
  type RecordingBackend,
  startBackend,
} from "../../proxy/upstream/testing.ts";
import {
  buildTlsSecret,
  type CertificateAuthority,
  createCertificateAuthority,
  type IssuedCertificate,
  issueCertificate,
} from "../support/pki.ts";

/** The repository root. */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Node 26 from the project's devDependencies (the system `node` may be older). */
export const NODE = join(REPO, "node_modules", ".bin", "node");
/** The CLI entry, run from the sources (type stripping). */
export const PORTCULLIS = join(REPO, "bin", "portcullis.ts");

/** The host every fixture serves. */
export const HOST = "shop.example.com";
export const NAMESPACE = "shop";
export const COOKIE_NAME = "shop-session";
export const TLS_SECRET_NAME = "wildcard-example-com";
/** The policy's cookie lifetime (1h). */
export const COOKIE_MAX_AGE_SECONDS = 3600;

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or undefined if it takes longer than `ms` (the timer never outlives the race). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// --- Ports -----------------------------------------------------------------------------------------

const handedOut = new Set<number>();

/** Whether 127.0.0.1:`port` can be bound right now (0: any); resolves with the bound port or 0. */
async function tryBind(port: number): Promise<number> {
  const server = createServer();
  try {
    server.listen({ port, host: "127.0.0.1", exclusive: true });
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
  } catch {
    return 0;
  } finally {
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  }
}

/**
 * A free loopback port, never handed out twice by this process. The proxy binds with SO_REUSEPORT
 * from several worker processes, so it cannot bind port 0 itself: ports are chosen here, first below
 * the kernel's ephemeral range (where no client connection or `listen(0)` elsewhere lands on them
 * between this check and the proxy's bind), then from the ephemeral range as a last resort.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(
      (await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8")).split(/\s+/)[0],
    );
  } catch {
    // Not Linux: the ephemeral range is unknown; fall through to port 0 below.
  }
  const floor = 20000;
  for (let attempt = 0; attempt < 50 && low - floor > 1000; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (handedOut.has(port)) continue;
    if ((await tryBind(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await tryBind(0);
    if (port !== 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("found no free loopback port");
}

// --- Backends --------------------------------------------------------------------------------------

/** A recording backend that answers with its own name. */
export interface Backend {
  /** e.g. "app-1-a": the body of every answer and the X-Backend response header. */
  readonly name: string;
  readonly port: number;
  /** Every request, in arrival order, as the backend saw it (raw headers included). */
  readonly requests: RecordedRequest[];
  /** Stops it: closes open connections too, so its port refuses from now on. Idempotent. */
  close(): Promise<void>;
}

/** Longest delay a request may ask for with `?delay=MS`. */
const MAX_BACKEND_DELAY_MS = 10_000;

/**
 * Starts a backend on 127.0.0.1:0 that records each request and answers 200 with its name. A query
 * `delay=MS` holds the answer for that long (bounded), for drain tests.
 */
export async function startNamedBackend(name: string): Promise<Backend> {
  const timers = new Set<NodeJS.Timeout>();
  const backend: RecordingBackend = await startBackend({
    respond: (req, res) => {
      const delayMs = Math.min(
        MAX_BACKEND_DELAY_MS,
        Number(new URL(req.url ?? "/", "http://backend").searchParams.get("delay") ?? 0) || 0,
      );
      const answer = (): void => {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-backend": name });
        res.end(name);
      };
      if (delayMs <= 0) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, delayMs);
      timers.add(timer);
    },
  });
  let closing: Promise<void> | undefined;
  return {
    name,
    port: backend.port,
    requests: backend.requests,
    close() {
      closing ??= (async () => {
        for (const timer of timers) clearTimeout(timer);
        await backend.close();
      })();
      return closing;
    },
  };
}

/** The four backends of the fixture: two behind /app-1, two behind /app-2. */
export interface Backends {
  app1: Backend[];
  app2: Backend[];
  all(): Backend[];
  close(): Promise<void>;
}

export async function startBackends(prefix = ""): Promise<Backends> {
  const [a1, b1, a2, b2] = await Promise.all(
    ["app-1-a", "app-1-b", "app-2-a", "app-2-b"].map((n) => startNamedBackend(`${prefix}${n}`)),
  );
  const app1 = [a1, b1] as Backend[];
  const app2 = [a2, b2] as Backend[];
  return {
    app1,
    app2,
    all: () => [...app1, ...app2],
    close: async () => {
      await Promise.all([...app1, ...app2].map((b) => b.close()));
    },
  };
}

// --- PKI -------------------------------------------------------------------------------------------

/** A CA and a wildcard leaf for *.example.com and example.com. */
export interface Pki {
  ca: CertificateAuthority;
  leaf: IssuedCertificate;
}

export async function createPki(): Promise<Pki> {
  const ca = await createCertificateAuthority();
  return { ca, leaf: await issueWildcard(ca) };
}

/** A new wildcard leaf (new key, new serial, same names). */
export function issueWildcard(ca: CertificateAuthority): Promise<IssuedCertificate> {
  return issueCertificate(ca, { dnsNames: ["*.example.com", "example.com"] });
}

/** SHA-256 fingerprint of a PEM certificate in node:tls's `fingerprint256` spelling. */
export function fingerprintOf(certificatePem: string): string {
  return new X509Certificate(certificatePem).fingerprint256;
}

// --- Manifests -------------------------------------------------------------------------------------

/** The shared ticket and affinity secrets, as the shared-keys Secret carries them. */
export interface SharedKeys {
  ticket: Buffer;
  affinity: Buffer;
}

export function generateKeys(): SharedKeys {
  return { ticket: randomBytes(32), affinity: randomBytes(32) };
}

/** What a manifests directory describes. */
export interface ManifestsSpec {
  /** Backend ports behind /app-1 and /app-2 (one EndpointSlice each). */
  app1: readonly number[];
  app2: readonly number[];
  certificate: { chainPem: string; keyPem: string };
  /** The shared-keys Secret; null leaves it out (each process then generates its own keys). */
  keys: SharedKeys | null;
}

/**
 * Writes `content` to `path` the way an editor that saves atomically does: a dotfile beside it (both
 * serve and the manifest reader skip dotfiles), then rename(2). serve never sees half a file.
 */
export async function writeFileAtomically(path: string, content: string): Promise<void> {
  const dir = join(path, "..");
  const temporary = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temporary, content);
  await rename(temporary, path);
}

function yamlDocuments(objects: readonly object[]): string {
  return objects.map((o) => stringify(o)).join("---\n");
}

export function endpointSlicesYaml(app1: readonly number[], app2: readonly number[]): string {
  const slice = (service: string, index: number, port: number) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-${index}`,
      namespace: NAMESPACE,
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    // A slice's ports apply to all its endpoints, and every backend has its own port: one slice each.
    ports: [{ name: "http", port, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["127.0.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
      },
    ],
  });
  return yamlDocuments([
    ...app1.map((port, i) => slice("app-1", i, port)),
    ...app2.map((port, i) => slice("app-2", i, port)),
  ]);
}

export function tlsSecretYaml(certificate: { chainPem: string; keyPem: string }): string {
  return yamlDocuments([
    buildTlsSecret(
      { namespace: NAMESPACE, name: TLS_SECRET_NAME },
      { certificatePem: certificate.chainPem, keyPem: certificate.keyPem },
    ),
  ]);
}

function sharedKeysSecret(keys: SharedKeys): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: "portcullis-shared-keys",
      namespace: NAMESPACE,
      labels: { "portcullis.dev/shared-keys": "true" },
    },
    type: "Opaque",
    data: {
      "ticket-secret": keys.ticket.toString("base64"),
      "affinity-secret": keys.affinity.toString("base64"),
    },
  };
}

const ROUTES = [
  { path: "/app-1", service: "app-1" },
  { path: "/app-2", service: "app-2" },
] as const;

/** The Ingress; `paths` overrides its path → Service table (the edit test changes it). */
export function ingressYaml(paths: readonly { path: string; service: string }[] = ROUTES): string {
  return yamlDocuments([
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "shop", namespace: NAMESPACE },
      spec: {
        ingressClassName: "portcullis",
        tls: [{ hosts: [HOST], secretName: TLS_SECRET_NAME }],
        rules: [
          {
            host: HOST,
            http: {
              paths: paths.map((p) => ({
                path: p.path,
                pathType: "Prefix",
                backend: { service: { name: p.service, port: { name: "http" } } },
              })),
            },
          },
        ],
      },
    },
  ]);
}

/** File names inside a manifests directory, for the tests that edit one. */
export const MANIFEST_FILES = {
  endpointSlices: "endpointslices.yaml",
  tlsSecret: "secret-wildcard-example-com.yaml",
  ingress: "ingress.yaml",
} as const;

/** Writes a complete manifests directory for `spec` into `dir` (created). */
export async function writeManifests(dir: string, spec: ManifestsSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: Record<string, string> = {
    "ingress-class.yaml": yamlDocuments([
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "IngressClass",
        metadata: { name: "portcullis" },
        spec: { controller: "portcullis.dev/ingress-controller" },
      },
    ]),
    [MANIFEST_FILES.ingress]: ingressYaml(),
    "policy.yaml": yamlDocuments([
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "shop", namespace: NAMESPACE },
        spec: {
          targetRefs: [{ kind: "Ingress", name: "shop" }],
          affinity: {
            cookie: { name: COOKIE_NAME, maxAge: "1h", sameSite: "Lax" },
            onEndpointLoss: "Repin",
          },
        },
      },
    ]),
    "services.yaml": yamlDocuments(
      ["app-1", "app-2"].map((name) => ({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: NAMESPACE },
        spec: {
          selector: { app: name },
          ports: [{ name: "http", port: 80, targetPort: "http" }],
        },
      })),
    ),
    [MANIFEST_FILES.endpointSlices]: endpointSlicesYaml(spec.app1, spec.app2),
    [MANIFEST_FILES.tlsSecret]: tlsSecretYaml(spec.certificate),
  };
  if (spec.keys) files["secret-shared-keys.yaml"] = yamlDocuments([sharedKeysSecret(spec.keys)]);
  for (const [name, content] of Object.entries(files)) {
    await writeFileAtomically(join(dir, name), content);
  }
}

/** A fresh temporary directory for one test's manifests and state. */
export function temporaryRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "portcullis-e2e-"));
}

// --- The serve process -----------------------------------------------------------------------------

/** How the process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `portcullis serve`. */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly httpsPort: number;
  readonly httpPort: number;
  readonly adminPort: number;
  /** Where config.json, secrets/ and keys/ are written (--state-dir). */
  readonly stateDir: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** The last output (stdout and stderr interleaved), for failure messages. */
  output(): string;
  /** Sends SIGTERM and waits (at most `timeoutMs`, then SIGKILL) for the exit. */
  stop(timeoutMs?: number): Promise<Exit>;
  /** Pids of its worker processes (its direct children), read from /proc. */
  workerPids(): Promise<number[]>;
}

/** Options of startServe. */
export interface ServeOptions {
  paths: readonly string[];
  stateDir: string;
  /** Worker processes. Default 2 (one per core here). */
  workers?: number;
  drainSeconds?: number;
  /** Wait at most this long for /readyz. Default 30 s (a cold start on 2 busy cores takes ~2.5 s). */
  readyTimeoutMs?: number;
}

const running = new Set<ServeProcess>();
/** Output kept per process, in characters. */
const OUTPUT_LIMIT = 64 * 1024;

// Whatever happens to the test process, serve processes it started do not outlive it (their workers
// exit when their supervisor's IPC channel closes).
process.on("exit", () => {
  for (const serve of running) {
    if (serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill("SIGKILL");
    }
  }
});

async function spawnServe(options: ServeOptions): Promise<ServeProcess> {
  const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    PORTCULLIS,
    "serve",
    ...options.paths,
    "--https-port",
    String(httpsPort),
    "--http-port",
    String(httpPort),
    "--admin-port",
    String(adminPort),
    "--workers",
    String(options.workers ?? 2),
    "--state-dir",
    options.stateDir,
    ...(options.drainSeconds === undefined
      ? []
      : ["--drain-seconds", String(options.drainSeconds)]),
  ];
  const child = spawn(NODE, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  // Always drained: the workers write their logs synchronously to this pipe and would block on a full one.
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("portcullis serve did not start");
  const serve: ServeProcess = {
    child,
    pid,
    httpsPort,
    httpPort,
    adminPort,
    stateDir: options.stateDir,
    exited,
    output: () => output,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      running.delete(serve);
      return exit;
    },
    workerPids: () => childPids(pid),
  };
  running.add(serve);
  return serve;
}

/**
 * Starts `portcullis serve` and waits for /readyz. A port taken between choosing and binding it
 * (another program on this machine) makes the attempt fail; it is retried with new ports, at most 3 times.
 */
export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const serve = await spawnServe(options);
    const ready = await waitReady(serve, timeoutMs);
    if (ready === "ready") return serve;
    await serve.stop(5000);
    lastError = new Error(
      `portcullis serve did not become ready (${ready}); its output:\n${serve.output().slice(-4000)}`,
    );
    if (!serve.output().includes("EADDRINUSE")) break;
  }
  throw lastError ?? new Error("portcullis serve did not start");
}

async function waitReady(serve: ServeProcess, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void serve.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) return "exited";
    if (serve.output().includes("EADDRINUSE")) return "port in use";
    const status = await adminGet(serve.adminPort, "/readyz").then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return "ready";
    await delay(100);
  }
  return `not ready within ${timeoutMs} ms`;
}

/** Stops every serve process still running (for `after` hooks: runs even when a test failed). */
export async function stopAllServes(): Promise<void> {
  await Promise.all([...running].map((serve) => serve.stop(10_000)));
}

/** Pids whose parent is `parent`, from /proc (Linux). */
async function childPids(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === parent) pids.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Whether /proc exposes sockets and their owners (Linux), for ownersOfConnections. */
export function canMapConnections(): boolean {
  try {
    return readdirSync("/proc/self/fd").length > 0;
  } catch {
    return false;
  }
}

/**
 * Which of `pids` holds the server side of each client connection to 127.0.0.1:`serverPort`, by the
 * client's local port: the kernel's socket table (/proc/net/tcp) gives the server socket's inode,
 * /proc/PID/fd gives its owner. Connections must still be open. Unknown ones map to undefined.
 */
export async function ownersOfConnections(
  pids: readonly number[],
  serverPort: number,
  clientPorts: readonly number[],
): Promise<Map<number, number | undefined>> {
  const wanted = new Set(clientPorts);
  const inodeByClientPort = new Map<number, string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = await readFile(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const remote = fields[2];
      const inode = fields[9];
      if (!local || !remote || !inode || inode === "0") continue;
      const localPort = Number.parseInt(local.split(":")[1] ?? "", 16);
      const remotePort = Number.parseInt(remote.split(":")[1] ?? "", 16);
      if (localPort === serverPort && wanted.has(remotePort)) {
        inodeByClientPort.set(remotePort, inode);
      }
    }
  }
  const ownerByInode = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) ownerByInode.set(match[1], pid);
    }
  }
  const owners = new Map<number, number | undefined>();
  for (const port of clientPorts) {
    const inode = inodeByClientPort.get(port);
    owners.set(port, inode === undefined ? undefined : ownerByInode.get(inode));
  }
  return owners;
}

// --- Clients ---------------------------------------------------------------------------------------

/** A response, read whole. */
export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The client's local port of the connection that carried it. */
  localPort: number;
  /** SHA-256 fingerprint of the certificate the server presented (HTTPS only). */
  fingerprint256: string | undefined;
  /** Whether the TLS session was resumed (HTTPS only). */
  sessionReused: boolean;
}

/** Options of `get` (HTTPS unless `plain`). */
export interface GetOptions {
  port: number;
  path: string;
  /** Trust anchor for HTTPS (PEM). */
  ca?: string;
  headers?: Record<string, string | string[]>;
  /** Keep-alive agent to use; default none (a new connection). */
  agent?: Agent;
  method?: string;
  /** Plain HTTP instead of HTTPS. */
  plain?: boolean;
  /** Whole-exchange deadline, ms. Default 10 s. */
  timeoutMs?: number;
}

/** One request to 127.0.0.1 with Host (and SNI) shop.example.com; rejects on any network error. */
export function get(options: GetOptions): Promise<Response> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const common = {
      host: "127.0.0.1",
      port: options.port,
      path: options.path,
      method: options.method ?? "GET",
      headers: { host: HOST, ...options.headers },
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      const socket = res.socket as TLSSocket;
      const tlsSocket = typeof socket.getPeerCertificate === "function" ? socket : undefined;
      const localPort = socket.localPort ?? 0;
      const fingerprint256 = tlsSocket?.getPeerCertificate().fingerprint256;
      const sessionReused = tlsSocket?.isSessionReused() ?? false;
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          localPort,
          fingerprint256,
          sessionReused,
        });
      });
      res.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    };
    const req = options.plain
      ? httpRequest({ ...common, agent: false }, onResponse)
      : httpsRequest(
          {
            ...common,
            servername: HOST,
            ...(options.ca === undefined ? {} : { ca: options.ca }),
            agent: options.agent ?? false,
          },
          onResponse,
        );
    const timer = setTimeout(
      () => req.destroy(new Error(`${options.path}: no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

/** Requests `paths` in order over one HTTP/2 connection (ALPN h2); resolves with each status and body. */
export async function getOverHttp2(
  port: number,
  ca: string,
  paths: readonly string[],
): Promise<{ status: number; body: string }[]> {
  const session = http2Connect(`https://${HOST}:${port}`, {
    host: "127.0.0.1",
    port,
    servername: HOST,
    ca,
  });
  const failed = new Promise<never>((_, reject) => session.once("error", reject));
  failed.catch(() => {}); // Observed through the races below; never unhandled.
  const timer = setTimeout(() => session.destroy(new Error("HTTP/2 requests timed out")), 10_000);
  try {
    const results: { status: number; body: string }[] = [];
    for (const path of paths) {
      const stream = session.request({ ":path": path, ":authority": HOST });
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        let status = 0;
        let body = "";
        stream.on("response", (headers) => {
          status = Number(headers[":status"]);
        });
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
          body += chunk;
        });
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
      });
      stream.end();
      results.push(await Promise.race([answer, failed]));
    }
    return results;
  } finally {
    clearTimeout(timer);
    session.close();
  }
}

/** A keep-alive HTTPS agent for shop.example.com that trusts `ca`, one connection at a time. */
export function keepAliveAgent(ca: string, maxSockets = 1): Agent {
  return new Agent({ keepAlive: true, maxSockets, ca, servername: HOST });
}

/** The `name=value` part of a Set-Cookie header for the affinity cookie, or undefined. */
export function affinityCookie(headers: IncomingHttpHeaders): string | undefined {
  const line = headers["set-cookie"]?.find((c) => c.startsWith(`${COOKIE_NAME}=`));
  return line?.split(";")[0];
}

/** A GET on the admin port; resolves with status and body. */
export function adminGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`admin ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** The value of one Prometheus sample (`name{labels}` exactly as rendered, labels in order), summed over matches. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const labelText = rest[0] === "{" ? rest.slice(1, rest.indexOf("}")) : "";
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (!ok) continue;
    found = true;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return found ? sum : Number.NaN;
}

/** Polls `check` every `intervalMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await delay(intervalMs);
  }
}

/** Removes a temporary directory tree (best effort). */
export function removeTree(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** One complete fixture: backends, PKI, a manifests dir and a serve process on it. */
export interface Fixture {
  root: string;
  manifestsDir: string;
  backends: Backends;
  pki: Pki;
  keys: SharedKeys | null;
  serve: ServeProcess;
  /** Stops serve, the backends, and removes the files. */
  close(): Promise<void>;
}

/** Options of startFixture. */
export interface FixtureOptions {
  /** Reuse a PKI (tests that compare certificates across fixtures). Default a new one. */
  pki?: Pki;
  /** Shared keys; null: none (generated per process). Default new random keys. */
  keys?: SharedKeys | null;
  drainSeconds?: number;
  workers?: number;
}

/** Starts four backends, writes the manifests for them, and runs serve on them. */
export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const root = await temporaryRoot();
  const backends = await startBackends();
  const pki = options.pki ?? (await createPki());
  const keys = options.keys === undefined ? generateKeys() : options.keys;
  const manifestsDir = join(root, "manifests");
  await writeManifests(manifestsDir, {
    app1: backends.app1.map((b) => b.port),
    app2: backends.app2.map((b) => b.port),
    certificate: pki.leaf,
    keys,
  });
  try {
    const serve = await startServe({
      paths: [manifestsDir],
      stateDir: join(root, "state"),
      ...(options.drainSeconds === undefined ? {} : { drainSeconds: options.drainSeconds }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    });
    return {
      root,
      manifestsDir,
      backends,
      pki,
      keys,
      serve,
      async close() {
        await serve.stop();
        await backends.close();
        await removeTree(root);
      },
    };
  } catch (error) {
    await backends.close();
    await removeTree(root);
    throw error;
  }
}

/** Header values (case-insensitive) in a raw header list. */
export { headerNames, headerValues } from "../../proxy/upstream/testing.ts";
