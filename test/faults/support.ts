// Fixtures for the fault tests, on top of test/e2e/support.ts: backends in processes of their own (a
// test SIGKILLs one), `portcullis serve` with the options those tests need (drain delay, default
// certificate), load generators for HTTP/1.1 and HTTP/2 that count every failure with its reason, and a
// TCP round-robin forwarder that plays the Kubernetes Service in front of a proxy fleet.
//
// What counts as a failed request (the rule every fault test asserts on):
//   - anything but the expected answer (status 200, a backend's name) is a failure, as is any network
//     error, timeout (10 s) or refused connection;
//   - with one exception, which real clients handle themselves and so do these generators, once per
//     request: an HTTP/1.1 request written on a *reused* keep-alive connection that the server closed
//     before any byte of the response (ECONNRESET, EPIPE, "socket hang up"; Node sets
//     `req.reusedSocket`, browsers do the same), and an HTTP/2 stream the server refused
//     (REFUSED_STREAM, or above the last stream id of a GOAWAY: RFC 9113 §8.7, never processed). The
//     request is sent again on a new connection; its second outcome is what counts. Every such retry
//     is counted and reported apart (`retried`), and the tests assert how many they allow.
// A request refused before it was sent (an HTTP/2 session that had already received GOAWAY) is not a
// retry: the generator opens a new session, as a browser does.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants as h2,
  connect as http2Connect,
} from "node:http2";
import { Agent, request as httpsRequest } from "node:https";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import {
  adminGet,
  delay,
  type Exit,
  freePort,
  HOST,
  NODE,
  PORTCULLIS,
  REPO,
} from "../e2e/support.ts";

const BACKEND_SCRIPT = fileURLToPath(new URL("./backend-process.ts", import.meta.url));

// --- Process bookkeeping ---------------------------------------------------------------------------

