// `npm start` (scripts/demo.ts) end to end: it runs to completion with --once, and the curl lines it
// prints work when pasted into a shell while it serves.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { delay, NODE, REPO, within } from "./support.ts";

const DEMO = join(REPO, "scripts", "demo.ts");
// .ci/run installs curl; a developer machine without it skips only the test that runs curl.
const hasCurl = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;
const DEMO_TIMEOUT_MS = 60_000;

const started: ChildProcess[] = [];

/** Kills a demo and everything it started (its own process group), if it is still running. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

after(() => {
  for (const child of started) killGroup(child);
});
process.on("exit", () => {
  for (const child of started) killGroup(child);
});

test("npm start --once: demonstrates termination, affinity, routing and the redirect, then exits 0", {
  timeout: DEMO_TIMEOUT_MS,
}, async () => {
  const { stdout } = await promisify(execFile)(NODE, [DEMO, "--once"], {
    cwd: REPO,
    timeout: DEMO_TIMEOUT_MS - 5000,
    killSignal: "SIGTERM",
  });
  assert.match(stdout, /curl --cacert \S+ --resolve shop\.example\.com:\d+:127\.0\.0\.1/);
  assert.match(stdout, /→ 200 /);
  assert.match(stdout, /app-1-[ab]/);
  assert.match(stdout, /app-2-[ab]/);
  assert.match(stdout, /308 Location: https:\/\/shop\.example\.com:\d+\//);
});

test("npm start prints curl lines that work while it serves", {
  skip: hasCurl ? false : "no curl here",
  timeout: DEMO_TIMEOUT_MS,
}, async () => {
  // Its own process group, so that a failed test can stop the demo, its serve and the workers at once.
  const child = spawn(NODE, [DEMO], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  started.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const deadline = Date.now() + 40_000;
  while (!stdout.includes("Press Ctrl-C") && Date.now() < deadline && child.exitCode === null) {
    await delay(100);
  }
  assert.ok(
    stdout.includes("Press Ctrl-C"),
    `the demo did not start serving:\n${stdout}\n${stderr}`,
  );

  // Every printed command line, in order (the cookie jar written by one is read by the next).
  const commands = stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.includes("curl "))
    .map((line) => (line.startsWith("for ") ? line : line.slice(line.indexOf("curl "))));
  assert.ok(commands.length >= 4, `too few curl lines:\n${stdout}`);
  const outputs: string[] = [];
  for (const command of commands) {
    const result = spawnSync("sh", ["-c", command], { encoding: "utf8", timeout: 15_000 });
    assert.equal(result.status, 0, `failed (${result.status}): ${command}\n${result.stderr}`);
    outputs.push(result.stdout);
    if (command.includes(" -b ")) {
      const answered = new Set(result.stdout.match(/app-\d-[a-z]\b/g));
      assert.equal(answered.size, 1, `with the cookie one backend answers: ${result.stdout}`);
    }
  }
  const all = outputs.join("\n");
  assert.match(all, /app-1-[ab]/);
  assert.match(all, /app-2-[ab]/);
  assert.match(all, /HTTP\/1\.1 308/);

  child.kill("SIGTERM");
  const code = await within(exited, 20_000);
  assert.equal(code, 0, "the demo stops cleanly on SIGTERM");
});
