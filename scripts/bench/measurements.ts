// Each measurement against one running proxy: run the load on the load core while sampling the
// proxy's CPU, and turn what the tool and /proc say into the figures of figures.ts.
import { join } from "node:path";
import type { KeyType } from "./certificates.ts";
import type { MeasurementName } from "./figures.ts";
import { runH2load } from "./h2load.ts";
import { BENCH_PATH, NODE } from "./portcullis.ts";
import type { ProbeResult } from "./probe.ts";
import { runPinned } from "./processes.ts";
import type { RunningProxy } from "./proxies.ts";
import { type RunUsage, withUsage } from "./sampling.ts";
import type { ClientResult, Job } from "./tls-client.ts";
import { runWrk } from "./wrk.ts";

/** The knobs of a run (from the command line). */
export interface LoadSettings {
  seconds: number;
  /** Keep-alive connections (wrk -c, h2load -c). */
  connections: number;
  /** HTTP/2 streams per connection. */
  streams: number;
  /** Concurrent connections of the handshake client. */
  handshakeConcurrency: number;
  /** Fixed-load rate, requests per second in all. */
  fixedRate: number;
  /** Connections of each alternating resumption run. */
  alternations: number;
}

/** What a measurement needs besides the proxy. */
export interface MeasureContext {
  settings: LoadSettings;
  loadCore: number;
  proxy: RunningProxy;
  probe: ProbeResult;
  wrkScript: string;
  scratchDir: string;
  /** Starts a second process of the same kind, sharing the ticket keys (for resumption-ratio). */
  startTwin(): Promise<RunningProxy>;
  /** Stops such a twin. */
  stopTwin(twin: RunningProxy): Promise<void>;
}

/** One measurement's outcome: figures by id, and the details kept in the raw JSON. */
export interface MeasureOutcome {
  figures: Record<string, number>;
  details: Record<string, unknown>;
}

/** A measurement: which certificate it needs, and how to run it. */
export interface Measurement {
  name: Exclude<MeasurementName, "crypto">;
  keyType: KeyType;
  run(ctx: MeasureContext): Promise<MeasureOutcome>;
}

function cookieHeaders(probe: ProbeResult): string[] {
  return probe.cookie === undefined ? [] : [`Cookie: ${probe.cookie}`];
}

