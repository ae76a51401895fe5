// h2load (nghttp2 1.52): keep-alive HTTP/2 load (closed loop, -c50 -m10), and HTTP/1.1 at a fixed
// request rate (`--h1 --rps N` per client). Its summary has no percentiles, only min/max/mean/sd, so
// latency percentiles come from its per-request `--log-file` (start µs, status, duration µs).
//
// `--rps` is a pacer, not a strict open loop: a request due while its connection is still busy
// waits, and that wait is not counted. At a moderate load with 50 connections this rarely happens;
// the achieved rate is reported so a shortfall shows.
import { readFile, rm } from "node:fs/promises";
import { HOST } from "./certificates.ts";
import { runPinned } from "./processes.ts";
import { percentile } from "./stats.ts";
import { CLIENT_GROUPS } from "./tls-policy.ts";

/** What h2load's summary reported. */
export interface H2loadSummary {
  /** The main duration's rate (warm-up excluded). */
  requestsPerSecond: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  /** Status classes. */
  status2xx: number;
  non2xx: number;
  /** "h2" or "http/1.1" (the negotiated application protocol line). */
  protocol: string | undefined;
}

/** Parses h2load's summary. Throws if the result lines are missing. */
export function parseH2loadOutput(text: string): H2loadSummary {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text);
  const requests =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!finished || !requests || !status) throw new Error(`unrecognised h2load output:\n${text}`);
  const protocol = /Application protocol: (\S+)/.exec(text);
  return {
    requestsPerSecond: Number(finished[1]),
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    timeout: Number(requests[7]),
    status2xx: Number(status[1]),
    non2xx: Number(status[2]) + Number(status[3]) + Number(status[4]),
    protocol: protocol?.[1],
  };
}

/** Latency percentiles of a `--log-file`. */
export interface H2loadLatency {
  /** Requests logged with a status (failed streams, status -1, are left out). */
  count: number;
  failed: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
}

/** Percentiles of an h2load `--log-file` text (pure). */
export function parseH2loadLog(text: string): H2loadLatency {
  const durations: number[] = [];
  let failed = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [, status, micros] = line.split("\t");
    if (status === undefined || micros === undefined) continue;
    if (status === "-1") {
      failed++;
      continue;
    }
    durations.push(Number(micros) / 1000);
  }
  const sorted = Float64Array.from(durations).sort();
  return {
    count: sorted.length,
    failed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** What one h2load run does. */
export interface H2loadRun {
  port: number;
  path: string;
  clients: number;
  /** Concurrent streams per connection (HTTP/2); 1 for HTTP/1.1. */
  streams: number;
  seconds: number;
  http1: boolean;
  /** Requests per second per client (fixed rate); undefined: as fast as possible. */
  rpsPerClient?: number | undefined;
  headers: readonly string[];
  logFile: string;
}

/** h2load's argv (pure). SNI and :authority are shop.example.com; it connects to 127.0.0.1. */
export function buildH2loadArgs(run: H2loadRun): string[] {
  return [
    "-t1",
    `-c${run.clients}`,
    `-m${run.streams}`,
    `-D${run.seconds}`,
    `--connect-to=127.0.0.1:${run.port}`,
    `--groups=${CLIENT_GROUPS}`,
    `--log-file=${run.logFile}`,
    ...(run.http1 ? ["--h1"] : []),
    ...(run.rpsPerClient === undefined ? [] : [`--rps=${run.rpsPerClient}`]),
    ...run.headers.flatMap((h) => ["-H", h]),
    `https://${HOST}:${run.port}${run.path}`,
  ];
}

/** Runs h2load pinned to `core`, then reads (and deletes) its log. */
export async function runH2load(
  run: H2loadRun,
  core: number,
): Promise<{ summary: H2loadSummary; latency: H2loadLatency }> {
  const finished = await runPinned(
    "h2load",
    core,
    "h2load",
    buildH2loadArgs(run),
    run.seconds * 1000 + 30_000,
  );
  if (finished.code !== 0) {
    throw new Error(`h2load failed (${finished.code ?? finished.signal}):\n${finished.stderr}`);
  }
  const summary = parseH2loadOutput(finished.stdout);
  const latency = parseH2loadLog(await readFile(run.logFile, "utf8"));
  await rm(run.logFile, { force: true });
  return { summary, latency };
}
