// wrk: keep-alive HTTP/1.1 load over TLS (closed loop, -t1 -c50), and its output parsed.
//
// wrk connects to the URL's host and sends it as SNI and Host; the URL names shop.example.com, which
// need not resolve here, so a small Lua script makes wrk connect to 127.0.0.1 instead (the request,
// SNI and Host stay shop.example.com; no request() function, so wrk keeps its static request).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runPinned } from "./processes.ts";
import { parseDurationMs } from "./units.ts";

/** What a wrk run reported. */
export interface WrkResult {
  requests: number;
  /** The run's own measured duration, seconds. */
  seconds: number;
  requestsPerSecond: number;
  /** Latency percentiles from `--latency`, milliseconds. */
  latencyMs: { p50: number; p75: number; p90: number; p99: number };
  /** Non-2xx/3xx answers. */
  non2xx: number;
  /** Socket errors: connect + read + write + timeout. */
  socketErrors: number;
}

/** Parses wrk 4's output (with `--latency`). Throws if a required line is missing. */
export function parseWrkOutput(text: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+\w+),/.exec(text);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!total || !rate) throw new Error(`unrecognised wrk output:\n${text}`);
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s+${p}%\\s+(\\S+)$`, "m").exec(text);
    if (!match) throw new Error(`wrk output has no ${p}% latency (run with --latency):\n${text}`);
    return parseDurationMs(match[1] as string);
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    seconds: parseDurationMs(total[2] as string) / 1000,
    requestsPerSecond: Number(rate[1]),
    latencyMs: {
      p50: percentile(50),
      p75: percentile(75),
      p90: percentile(90),
      p99: percentile(99),
    },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: errors ? errors.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** The Lua script that points wrk at 127.0.0.1 whatever the URL's host. */
export const WRK_RESOLVE_SCRIPT = `-- Connect to loopback; the URL's host stays the SNI and Host header.
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", service)
end
`;

/** Writes the resolve script into `dir`; returns its path. */
export async function writeWrkScript(dir: string): Promise<string> {
  const path = join(dir, "wrk-loopback.lua");
  await writeFile(path, WRK_RESOLVE_SCRIPT);
  return path;
}

/** What one wrk run does. */
export interface WrkRun {
  url: string;
  script: string;
  connections: number;
  seconds: number;
  headers: readonly string[];
}

/** wrk's argv (pure). */
export function buildWrkArgs(run: WrkRun): string[] {
  return [
    "-t1",
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    "--latency",
    "--timeout",
    "5s",
    "-s",
    run.script,
    ...run.headers.flatMap((h) => ["-H", h]),
    run.url,
  ];
}

/** Runs wrk pinned to `core`; returns its parsed result and pid-less timing. */
export async function runWrk(run: WrkRun, core: number): Promise<WrkResult> {
  const finished = await runPinned(
    "wrk",
    core,
    "wrk",
    buildWrkArgs(run),
    run.seconds * 1000 + 30_000,
  );
  if (finished.code !== 0) {
    throw new Error(`wrk failed (${finished.code ?? finished.signal}):\n${finished.stderr}`);
  }
  return parseWrkOutput(finished.stdout);
}