function usageDetails(usage: RunUsage): Record<string, unknown> {
  return {
    wallSeconds: round(usage.wallSeconds, 3),
    proxyCpuSeconds: round(usage.proxyCpuSeconds, 3),
    coreBusy: Object.fromEntries(
      Object.entries(usage.coreBusy).map(([cpu, busy]) => [cpu, round(busy, 3)]),
    ),
    proxyCpuByProcess: usage.byProcess,
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Runs the handshake client process on the load core. */
export async function runTlsClient(
  job: Job,
  core: number,
  timeoutMs: number,
): Promise<ClientResult> {
  const script = join(import.meta.dirname, "tls-client.ts");
  const finished = await runPinned(
    "tls client",
    core,
    NODE,
    [script, JSON.stringify(job)],
    timeoutMs,
  );
  if (finished.code !== 0) {
    throw new Error(`tls client failed (${finished.code ?? finished.signal}):\n${finished.stderr}`);
  }
  return JSON.parse(finished.stdout.trim().split("\n").pop() ?? "{}") as ClientResult;
}

const h1: Measurement = {
  name: "h1",
  keyType: "ecdsa-p256",
  async run(ctx) {
    const { result, usage } = await withUsage(ctx.proxy.process.pid, () =>
      runWrk(
        {
          url: `https://shop.example.com:${ctx.proxy.port}${BENCH_PATH}`,
          script: ctx.wrkScript,
          connections: ctx.settings.connections,
          seconds: ctx.settings.seconds,
          headers: cookieHeaders(ctx.probe),
        },
        ctx.loadCore,
      ),
    );
    return {
      figures: {
        "h1.rate": result.requestsPerSecond,
        "h1.p50": result.latencyMs.p50,
        "h1.p99": result.latencyMs.p99,
        "h1.cpuPerRequest": (usage.proxyCpuSeconds / result.requests) * 1e6,
      },
      details: { wrk: result, ...usageDetails(usage) },
    };
  },
};

const h2: Measurement = {
  name: "h2",
  keyType: "ecdsa-p256",
  async run(ctx) {
    const { result, usage } = await withUsage(ctx.proxy.process.pid, () =>
      runH2load(
        {
          port: ctx.proxy.port,
          path: BENCH_PATH,
          clients: ctx.settings.connections,
          streams: ctx.settings.streams,
          seconds: ctx.settings.seconds,
          http1: false,
          headers: cookieHeaders(ctx.probe),
          logFile: join(ctx.scratchDir, "h2load.log"),
        },
        ctx.loadCore,
      ),
    );
    if (result.summary.protocol !== "h2") {
      throw new Error(`h2load negotiated ${result.summary.protocol}, not h2`);
    }
    return {
      figures: {
        "h2.rate": result.summary.requestsPerSecond,
        "h2.p50": result.latency.p50,
        "h2.p99": result.latency.p99,
        "h2.cpuPerRequest": (usage.proxyCpuSeconds / Math.max(1, result.summary.done)) * 1e6,
      },
      details: { h2load: result, ...usageDetails(usage) },
    };
  },
};

function handshakes(
  name: "full-ecdsa" | "full-rsa" | "resumed",
  keyType: KeyType,
  mode: "full" | "resumed",
): Measurement {
  return {
    name,
    keyType,
    async run(ctx) {
      const job: Job = {
        mode,
        port: ctx.proxy.port,
        seconds: ctx.settings.seconds,
        concurrency: ctx.settings.handshakeConcurrency,
        path: BENCH_PATH,
        cookie: ctx.probe.cookie,
        maxVersion: "TLSv1.3",
      };
      const { result, usage } = await withUsage(ctx.proxy.process.pid, () =>
        runTlsClient(job, ctx.loadCore, ctx.settings.seconds * 1000 + 60_000),
      );
      if (result.ok === 0)
        throw new Error(`${name}: no connection succeeded: ${result.firstError}`);
      if (mode === "full" && result.resumed > 0) {
        throw new Error(
          `${name}: ${result.resumed} connections resumed; the client must not resume`,
        );
      }
      const figures: Record<string, number> = {
        [`${name}.rate`]: result.ok / result.seconds,
        [`${name}.cpuPerHandshake`]: (usage.proxyCpuSeconds / result.ok) * 1e6,
        [`${name}.perCpuSecond`]: result.ok / usage.proxyCpuSeconds,
        [`${name}.proxyBusy`]: (usage.proxyCpuSeconds / usage.wallSeconds) * 100,
      };
      if (mode === "resumed") {
        figures["resumed.fraction"] = (result.resumed / Math.max(1, result.offered)) * 100;
      }
      return { figures, details: { client: result, ...usageDetails(usage) } };
    },
  };
}

const resumptionRatio: Measurement = {
  name: "resumption-ratio",
  keyType: "ecdsa-p256",
  async run(ctx) {
    const twin = await ctx.startTwin();
    try {
      const figures: Record<string, number> = {};
      const details: Record<string, unknown> = { ports: [ctx.proxy.port, twin.port] };
      for (const [id, maxVersion] of [
        ["ratio.tls13", "TLSv1.3"],
        ["ratio.tls12", "TLSv1.2"],
      ] as const) {
        const result = await runTlsClient(
          {
            mode: "alternate",
            ports: [ctx.proxy.port, twin.port],
            connections: ctx.settings.alternations,
            path: BENCH_PATH,
            cookie: ctx.probe.cookie,
            maxVersion,
          },
          ctx.loadCore,
          120_000,
        );
        if (result.protocol !== maxVersion) {
          throw new Error(`resumption-ratio: negotiated ${result.protocol}, wanted ${maxVersion}`);
        }
        figures[id] = (result.resumed / Math.max(1, result.offered)) * 100;
        details[id] = result;
      }
      return { figures, details };
    } finally {
      await ctx.stopTwin(twin);
    }
  },
};

const fixedLoad: Measurement = {
  name: "fixed-load",
  keyType: "ecdsa-p256",
  async run(ctx) {
    const clients = ctx.settings.connections;
    const rpsPerClient = Math.max(1, Math.round(ctx.settings.fixedRate / clients));
    const { result, usage } = await withUsage(ctx.proxy.process.pid, () =>
      runH2load(
        {
          port: ctx.proxy.port,
          path: BENCH_PATH,
          clients,
          streams: 1,
          seconds: ctx.settings.seconds,
          http1: true,
          rpsPerClient,
          headers: cookieHeaders(ctx.probe),
          logFile: join(ctx.scratchDir, "h2load-fixed.log"),
        },
        ctx.loadCore,
      ),
    );
    return {
      figures: {
        "fixed.p50": result.latency.p50,
        "fixed.p99": result.latency.p99,
        "fixed.rate": result.summary.requestsPerSecond,
        // At a fixed rate each request tends to get an event-loop turn (or an nginx event cycle) of its
        // own, so this is higher than at saturation; it says how busy the proxy's core was, which is
        // what its tail latency follows.
        "fixed.cpuPerRequest": (usage.proxyCpuSeconds / Math.max(1, result.summary.done)) * 1e6,
      },
      details: { h2load: result, rpsPerClient, clients, ...usageDetails(usage) },
    };
  },
};

/** Every proxy measurement, in run order. */
export const PROXY_MEASUREMENTS: readonly Measurement[] = [
  h1,
  h2,
  handshakes("full-ecdsa", "ecdsa-p256", "full"),
  handshakes("resumed", "ecdsa-p256", "resumed"),
  resumptionRatio,
  fixedLoad,
  handshakes("full-rsa", "rsa-2048", "full"),
];
