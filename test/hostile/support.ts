// Helpers for the hostile-client tests: a `portcullis serve` (the real command, over real TLS) in
// front of two backends that count every byte they receive, and raw bytes over TLS to it. Loopback
// only; every wait is bounded.
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { eventually } from "../../proxy/listener/testing/fixtures.ts";
import {
  createPki,
  generateKeys,
  get,
  HOST,
  ingressYaml,
  MANIFEST_FILES,
  NAMESPACE,
  type Pki,
  pollUntil,
  removeTree,
  type ServeProcess,
  startServe,
  TLS_SECRET_NAME,
  temporaryRoot,
  writeFileAtomically,
  writeManifests,
} from "../e2e/support.ts";
import { createCertificateAuthority, issueCertificate, type KeyType } from "../support/pki.ts";

export { HOST } from "../e2e/support.ts";

/** One request as a counting backend saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Body bytes received. */
  bodyBytes: number;
  /** Body received to its end. */
  complete: boolean;
  /** The response was finished, or the request's connection closed: nothing left open. */
  settled: boolean;
}

/** A backend that records every request head and counts every byte that reached it. */
export interface CountingBackend {
  readonly name: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  /** Bytes read from every connection it ever accepted (request heads, bodies, garbage alike). */
  bytesReceived(): number;
  /** Connections accepted so far. */
  connections(): number;
  /** Requests whose answer is neither finished nor abandoned (a delayed answer still pending). */
  open(): number;
  close(): Promise<void>;
}

/** Longest `?delay=MS` a request may ask the backend for. */
const MAX_DELAY_MS = 30_000;

/**
 * Starts a backend on 127.0.0.1:0. It answers 200 with its name once the body is read, after
 * `?delay=MS` if the query asks for it; `?echo=1` answers "LENGTH:CHECKSUM" of the body instead (to
 * compare bodies without keeping them); `?hop=1` adds hop-by-hop response headers (and one named in
 * Connection) that a proxy must not relay.
 */