const children = new Set<ChildProcess>();
// Whatever happens to the test process, processes it started do not outlive it.
process.on("exit", () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

function track(child: ChildProcess): Promise<Exit> {
  children.add(child);
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
}

/** Sends `signal` unless the process has exited, and waits (at most `timeoutMs`, then SIGKILL). */
async function stopChild(
  child: ChildProcess,
  exited: Promise<Exit>,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<Exit> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return exit;
}

// --- Backends in their own processes ---------------------------------------------------------------

/** A backend process (backend-process.ts). */
export interface BackendProcess {
  /** Its answer: the body of every response and the X-Backend header. */
  readonly name: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** URLs of the delayed requests that reached it, in arrival order. */
  readonly arrivals: readonly string[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** SIGKILL: the kernel closes its sockets, as when a pod's container crashes. */
  kill(): Promise<Exit>;
  /** SIGTERM and wait. Idempotent. */
  close(): Promise<Exit>;
}

export async function startBackendProcess(name: string): Promise<BackendProcess> {
  const child = spawn(NODE, [BACKEND_SCRIPT, name], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = track(child);
  const arrivals: string[] = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backend ${name} did not start`)), 15_000);
    lines.on("line", (line) => {
      const message = JSON.parse(line) as { port?: number; arrived?: string };
      if (message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.arrived !== undefined) {
        arrivals.push(message.arrived);
      }
    });
    void exited.then(() => reject(new Error(`backend ${name} exited before listening`)));
  });
  return {
    name,
    port,
    arrivals,
    exited,
    kill: () => stopChild(child, exited, "SIGKILL", 5000),
    close: () => stopChild(child, exited, "SIGTERM", 5000),
  };
}

// --- The proxy (`portcullis serve`) ---------------------------------------------------------------

/** Options of startProxy. */
export interface ProxyProcessOptions {
  paths: readonly string[];
  stateDir: string;
  /** Worker processes. Default 2 (one per core here). */
  workers?: number;
  drainSeconds?: number;
  drainDelaySeconds?: number;
  /** `--default-certificate NS/NAME`. */
  defaultCertificate?: string;
}

/** A running `portcullis serve`. */
export interface ProxyProcess {
  /** Ports on 127.0.0.1: HTTPS traffic, and the admin port (/readyz). */
  readonly httpsPort: number;
  readonly adminPort: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** The last 64 KiB of its output, for failure messages. */
  output(): string;
  /** SIGTERM (the start of a drain); does not wait. */
  terminate(): void;
  /** SIGTERM and wait for the exit (at most `timeoutMs`, then SIGKILL). */
  stop(timeoutMs?: number): Promise<Exit>;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Starts `portcullis serve` on fresh ports and waits until its /readyz answers 200. */
export async function startProxy(options: ProxyProcessOptions): Promise<ProxyProcess> {
  let lastError: Error | undefined;
  // A port taken between choosing it and binding it (another test on this machine): new ports, 3 tries.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const args = [
      PORTCULLIS,
      "serve",
      ...options.paths,
      ...["--https-port", String(httpsPort), "--http-port", String(httpPort)],
      ...["--admin-port", String(adminPort), "--workers", String(options.workers ?? 2)],
      ...["--state-dir", options.stateDir, "--log-level", "warn"],
      ...(options.drainSeconds === undefined
        ? []
        : ["--drain-seconds", String(options.drainSeconds)]),
      ...(options.drainDelaySeconds === undefined
        ? []
        : ["--drain-delay-seconds", String(options.drainDelaySeconds)]),
      ...(options.defaultCertificate === undefined
        ? []
        : ["--default-certificate", options.defaultCertificate]),
    ];
    const child = spawn(NODE, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const exited = track(child);
    let output = "";
    const keep = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    };
    // Always read: the workers write their logs synchronously to this pipe and would block on a full one.
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const proxy: ProxyProcess = {
      httpsPort,
      adminPort,
      exited,
      output: () => output,
      terminate: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      },
      stop: (timeoutMs = 15_000) => stopChild(child, exited, "SIGTERM", timeoutMs),
    };
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !gone && !output.includes("EADDRINUSE")) {
      if ((await readyz(adminPort)) === 200) return proxy;
      await delay(100);
    }
    await proxy.stop(5000);
    lastError = new Error(`portcullis serve did not become ready:\n${output.slice(-4000)}`);
    if (!output.includes("EADDRINUSE")) break;
  }
  throw lastError ?? new Error("portcullis serve did not start");
}

/** Status of GET /readyz on the admin port; 0 when it does not answer. */
export function readyz(adminPort: number): Promise<number> {
  return adminGet(adminPort, "/readyz").then(
    (r) => r.status,
    () => 0,
  );
}

// --- Load --------------------------------------------------------------------------------------------

/** One answer, as the load generators see it. */
export interface Answer {
  status: number;
  body: string;
  /** Set-Cookie lines (HTTP/1.1 and HTTP/2 alike). */
  setCookie: readonly string[];
}

/** What a load run saw. */
export interface LoadResult {
  /** Requests whose outcome counted (a retried request counts once). */
  requests: number;
  /** Of those, failed: see the rule at the top of this file. */
  failed: number;
  /** Failures by reason. */
  failures: Map<string, number>;
  /** The first failures, with when they started and ended (ms since the run started). */
  firstFailures: { reason: string; startedMs: number; endedMs: number; lane: number }[];
  /** Requests sent a second time under the retry rule, by reason. */
  retried: Map<string, number>;
  /** When the first of them were retried (ms since the run started). */
  firstRetries: { reason: string; atMs: number; lane: number }[];
  /** HTTP/2 sessions opened, and how many of them received GOAWAY. */
  sessions: number;
  goaways: number;
  /** When the run started (ms since epoch): the origin of the times above. */
  startedAt: number;
  /** Run wall time, ms, and the achieved rate. */
  elapsedMs: number;
  perSecond: number;
  /** Answers by body (the backend's name). */
  bodies: Map<string, number>;
}

/** What a lane of a load run does with its requests. */
export interface LoadOptions {
  /** Where to connect (127.0.0.1). */
  port: number;
  /** Trust anchor (PEM). */
  ca: string;
  /** Concurrent requests (one per lane, each lane sequential). */
  lanes: number;
  /** Stop after this long… */
  durationMs: number;
  /** …or this many requests, whichever comes first (bounded in count and time). */
  maxRequests: number;
  /** Stops the run early when it returns true (checked before each request). */
  stop?: () => boolean;
  /** The request path of request `i` on `lane`. */
  path: (lane: number, i: number) => string;
  /** Pause of a lane between two requests, ms (a sparse client); default none (back to back). */
  pauseMs?: () => number;
  /** Extra request headers for a lane (a cookie jar); read before every request. */
  headers?: (lane: number) => Record<string, string>;
  /**
   * Judges an answer to a request sent at `sentAt` (ms since epoch): a failure reason, or undefined
   * when it is right. Default: 200 and a body naming an app backend ("app-…").
   */
  check?: (answer: Answer, lane: number, sentAt: number) => string | undefined;
}

/** Per-request deadline. */
const REQUEST_TIMEOUT_MS = 10_000;
const FIRST_FAILURES_KEPT = 100;

function defaultCheck(answer: Answer): string | undefined {
  if (answer.status !== 200) return `status ${answer.status}`;
  if (!answer.body.startsWith("app-")) return `body ${JSON.stringify(answer.body.slice(0, 40))}`;
  return undefined;
}

class Tally {
  readonly start = Date.now();
  requests = 0;
  failed = 0;
  readonly failures = new Map<string, number>();
  readonly firstFailures: LoadResult["firstFailures"] = [];
  readonly retried = new Map<string, number>();
  readonly firstRetries: LoadResult["firstRetries"] = [];
  readonly bodies = new Map<string, number>();
  sessions = 0;
  goaways = 0;

  now(): number {
    return Date.now() - this.start;
  }

  ok(body: string): void {
    this.requests++;
    this.bodies.set(body, (this.bodies.get(body) ?? 0) + 1);
  }

  fail(reason: string, startedMs: number, lane: number): void {
    this.requests++;
    this.failed++;
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    if (this.firstFailures.length < FIRST_FAILURES_KEPT) {
      this.firstFailures.push({ reason, startedMs, endedMs: this.now(), lane });
    }
  }

  retry(reason: string, lane: number): void {
    this.retried.set(reason, (this.retried.get(reason) ?? 0) + 1);
    if (this.firstRetries.length < FIRST_FAILURES_KEPT) {
      this.firstRetries.push({ reason, atMs: this.now(), lane });
    }
  }

  result(): LoadResult {
    const elapsedMs = this.now();
    return {
      requests: this.requests,
      failed: this.failed,
      failures: this.failures,
      firstFailures: this.firstFailures,
      retried: this.retried,
      firstRetries: this.firstRetries,
      sessions: this.sessions,
      goaways: this.goaways,
      startedAt: this.start,
      elapsedMs,
      perSecond: Math.round((this.requests * 1000) / Math.max(1, elapsedMs)),
      bodies: this.bodies,
    };
  }
}

function errorReason(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message ?? String(error);
}

/** The outcome of one attempt: an answer, or an error and whether the retry rule allows another. */
type Attempt = { answer: Answer } | { error: string; retry: boolean };

/** Network errors an HTTP/1.1 client sees when the server closed a reused connection under it. */
const CLOSED_UNDER_US = new Set(["ECONNRESET", "EPIPE", "socket hang up"]);

/** One HTTP/1.1 request over `agent`, or on a new connection of its own when `agent` is false. */
function http1Attempt(
  options: LoadOptions,
  agent: Agent | false,
  path: string,
  headers: Record<string, string>,
): Promise<Attempt> {
  return new Promise((resolve) => {
    let answered = false;
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: options.port,
        path,
        headers: { host: HOST, ...headers },
        ...(agent === false ? { agent, ca: options.ca, servername: HOST } : { agent }),
      },
      (res) => {
        answered = true;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => {
          clearTimeout(timer);
          const cookies = res.headers["set-cookie"] ?? [];
          resolve({ answer: { status: res.statusCode ?? 0, body, setCookie: cookies } });
        });
        res.on("error", (error) => {
          clearTimeout(timer);
          resolve({ error: `response: ${errorReason(error)}`, retry: false });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error("timeout")), REQUEST_TIMEOUT_MS);
    req.on("error", (error) => {
      clearTimeout(timer);
      const reason = errorReason(error);
      const retry = !answered && req.reusedSocket && CLOSED_UNDER_US.has(reason);
      resolve({ error: `${req.reusedSocket ? "reused" : "new"} connection: ${reason}`, retry });
    });
    req.end();
  });
}

/**
 * HTTP/1.1 load over one keep-alive agent (`lanes` connections at most), as a browser or an HTTP
 * client library holds them. Resolves when the duration, the count or `stop` says so.
 */
export async function runHttp1Load(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.lanes,
    ca: options.ca,
    servername: HOST,
  });
  const tally = new Tally();
  const check = options.check ?? defaultCheck;
  const end = Date.now() + options.durationMs;
  let issued = 0;
  const lane = async (index: number): Promise<void> => {
    while (Date.now() < end && issued < options.maxRequests && !options.stop?.()) {
      const i = issued++;
      const startedMs = tally.now();
      const headers = options.headers?.(index) ?? {};
      let attempt = await http1Attempt(options, agent, options.path(index, i), headers);
      if ("error" in attempt && attempt.retry) {
        // On a new connection: another pooled one may have been closed under us just the same.
        tally.retry(attempt.error, index);
        attempt = await http1Attempt(options, false, options.path(index, i), headers);
      }
      if ("error" in attempt) {
        tally.fail(attempt.error, startedMs, index);
        if (options.pauseMs) await delay(options.pauseMs());
        continue;
      }
      const wrong = check(attempt.answer, index, tally.start + startedMs);
      if (wrong === undefined) tally.ok(attempt.answer.body);
      else tally.fail(wrong, startedMs, index);
      if (options.pauseMs) await delay(options.pauseMs());
    }
  };
  try {
    await Promise.all(Array.from({ length: options.lanes }, (_, i) => lane(i)));
  } finally {
    agent.destroy();
  }
  return tally.result();
}

/** Options of runHttp2Load: `lanes` streams spread over `sessions` connections. */
export interface Http2LoadOptions extends LoadOptions {
  sessions: number;
}

/** Opens an HTTP/2 session to 127.0.0.1:`port` with SNI and :authority shop.example.com. */
export function openHttp2Session(port: number, ca: string): ClientHttp2Session {
  const session = http2Connect(`https://${HOST}:${port}`, {
    createConnection: () =>
      tlsConnect({ host: "127.0.0.1", port, servername: HOST, ca, ALPNProtocols: ["h2"] }),
  });
  // Errors reach the streams; an unobserved session error must not crash the test process.
  session.on("error", () => {});
  return session;
}

function http2Attempt(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
): Promise<Attempt> {
  return new Promise((resolve) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({ ":path": path, ":authority": HOST, ...headers });
    } catch (error) {
      // The session had already received GOAWAY or closed: nothing was sent.
      resolve({ error: `not sent: ${errorReason(error)}`, retry: true });
      return;
    }
    let status = 0;
    let setCookie: string[] = [];
    let body = "";
    const timer = setTimeout(() => stream.close(h2.NGHTTP2_CANCEL), REQUEST_TIMEOUT_MS);
    stream.on("response", (responseHeaders) => {
      status = Number(responseHeaders[":status"]);
      const cookies = responseHeaders["set-cookie"];
      setCookie = cookies === undefined ? [] : Array.isArray(cookies) ? cookies : [cookies];
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("error", () => {}); // 'close' below decides.
    stream.on("close", () => {
      clearTimeout(timer);
      if (stream.rstCode === h2.NGHTTP2_NO_ERROR && status !== 0) {
        resolve({ answer: { status, body, setCookie } });
        return;
      }
      if (stream.id === undefined) {
        // Never sent: the session had closed (GOAWAY) before the stream could be opened.
        resolve({ error: `not sent: rst ${stream.rstCode}`, retry: true });
        return;
      }
      const refused = stream.rstCode === h2.NGHTTP2_REFUSED_STREAM && status === 0;
      resolve({ error: `stream closed: rst ${stream.rstCode}, status ${status}`, retry: refused });
    });
    stream.end();
  });
}

/**
 * HTTP/2 load: `sessions` connections with `lanes` sequential stream lanes spread over them. A session
 * that received GOAWAY or closed is replaced by a new one for the lanes' next requests (as browsers do).
 */
export async function runHttp2Load(options: Http2LoadOptions): Promise<LoadResult> {
  const tally = new Tally();
  const check = options.check ?? defaultCheck;
  const slots: (ClientHttp2Session | undefined)[] = Array.from({ length: options.sessions });
  const opened = new Set<ClientHttp2Session>();
  const sessionFor = (slot: number): ClientHttp2Session => {
    const current = slots[slot];
    if (current && !current.closed && !current.destroyed) return current;
    const session = openHttp2Session(options.port, options.ca);
    session.once("goaway", () => {
      if (slots[slot] === session) slots[slot] = undefined;
      tally.goaways++;
    });
    session.once("close", () => {
      if (slots[slot] === session) slots[slot] = undefined;
      opened.delete(session);
    });
    opened.add(session);
    tally.sessions++;
    slots[slot] = session;
    return session;
  };
  const end = Date.now() + options.durationMs;
  let issued = 0;
  const lane = async (index: number): Promise<void> => {
    const slot = index % options.sessions;
    while (Date.now() < end && issued < options.maxRequests && !options.stop?.()) {
      const i = issued++;
      const startedMs = tally.now();
      const headers = options.headers?.(index) ?? {};
      let attempt = await http2Attempt(sessionFor(slot), options.path(index, i), headers);
      if ("error" in attempt && attempt.retry) {
        if (!attempt.error.startsWith("not sent")) tally.retry(attempt.error, index);
        attempt = await http2Attempt(sessionFor(slot), options.path(index, i), headers);
      }
      if ("error" in attempt) {
        tally.fail(attempt.error, startedMs, index);
        if (options.pauseMs) await delay(options.pauseMs());
        continue;
      }
      const wrong = check(attempt.answer, index, tally.start + startedMs);
      if (wrong === undefined) tally.ok(attempt.answer.body);
      else tally.fail(wrong, startedMs, index);
      if (options.pauseMs) await delay(options.pauseMs());
    }
  };
  try {
    await Promise.all(Array.from({ length: options.lanes }, (_, i) => lane(i)));
  } finally {
    // Destroyed, not closed: every lane is done, and a session left half-closed (GOAWAY received, the
    // socket still open) can keep Node spinning at exit.
    for (const session of opened) session.destroy();
  }
  return tally.result();
}

/** One line for diagnostics and the README. */
export function describeLoad(label: string, result: LoadResult): string {
  const failures = [...result.failures].map(([reason, n]) => `${n}× ${reason}`).join("; ");
  const retried = [...result.retried].map(([reason, n]) => `${n}× ${reason}`).join("; ");
  return (
    `${label}: ${result.requests} requests in ${(result.elapsedMs / 1000).toFixed(1)} s ` +
    `(${result.perSecond}/s), ${result.failed} failed${failures ? ` (${failures})` : ""}, ` +
    `${[...result.retried.values()].reduce((a, b) => a + b, 0)} retried${retried ? ` (${retried})` : ""}` +
    (result.sessions > 0 ? `, ${result.sessions} sessions, ${result.goaways} GOAWAY` : "")
  );
}

// --- The Service in front of a proxy fleet -------------------------------------------------------

/** A proxy as the forwarder sees it: an address and a readiness probe. */
export interface ForwarderTarget {
  /** A name for reports ("a1"). */
  readonly name: string;
  /** Its HTTPS port (where connections go) and admin port (where /readyz is polled). */
  readonly port: number;
  readonly adminPort: number;
}

/** A TCP round-robin forwarder over the ready targets (kube-proxy's part in a Service). */
export interface Forwarder {
  /** The Service's port on 127.0.0.1. */
  readonly port: number;
  /** Adds a target; it takes new connections once its /readyz said 200. */
  add(target: ForwarderTarget): void;
  /** Whether the forwarder currently counts `name` as ready. */
  isReady(name: string): boolean;
  /** New connections per target name, and connections refused because no target was ready. */
  readonly connections: Map<string, number>;
  readonly refused: () => number;
  close(): Promise<void>;
}

/**
 * Passes a reset on (RST), or just closes when the socket is still connecting or already half-closed:
 * there libuv refuses the reset (EINVAL) and Node then never closes the handle, which keeps the
 * process spinning at exit.
 */
function reset(socket: Socket): void {
  if (socket.connecting || socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** Readiness poll period: endpoints updates are that quick at best. */
const READINESS_POLL_MS = 100;

export async function startForwarder(): Promise<Forwarder> {
  const targets: { target: ForwarderTarget; ready: boolean }[] = [];
  const connections = new Map<string, number>();
  const open = new Set<Socket>();
  let refused = 0;
  let next = 0;
  let closed = false;

  const poll = async (): Promise<void> => {
    while (!closed) {
      await Promise.all(
        targets.map(async (entry) => {
          entry.ready = (await readyz(entry.target.adminPort)) === 200;
        }),
      );
      await delay(READINESS_POLL_MS);
    }
  };

  const server: Server = createServer({ noDelay: true }, (client) => {
    const ready = targets.filter((t) => t.ready);
    if (ready.length === 0) {
      refused++;
      client.destroy();
      return;
    }
    const entry = ready[next++ % ready.length] as (typeof ready)[number];
    connections.set(entry.target.name, (connections.get(entry.target.name) ?? 0) + 1);
    const upstream = connect({ host: "127.0.0.1", port: entry.target.port, noDelay: true });
    open.add(client);
    open.add(upstream);
    client.once("close", () => open.delete(client));
    upstream.once("close", () => open.delete(upstream));
    // Half-closes pass through (pipe ends the other side); a reset on one side resets the other.
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", () => reset(upstream));
    upstream.on("error", () => reset(client));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  void poll();
  return {
    port: (server.address() as AddressInfo).port,
    add(target) {
      targets.push({ target, ready: false });
    },
    isReady: (name) => targets.some((t) => t.target.name === name && t.ready),
    connections,
    refused: () => refused,
    async close() {
      closed = true;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `check` holds, polling every `intervalMs`; false after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(intervalMs);
  }
}
