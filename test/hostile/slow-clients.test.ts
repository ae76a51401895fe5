// Slowloris and slow bodies with a Node client (no tool needed): 1,000 TLS connections that trickle
// request headers, sit idle after the handshake, never start a handshake, or trickle a body, all open
// at once, while legitimate requests go on. Idle and header-trickling connections must be closed by
// the proxy within 15 s (headersTimeout 10 s, checked every second; handshakeTimeout 10 s), every
// legitimate request must succeed, and a slow body must not reach (or hold) a backend.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { get } from "../e2e/support.ts";
import { delay, HOST, type HostileFixture, startHostileFixture } from "./support.ts";

/** Soft limit on open files of this process (the proxy's worker inherits it). */
function openFileLimit(): number {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    return match?.[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(match?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const SLOW = { trickleHeaders: 700, idleAfterHandshake: 150, noHandshake: 50, slowBody: 100 };
const TOTAL = Object.values(SLOW).reduce((a, b) => a + b, 0);
/** Client sockets here plus server sockets in the worker, with room for the rest. */
const FILES_NEEDED = 2 * TOTAL + 500;
const limit = openFileLimit();
const skip =
  limit < FILES_NEEDED
    ? `needs ${FILES_NEEDED} open files per process, the soft limit is ${limit} (run \`ulimit -n 4096\` first)`
    : false;

let fixture: HostileFixture;
before(
  async () => {
    if (!skip) fixture = await startHostileFixture();
  },
  { timeout: 60_000 },
);
after(() => fixture?.close(), { timeout: 30_000 });

interface SlowConnection {
  kind: keyof typeof SLOW;
  socket: Socket;
  opened: number;
  /** When the proxy closed it (ms since the epoch), or undefined while open. */
  closedAt?: number;
  timer?: NodeJS.Timeout;
}

/** A TLS session to resume: a thousand full handshakes would take most of the headers timeout. */
async function fetchSession(port: number, ca: string): Promise<Buffer | undefined> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    servername: HOST,
    ca,
    ALPNProtocols: ["http/1.1"],
  });
  socket.on("error", () => {});
  const session = await new Promise<Buffer | undefined>((resolve) => {
    socket.once("session", resolve);
    setTimeout(() => resolve(undefined), 3000);
  });
  socket.destroy();
  return session;
}

function open(
  kind: keyof typeof SLOW,
  port: number,
  ca: string,
  session: Buffer | undefined,
): Promise<SlowConnection> {
  return new Promise((resolve, reject) => {
    const socket =
      kind === "noHandshake"
        ? netConnect({ host: "127.0.0.1", port })
        : tlsConnect({
            host: "127.0.0.1",
            port,
            servername: HOST,
            ca,
            ALPNProtocols: ["http/1.1"],
            ...(session ? { session } : {}),
          });
    const connection: SlowConnection = { kind, socket, opened: Date.now() };
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.once("close", () => {
      connection.closedAt ??= Date.now();
      clearInterval(connection.timer);
    });
    socket.once(kind === "noHandshake" ? "connect" : "secureConnect", () => {
      connection.opened = Date.now();
      if (kind === "trickleHeaders") {
        socket.write(`GET /slowloris HTTP/1.1\r\nHost: ${HOST}\r\n`);
        let n = 0;
        connection.timer = setInterval(() => socket.write(`X-Slow-${n++}: a\r\n`), 1000);
      } else if (kind === "slowBody") {
        socket.write(`POST /slow-body HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 10000\r\n\r\n`);
        connection.timer = setInterval(() => socket.write("x"), 1000);
      }
      resolve(connection);
    });
    socket.once("error", reject);
  });
}

