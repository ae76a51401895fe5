// Slowloris with Debian's slowhttptest (apt-get install slowhttptest): 1,000 connections that send
// headers one line a second. Its probe connection must find the service available throughout, every
// slow connection must be closed by the proxy within 15 s of being opened, and legitimate requests
// sent meanwhile must all succeed. (slow-clients.test.ts does the same, and slow bodies, with a Node
// client and no tool.)
//
// slowhttptest connects to an address and sends no SNI, so the proxy serves its default certificate
// here; its requests say "Host: 127.0.0.1:PORT", a host with no route. That is why its slow-body mode
// (-B) is not run: the proxy answers such a request 404 at once and closes, before any body, which
// says nothing about slow bodies; slow-clients.test.ts covers them on a routed host.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { get } from "../e2e/support.ts";
import { delay, type HostileFixture, startHostileFixture } from "./support.ts";

function installed(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function openFileLimit(): number {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(
      execFileSync("cat", ["/proc/self/limits"], { encoding: "utf8" }),
    );
    return match?.[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(match?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const CONNECTIONS = 1000;
const present = installed("slowhttptest");
// In CI the tool is installed (.ci/run); a missing tool there is a failure, not a skip.
if (!present && process.env.CI)
  throw new Error("slowhttptest is not installed (apt-get install slowhttptest)");
const skip = !present
  ? "slowhttptest is not installed (apt-get install slowhttptest)"
  : openFileLimit() < 2 * CONNECTIONS + 500
    ? `needs ${2 * CONNECTIONS + 500} open files per process (run \`ulimit -n 4096\` first)`
    : false;

let fixture: HostileFixture;
let workDir: string;
before(
  async () => {
    if (skip) return;
    workDir = await mkdtemp(join(tmpdir(), "portcullis-slowhttptest-"));
    fixture = await startHostileFixture({ defaultCertificate: true });
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await fixture?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  },
  { timeout: 30_000 },
);

test(`slowhttptest -H: ${CONNECTIONS} slowloris connections, each closed within 15 s; the service stays available`, {
  skip,
  timeout: 60_000,
}, async (t) => {
  const { port, ca } = fixture;
  const prefix = join(workDir, "slowloris");
  const run = new Promise<string>((resolve, reject) => {
    execFile(
      "slowhttptest",
      // -H slowloris; -c connections; -r per second; -i s between header lines; -x line length;
      // -l test length, s; -p probe timeout, s; -g -o CSV report.
      [
        "-H",
        "-c",
        String(CONNECTIONS),
        "-r",
        "250",
        "-i",
        "1",
        "-x",
        "10",
        "-l",
        "30",
        "-p",
        "3",
      ].concat(["-u", `https://127.0.0.1:${port}/`, "-g", "-o", prefix]),
      { timeout: 50_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
  });
  let finished = false;
  void run.finally(() => {
    finished = true;
  });
  const legit: number[] = [];
  while (!finished) {
    legit.push(
      (await get({ port, path: "/legit", ca, timeoutMs: 5000 }).catch(() => ({ status: 0 })))
        .status,
    );
    await delay(200);
  }
  const stdout = await run;
  const rows = (await readFile(`${prefix}.csv`, "utf8"))
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(",").map(Number))
    .map(([seconds = 0, closed = 0, pending = 0, connected = 0, available = 0]) => ({
      seconds,
      closed,
      pending,
      connected,
      available,
    }));
  const peak = Math.max(...rows.map((r) => r.connected));
  const allOpened = rows.find((r) => r.closed + r.connected >= CONNECTIONS)?.seconds ?? Number.NaN;
  const last = rows.at(-1);
  t.diagnostic(
    `slowhttptest: peak ${peak} connected, all ${CONNECTIONS} opened by second ${allOpened}, first closed at second ${rows.find((r) => r.closed > 1)?.seconds}, test ended at second ${last?.seconds}; legitimate requests meanwhile: ${legit.length}, failed ${legit.filter((s) => s !== 200).length}`,
  );
  assert.match(stdout, /No open connections left/, "every slow connection was closed by the proxy");
  assert.ok(peak >= CONNECTIONS * 0.95, `only ${peak} connections were open at once`);
  assert.ok(
    rows.every((r) => r.available > 0),
    "slowhttptest's probe found the service available at every second",
  );
  // Opened over `allOpened` seconds; each lives at most 15 s, so all are gone 15 s after the last.
  assert.ok((last?.seconds ?? Infinity) <= allOpened + 15, `still open at second ${last?.seconds}`);
  assert.ok(legit.length >= 20);
  assert.deepEqual(
    legit.filter((s) => s !== 200),
    [],
    "every legitimate request succeeded",
  );
});