export async function startCountingBackend(name: string): Promise<CountingBackend> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let closedBytes = 0;
  let accepted = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const seen: SeenRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: [...req.rawHeaders],
      bodyBytes: 0,
      complete: false,
      settled: false,
    };
    requests.push(seen);
    let sum = 0;
    req.on("data", (chunk: Buffer) => {
      seen.bodyBytes += chunk.length;
      for (const byte of chunk) sum = (sum + byte) % 1_000_000_007;
    });
    res.once("close", () => {
      seen.settled = true;
    });
    req.on("end", () => {
      seen.complete = true;
      const query = new URL(seen.url, "http://backend").searchParams;
      const delayMs = Math.min(MAX_DELAY_MS, Number(query.get("delay") ?? 0) || 0);
      const body = query.has("echo") ? `${seen.bodyBytes}:${sum}` : name;
      const answer = (): void => {
        if (res.destroyed) return;
        const hop = query.has("hop")
          ? {
              connection: "keep-alive, X-Internal",
              "x-internal": "backend secret",
              "keep-alive": "timeout=5",
              "proxy-authenticate": "Basic",
              trailer: "X-Checksum",
            }
          : {};
        res.writeHead(200, { "content-type": "text/plain", "x-backend": name, ...hop });
        res.end(body);
      };
      if (delayMs <= 0) answer();
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, delayMs);
        timers.add(timer);
      }
    });
  });
  server.on("connection", (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    socket.once("close", () => {
      closedBytes += socket.bytesRead;
      sockets.delete(socket);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    name,
    port: (server.address() as AddressInfo).port,
    requests,
    bytesReceived: () => [...sockets].reduce((sum, s) => sum + s.bytesRead, closedBytes),
    connections: () => accepted,
    open: () => requests.filter((r) => !r.settled).length,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A serve process with two counting backends: `/` goes to `main`, `/app-2` to `other`. */
export interface HostileFixture {
  readonly serve: ServeProcess;
  readonly pki: Pki;
  /** The CA certificate (PEM) clients trust. */
  readonly ca: string;
  readonly port: number;
  readonly main: CountingBackend;
  readonly other: CountingBackend;
  readonly backends: readonly CountingBackend[];
  readonly root: string;
  close(): Promise<void>;
}

/**
 * Starts two counting backends and `portcullis serve` (one worker process unless told otherwise:
 * the per-process figures are then the whole proxy's) with an Ingress for shop.example.com that
 * routes `/` to the first and `/app-2` to the second, and waits until both routes answer.
 */
export async function startHostileFixture(
  options: {
    /** Worker processes. Default 1. */
    workers?: number;
    /**
     * Serve the wildcard certificate to handshakes without SNI or with an unknown name (serve's
     * --default-certificate), for tools that connect to 127.0.0.1 without sending a server name.
     */
    defaultCertificate?: boolean;
    /** Key of the served wildcard certificate. Default ECDSA P-256. */
    keyType?: KeyType;
  } = {},
): Promise<HostileFixture> {
  const root = await temporaryRoot();
  const main = await startCountingBackend("main");
  const other = await startCountingBackend("other");
  const pki: Pki =
    options.keyType === "rsa-2048"
      ? await (async () => {
          const ca = await createCertificateAuthority();
          const leaf = await issueCertificate(ca, {
            dnsNames: ["*.example.com", "example.com"],
            keyType: "rsa-2048",
          });
          return { ca, leaf };
        })()
      : await createPki();
  const manifestsDir = join(root, "manifests");
  try {
    await writeManifests(manifestsDir, {
      app1: [main.port],
      app2: [other.port],
      certificate: pki.leaf,
      keys: generateKeys(),
    });
    await writeFileAtomically(
      join(manifestsDir, MANIFEST_FILES.ingress),
      ingressYaml([
        { path: "/", service: "app-1" },
        { path: "/app-2", service: "app-2" },
      ]),
    );
    const serve = await startServe({
      // startServe passes its paths to `serve` as they are, so an option can ride along with them.
      paths: options.defaultCertificate
        ? [manifestsDir, "--default-certificate", `${NAMESPACE}/${TLS_SECRET_NAME}`]
        : [manifestsDir],
      stateDir: join(root, "state"),
      workers: options.workers ?? 1,
    });
    const ca = pki.ca.certificatePem;
    const ready = await pollUntil(async () => {
      const a = await get({ port: serve.httpsPort, path: "/ready", ca }).catch(() => undefined);
      const b = await get({ port: serve.httpsPort, path: "/app-2/ready", ca }).catch(
        () => undefined,
      );
      return a?.body === "main" && b?.body === "other" ? true : undefined;
    }, 20_000);
    if (!ready)
      throw new Error(`serve did not route / and /app-2:\n${serve.output().slice(-2000)}`);
    return {
      serve,
      pki,
      ca,
      port: serve.httpsPort,
      main,
      other,
      backends: [main, other],
      root,
      async close() {
        await serve.stop();
        await Promise.all([main.close(), other.close()]);
        await removeTree(root);
      },
    };
  } catch (error) {
    await Promise.all([main.close(), other.close()]);
    await removeTree(root);
    throw error;
  }
}

/** What the backends of `fixture` received since this call: requests and bytes. */
export function mark(fixture: HostileFixture): () => { requests: string[]; bytes: number } {
  const counts = fixture.backends.map((b) => b.requests.length);
  const bytes = fixture.backends.map((b) => b.bytesReceived());
  return () => ({
    requests: fixture.backends.flatMap((b, i) =>
      b.requests.slice(counts[i]).map((r) => `${b.name}: ${r.method} ${r.url}`),
    ),
    bytes: fixture.backends.reduce((sum, b, i) => sum + b.bytesReceived() - (bytes[i] ?? 0), 0),
  });
}

/** What a raw exchange saw. */
export interface RawAnswer {
  /** Every byte the server sent, as latin1. */
  text: string;
  /** Status codes of every response head in `text`, in order. */
  statuses: number[];
  /** Whether the server closed the connection (FIN or reset) before our deadline. */
  closed: boolean;
  /** Milliseconds from the first byte written to the close (or the deadline). */
  elapsedMs: number;
}

/** Options of rawTls. */
export interface RawTlsOptions {
  /** Trust anchor (PEM). */
  ca: string;
  /** ALPN offer. Default ["http/1.1"]. */
  alpn?: string[];
  /** Give up (and report closed: false) after this long. Default 5 s. */
  timeoutMs?: number;
  /** Pause between two chunks, ms. Default 0 (one write each, in order). */
  gapMs?: number;
}

/** Opens a TLS connection to 127.0.0.1:`port` (SNI shop.example.com) and resolves once it is up. */
export async function openTls(
  port: number,
  ca: string,
  alpn: string[] = ["http/1.1"],
): Promise<TLSSocket> {
  const socket = connect({
    host: "127.0.0.1",
    port,
    servername: HOST,
    ca,
    ALPNProtocols: alpn,
  });
  socket.setTimeout(10_000, () => socket.destroy(new Error("TLS connect timed out")));
  await once(socket, "secureConnect");
  socket.setTimeout(0);
  return socket;
}

/**
 * Writes `chunks` (each one TLS write) on a fresh connection and reads until the server closes or
 * `timeoutMs` passes. Never rejects on a reset: a reset is a close.
 */
export async function rawTls(
  port: number,
  chunks: string | Buffer | readonly (string | Buffer)[],
  options: RawTlsOptions,
): Promise<RawAnswer> {
  const socket = await openTls(port, options.ca, options.alpn);
  const received: Buffer[] = [];
  let closed = false;
  let gaveUp = false;
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  socket.on("error", () => {});
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    // A half-close (FIN) from the server counts: Node ends the connection after its 400.
    const onClose = (): void => {
      closed = !gaveUp;
      resolve();
    };
    socket.once("close", onClose);
    socket.once("end", onClose);
  });
  const timer = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, options.timeoutMs ?? 5000);
  const list = typeof chunks === "string" || Buffer.isBuffer(chunks) ? [chunks] : chunks;
  for (const [index, chunk] of list.entries()) {
    if (socket.destroyed) break;
    if (index > 0 && options.gapMs) await delay(options.gapMs);
    socket.write(chunk);
  }
  await done;
  clearTimeout(timer);
  const elapsedMs = performance.now() - started;
  socket.destroy();
  const text = Buffer.concat(received).toString("latin1");
  return { text, statuses: statusesOf(text), closed, elapsedMs };
}

/** Status codes of every "HTTP/1.x NNN" response line in `text`. */
export function statusesOf(text: string): number[] {
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident set size of process `pid`, bytes (Linux /proc). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * CPU time of process `pid` in nanoseconds, every thread included (the main thread, libuv's pool,
 * V8's helpers): the first field of each /proc/PID/task/TID/schedstat (Linux, nanosecond precision).
 */
export async function cpuNsOf(pid: number): Promise<number> {
  let total = 0;
  for (const task of await readdir(`/proc/${pid}/task`)) {
    try {
      total += Number(
        (await readFile(`/proc/${pid}/task/${task}/schedstat`, "utf8")).split(" ")[0],
      );
    } catch {
      // The thread exited meanwhile.
    }
  }
  return total;
}

// --- HTTP/2 frames, for attacks a client library will not send ---------------------------------------

/** HTTP/2 frame types used here. */
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** One frame: 9-byte header, then the payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with a 7-bit prefix (RFC 7541 §5.1), as string lengths use. */
export function hpackLength(length: number): Buffer {
  if (length < 127) return Buffer.from([length]);
  const bytes = [127];
  let rest = length - 127;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** An HPACK block of literal fields without indexing, new names, no Huffman coding. */
export function hpackBlock(headers: readonly [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(Buffer.from([0]), hpackLength(n.length), n, hpackLength(v.length), v);
  }
  return Buffer.concat(parts);
}

/** The client connection preface with an empty SETTINGS frame. */
export const H2_PREFACE = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  h2Frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)),
]);