test(`${TOTAL} slow connections: idle and header-trickling ones closed within 15 s, legitimate requests all succeed, slow bodies never reach a backend`, {
  skip,
  timeout: 60_000,
}, async (t) => {
  const { port, ca, main } = fixture;
  const session = await fetchSession(port, ca);
  const connections: SlowConnection[] = [];
  const started = Date.now();
  // Opened in batches of 100, each kind spread over the whole run.
  const kinds = Object.entries(SLOW).flatMap(([kind, count]) =>
    Array.from({ length: count }, () => kind as keyof typeof SLOW),
  );
  kinds.sort(() => Math.random() - 0.5);
  for (let i = 0; i < kinds.length; i += 100) {
    const batch = kinds.slice(i, i + 100).map((k) => open(k, port, ca, session));
    connections.push(...(await Promise.all(batch)));
  }
  const openedMs = Date.now() - started;
  t.diagnostic(
    `${connections.length} slow connections opened in ${openedMs} ms (TLS session resumed: ${connections.filter((c) => c.kind !== "noHandshake" && (c.socket as import("node:tls").TLSSocket).isSessionReused()).length})`,
  );

  // Legitimate traffic, a new TLS connection (full handshake) every 50 ms, until the last slow
  // connection the proxy should close is gone: first with all of them open, then while the proxy
  // is busy closing them.
  const results: { status: number; ms: number; open: number }[] = [];
  const deadline = started + openedMs + 16_000;
  while (
    Date.now() < deadline &&
    connections.some((c) => c.kind !== "slowBody" && c.closedAt === undefined)
  ) {
    const open = connections.filter((c) => c.closedAt === undefined).length;
    const sent = performance.now();
    const response = await get({ port, path: "/legit", ca, timeoutMs: 5000 }).catch(() => ({
      status: 0,
    }));
    results.push({ status: response.status, ms: performance.now() - sent, open });
    await delay(50);
  }

  const lifetimes = (kind: keyof typeof SLOW): number[] =>
    connections
      .filter((c) => c.kind === kind)
      .map((c) => (c.closedAt ?? Number.POSITIVE_INFINITY) - c.opened);
  const slowBodiesOpen = connections.filter(
    (c) => c.kind === "slowBody" && c.closedAt === undefined,
  ).length;
  for (const c of connections) {
    clearInterval(c.timer);
    c.socket.destroy();
  }
  await delay(200);

  const worst = (kind: keyof typeof SLOW): number => Math.max(...lifetimes(kind));
  const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
  t.diagnostic(
    `closed after at most: headers trickled ${worst("trickleHeaders")} ms, idle after handshake ${worst("idleAfterHandshake")} ms, no handshake ${worst("noHandshake")} ms`,
  );
  const allOpen = results.filter((r) => r.open === TOTAL).length;
  t.diagnostic(
    `legitimate requests: ${results.length} (${allOpen} with all ${TOTAL} slow connections open), failed ${results.filter((r) => r.status !== 200).length}, p50 ${Math.round(latencies[Math.floor(latencies.length / 2)] ?? 0)} ms, max ${Math.round(latencies.at(-1) ?? 0)} ms`,
  );
  assert.ok(
    allOpen >= 10,
    `only ${allOpen} legitimate requests ran with every slow connection open`,
  );
  assert.deepEqual(
    results.filter((r) => r.status !== 200),
    [],
    "every legitimate request succeeded",
  );
  assert.ok((latencies.at(-1) ?? 0) < 2000, "no legitimate request took 2 s");
  for (const kind of ["trickleHeaders", "idleAfterHandshake", "noHandshake"] as const) {
    assert.ok(worst(kind) <= 15_000, `${kind}: a connection lived ${worst(kind)} ms`);
  }
  // Slow bodies are bounded by the 120 s request timeout, not this one; they hold no backend.
  assert.equal(slowBodiesOpen, SLOW.slowBody, "slow bodies are still being received");
  assert.deepEqual(
    main.requests.filter((r) => r.url === "/slow-body" || r.url === "/slowloris").length,
    0,
    "no slow request reached the backend",
  );
});
