// Every process the benchmark starts: pinned to one core with taskset, in its own process group (so a
// proxy's workers go with it), tracked, and stopped on every way out — normal end, an error, Ctrl-C or
// SIGTERM. Only groups started here are ever signalled, by their id.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running process (a proxy, the backends). */
export interface Started {
  /** What it is, for messages ("nginx proxy", "backends"). */
  readonly name: string;
  /** Its pid, which is also its process-group id. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when it has exited. */
  readonly exited: Promise<Exit>;
  /** The last 64 KiB of its stderr (and stdout when piped), for failure messages. */
  output(): string;
  /** SIGTERM to its group, then SIGKILL after `graceMs` (default 5 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of startPinned and runPinned. */
export interface PinnedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep stdout (runPinned always keeps it). Default: stdout goes to /dev/null. */
  keepStdout?: boolean;
}

const OUTPUT_LIMIT = 64 * 1024;
const running = new Set<Started>();

/** The taskset argv prefix that pins a command to `core`. */
export function pinnedArgv(core: number, command: string, args: readonly string[]): string[] {
  return ["-c", String(core), command, ...args];
}

/** Starts `command` pinned to `core`, in a new process group, and tracks it until it exits. */
export function startPinned(
  name: string,
  core: number,
  command: string,
  args: readonly string[],
  options: PinnedOptions = {},
): Started {
  const child = spawn("taskset", pinnedArgv(core, command, args), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", options.keepStdout ? "pipe" : "ignore", "pipe"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let output = "";
  const keep = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let leaderExited = false;
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      leaderExited = true;
      resolve({ code, signal });
    });
  });
  let stopping: Promise<void> | undefined;
  const started: Started = {
    name,
    pid,
    child,
    exited,
    output: () => output,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        signalGroup(pid, "SIGTERM");
        const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
        // Members of the group that outlive its leader (a worker that missed the signal) go too.
        signalGroup(pid, "SIGKILL");
        running.delete(started);
      })();
      return stopping;
    },
  };
  void exited.then(() => {
    if (leaderExited && stopping === undefined) running.delete(started);
  });
  running.add(started);
  return started;
}

/** What a finished command printed. */
export interface Finished extends Exit {
  stdout: string;
  stderr: string;
  /** Wall-clock run time, ms. */
  elapsedMs: number;
}

/**
 * Runs `command` pinned to `core` to completion and returns its output; killed (whole group) after
 * `timeoutMs`. A tracked process, so Ctrl-C stops it too.
 */
export async function runPinned(
  name: string,
  core: number,
  command: string,
  args: readonly string[],
  timeoutMs: number,
  options: PinnedOptions = {},
): Promise<Finished & { pid: number }> {
  const startedAt = performance.now();
  const child = spawn("taskset", pinnedArgv(core, command, args), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const tracked: Started = {
    name,
    pid,
    child,
    exited: once(child, "exit").then(([code, signal]) => ({ code, signal })),
    output: () => "",
    async stop() {
      signalGroup(pid, "SIGKILL");
    },
  };
  running.add(tracked);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
  const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), timeoutMs);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  running.delete(tracked);
  return {
    pid,
    code,
    signal,
    stdout: Buffer.concat(stdout).toString("utf8"),
    stderr: Buffer.concat(stderr).toString("utf8"),
    elapsedMs: performance.now() - startedAt,
  };
}

/** Runs `command` (not pinned, not tracked: quick queries like `nginx -v`): stdout then stderr. */
export function commandOutput(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`;
}

/** Signals a process group started here; a group already gone is fine. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group has exited.
  }
}

/** Stops every process still running (in parallel). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(3000)));
}

let handlersInstalled = false;

/**
 * Makes sure nothing started here outlives this process: on exit every group left is killed
 * synchronously; on SIGINT/SIGTERM they are stopped and this process exits (130/143).
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const p of running) signalGroup(p.pid, "SIGKILL");
  });
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every process the benchmark started…\n`);
      void stopAll().finally(() => process.exit(code));
    });
  }
}

/** Pins this process (every thread) to `core`, so its clients and timers stay off the proxy's core. */
export function pinSelf(core: number): void {
  execFileSync("taskset", ["-a", "-cp", String(core), String(process.pid)], { stdio: "ignore" });
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, who: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void who.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${who.name} exited before listening:\n${who.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${who.name} did not listen on ${port} within ${timeoutMs} ms:\n${who.output()}`);
}