/** A raw HTTP/2 connection over TLS (ALPN h2) that tallies the frames the server sends. */
export interface RawH2 {
  readonly socket: TLSSocket;
  /** Frames received, by type. */
  readonly received: Map<number, number>;
  /** The server's GOAWAY, if one came: last stream id and error code. */
  goaway: { lastStreamId: number; errorCode: number } | undefined;
  /** Whether the connection has closed. */
  closed: boolean;
  /** Writes, waiting for 'drain' when the socket's buffer is full; false once closed. */
  write(bytes: Buffer): Promise<boolean>;
  /**
   * Writes one DATA frame once the connection's flow-control window has room for it (RFC 9113
   * §6.9: the server's WINDOW_UPDATEs on stream 0 open it), as a compliant client must. A client that
   * sends past the window gets FLOW_CONTROL_ERROR from Node 26 at once; Node 24 happened to re-credit
   * the window before the excess was read. False once closed, or after `timeoutMs` without room.
   */
  writeData(streamId: number, flags: number, payload: Buffer, timeoutMs?: number): Promise<boolean>;
}

/** HTTP/2's initial connection flow-control window (RFC 9113 §6.9.2). */
const INITIAL_CONNECTION_WINDOW = 65_535;

export async function openRawH2(port: number, ca: string): Promise<RawH2> {
  const socket = await openTls(port, ca, ["h2"]);
  if (socket.alpnProtocol !== "h2") throw new Error(`ALPN chose ${socket.alpnProtocol}`);
  let buffer: Buffer = Buffer.alloc(0);
  let sendWindow = INITIAL_CONNECTION_WINDOW;
  const connection: RawH2 = {
    socket,
    received: new Map(),
    goaway: undefined,
    closed: false,
    async write(bytes) {
      if (connection.closed) return false;
      if (!socket.write(bytes)) {
        await new Promise<void>((resolve) => {
          socket.once("drain", resolve);
          socket.once("close", resolve);
        });
      }
      return !connection.closed;
    },
    async writeData(streamId, flags, payload, timeoutMs = 5000) {
      const room = await eventually(
        () => connection.closed || sendWindow >= payload.length,
        timeoutMs,
      );
      if (!room || connection.closed) return false;
      sendWindow -= payload.length;
      return connection.write(h2Frame(FRAME.DATA, flags, streamId, payload));
    },
  };
  socket.on("error", () => {});
  socket.once("close", () => {
    connection.closed = true;
  });
  socket.on("data", (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (buffer.length >= 9) {
      const length = buffer.readUIntBE(0, 3);
      if (buffer.length < 9 + length) break;
      const type = buffer[3] as number;
      connection.received.set(type, (connection.received.get(type) ?? 0) + 1);
      if (type === FRAME.WINDOW_UPDATE && length === 4 && buffer.readUInt32BE(5) === 0) {
        sendWindow += buffer.readUInt32BE(9) & 0x7fffffff;
      }
      if (type === FRAME.GOAWAY && length >= 8) {
        connection.goaway = {
          lastStreamId: buffer.readUInt32BE(9) & 0x7fffffff,
          errorCode: buffer.readUInt32BE(13),
        };
      }
      // Acknowledge the server's SETTINGS, as a client must.
      if (type === FRAME.SETTINGS && ((buffer[4] ?? 0) & 1) === 0) {
        socket.write(h2Frame(FRAME.SETTINGS, 1, 0, Buffer.alloc(0)));
      }
      buffer = buffer.subarray(9 + length);
    }
  });
  socket.write(H2_PREFACE);
  return connection;
}
