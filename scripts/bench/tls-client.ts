// The handshake load generator, run as its own process on the load core: one HTTPS request per TLS
// connection (SNI and Host shop.example.com, `Connection: close`, the stickiness cookie), the next
// connection opened when the server has closed the last one.
//
// Why not the usual tools: `wrk -H 'Connection: close'` and h2load resume TLS sessions on reconnect,
// and `openssl s_time` (OpenSSL 3.0) cannot send SNI. Here resumption is explicit: mode "full" never
// offers a session (and counts any resumption, which must stay 0), mode "resumed" offers each loop's
// latest session, mode "alternate" connects to two proxy processes in turn, each time offering the
// session from the previous connection (made on the other process), and counts isSessionReused().
//
//   node tls-client.ts '<JSON Job>'   → prints one JSON ClientResult line
import { connect, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { HOST } from "./certificates.ts";
import { CLIENT_GROUPS } from "./tls-policy.ts";

/** What the client process is asked to do. */
export type Job =
  | {
      mode: "full" | "resumed";
      port: number;
      /** Run for this long, then let the open connections finish. */
      seconds: number;
      /** Connections in flight at once. */
      concurrency: number;
      path: string;
      cookie?: string | undefined;
      maxVersion: "TLSv1.2" | "TLSv1.3";
    }
  | {
      mode: "alternate";
      ports: [number, number];
      /** Connections in all, alternating A, B, A, … */
      connections: number;
      path: string;
      cookie?: string | undefined;
      maxVersion: "TLSv1.2" | "TLSv1.3";
    };

/** What the client process reports. */
export interface ClientResult {
  /** Connections that completed a request with a 200 answer. */
  ok: number;
  /** Of those, how many resumed a session. */
  resumed: number;
  /** Of those, how many offered a session (for "alternate": every connection after the first). */
  offered: number;
  /** Connections that failed (handshake error, timeout, not 200). */
  failed: number;
  /** First failure, for the log. */
  firstError?: string | undefined;
  /** Wall time from the first connect to the last close, seconds. */
  seconds: number;
  /** The negotiated protocol of the last good connection. */
  protocol?: string;
}

/** The raw request, one per connection (pure). */
export function buildRequest(path: string, cookie: string | undefined): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: portcullis-bench\r\nAccept: */*\r\n${
      cookie === undefined ? "" : `Cookie: ${cookie}\r\n`
    }Connection: close\r\n\r\n`,
  );
}

interface Outcome {
  ok: boolean;
  reused: boolean;
  session: Buffer | undefined;
  protocol: string | undefined;
  error?: string;
}

const CONNECTION_TIMEOUT_MS = 10_000;

/** One connection, one request, read until the server closes. */
function oneRequest(
  port: number,
  request: Buffer,
  maxVersion: "TLSv1.2" | "TLSv1.3",
  session: Buffer | undefined,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let latest: Buffer | undefined;
    let head = "";
    let settled = false;
    const socket: TLSSocket = connect({
      host: "127.0.0.1",
      port,
      servername: HOST,
      rejectUnauthorized: false,
      ecdhCurve: CLIENT_GROUPS,
      minVersion: "TLSv1.2",
      maxVersion,
      ALPNProtocols: ["http/1.1"],
      ...(session === undefined ? {} : { session }),
    });
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const ok = error === undefined && head.startsWith("HTTP/1.1 200");
      resolve({
        ok,
        reused: socket.isSessionReused(),
        session: latest,
        protocol: socket.getProtocol() ?? undefined,
        ...(ok ? {} : { error: error ?? `answer: ${head.slice(0, 80)}` }),
      });
      socket.destroy();
    };
    const timer = setTimeout(() => finish("timed out"), CONNECTION_TIMEOUT_MS);
    socket.on("session", (s: Buffer) => {
      latest = s;
    });
    socket.once("secureConnect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      if (head.length < 64) head += chunk.toString("latin1");
    });
    // The server closes after its answer (Connection: close): its TIME_WAIT, not ours, so the
    // client's ephemeral ports are not used up at thousands of connections per second.
    socket.once("end", () => finish());
    socket.once("error", (error) => finish(error.message));
    socket.once("close", () => finish("closed early"));
  });
}

function record(result: ClientResult, outcome: Outcome, offered: boolean): void {
  if (outcome.ok) {
    result.ok++;
    if (outcome.reused) result.resumed++;
    if (offered) result.offered++;
    if (outcome.protocol) result.protocol = outcome.protocol;
  } else {
    result.failed++;
    result.firstError ??= outcome.error;
  }
}

/** Runs a job in this process. */
export async function runJob(job: Job): Promise<ClientResult> {
  const request = buildRequest(job.path, job.cookie);
  const result: ClientResult = { ok: 0, resumed: 0, offered: 0, failed: 0, seconds: 0 };
  const started = performance.now();
  if (job.mode === "alternate") {
    let session: Buffer | undefined;
    for (let i = 0; i < job.connections; i++) {
      const port = job.ports[i % 2] as number;
      const outcome = await oneRequest(port, request, job.maxVersion, session);
      record(result, outcome, session !== undefined);
      session = outcome.session ?? session;
    }
  } else {
    const deadline = started + job.seconds * 1000;
    const loop = async (): Promise<void> => {
      let session: Buffer | undefined;
      while (performance.now() < deadline) {
        const offer = job.mode === "resumed" ? session : undefined;
        const outcome = await oneRequest(job.port, request, job.maxVersion, offer);
        record(result, outcome, offer !== undefined);
        if (outcome.session) session = outcome.session;
        // A failing server must not turn this into a busy loop.
        if (!outcome.ok) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, loop));
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(process.argv[2] ?? "{}") as Job;
  const result = await runJob(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
