// `npm run bench`: the data-plane benchmark. nginx, HAProxy and Portcullis terminate TLS with the same
// wildcard certificate for the same two backends, in the same run and the same layout (proxy on CPU 0,
// load generator and backends on CPU 1); every figure is reported for all three and as Portcullis ÷
// each peer. Method, pitfalls and how to read the figures: docs/benchmark.md.
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startBackends } from "./backends.ts";
import { KEY_TYPES, type KeyType, writeBenchSecrets } from "./certificates.ts";
import { FIGURES } from "./figures.ts";
import { ensureTools } from "./install.ts";
import { collectMachineInfo } from "./machine.ts";
import { type MeasureContext, type Measurement, PROXY_MEASUREMENTS } from "./measurements.ts";
import { measureCryptoCeiling } from "./openssl-speed.ts";
import { type BenchOptions, parseBenchOptions, reproduceCommand, USAGE } from "./options.ts";
import { BENCH_PATH, buildPortcullis } from "./portcullis.ts";
import { type ProbeResult, probeProxy } from "./probe.ts";
import { installCleanupHandlers, pinSelf, stopAll } from "./processes.ts";
import {
  PROXY_TITLES,
  type ProxyEnvironment,
  type ProxyKind,
  type RunningProxy,
  startProxy,
} from "./proxies.ts";
import { addSample, type BenchResults, buildReport, formatValue } from "./report.ts";
import { readTreeMemory } from "./sampling.ts";
import { runWrk, writeWrkScript } from "./wrk.ts";

/** The proxy under test runs here. */
const PROXY_CORE = 0;
/** Load generators, backends and this script run here. */
const LOAD_CORE = 1;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function timestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
}

/** A rough upper bound of the run time, seconds, for the watchdog. */
function budgetSeconds(options: BenchOptions, measurements: readonly Measurement[]): number {
  const perProxyRun = options.seconds + 25;
  const loads = measurements.length * options.proxies.length * options.reps * perProxyRun;
  const starts = options.reps * 2 * options.proxies.length * 60;
  const crypto = options.measurements.includes("crypto") ? options.cryptoSeconds * 8 + 60 : 0;
  return loads + starts + crypto + 300;
}

/** The proxies in the order a repetition runs them: rotated each repetition against order bias. */
function rotation(kinds: readonly ProxyKind[], rep: number): ProxyKind[] {
  const shift = rep % kinds.length;
  return [...kinds.slice(shift), ...kinds.slice(0, shift)];
}

function layout(options: BenchOptions): string[] {
  return [
    `Layout: CPU ${PROXY_CORE} runs the proxy under test (\`taskset -c ${PROXY_CORE}\`, inherited by its children): nginx = master + 1 worker (\`worker_processes 1\`), HAProxy = 1 process with 1 thread (\`nbthread 1\`), Portcullis = supervisor + 1 worker (\`portcullis proxy --workers 1\`, compiled to JavaScript as the image runs it). CPU time and RSS are summed over all of a proxy's processes. The three proxies are started together for a key type and measured one at a time; the idle ones wait on CPU ${PROXY_CORE}.`,
    `CPU ${LOAD_CORE} runs the load generators (wrk, h2load, the Node handshake client), this script, and the backends: one separate nginx (1 worker) answering \`200 "ok"\` on two ports — the fastest server at hand, not under test. The load core is shared, so the figures are those of one proxy core against one load core.`,
    `Every proxy: TLS 1.2 + 1.3, the same wildcard certificate (*.example.com), TLS 1.3 suites AES-128-GCM first by server preference, TLS 1.2 ECDHE + AEAD only, clients offering X25519/P-256/P-384/P-521 (so X25519 everywhere); forwarding plain HTTP/1.1 to both backends with upstream keep-alive. HAProxy: \`cookie SRV insert indirect nocache\`, \`http-reuse always\`; Portcullis: cookie affinity (LoadBalancerPolicy); nginx: round robin (OSS nginx has no sticky cookie). Clients send the stickiness cookie obtained first, so requests take the affinity path and no Set-Cookie is generated per request.`,
    `Loads: keep-alive HTTP/1.1 \`wrk -t1 -c${options.connections} --latency\`; HTTP/2 \`h2load -t1 -c${options.connections} -m${options.streams}\` (percentiles from its --log-file); handshakes: a Node client that opens ${options.handshakeConcurrency} connections at once, one request each (\`Connection: close\`), never offering a session (full) or offering the last one (resumed); fixed load \`h2load --h1 -c${options.connections} --rps ${Math.max(1, Math.round(options.fixedRate / options.connections))}\` per connection (${options.fixedRate} req/s); resumption ratio: ${options.alternations} connections alternating between two processes of the proxy sharing ticket keys, each offering the previous connection's session. Each proxy gets ${options.warmupSeconds} s of unmeasured keep-alive load after it starts. Portcullis's access log (always on) goes to /dev/null; nginx and HAProxy log nothing.`,
  ];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    log(`${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (availableParallelism() < 2) throw new Error("the benchmark needs at least 2 CPUs");
  installCleanupHandlers();
  ensureTools(options.install, log);
  pinSelf(LOAD_CORE);

  const started = new Date();
  const out = resolve(
    options.out ?? join(process.env.TMPDIR ?? tmpdir(), "portcullis-bench", timestamp(started)),
  );
  const work = join(out, "work");
  await mkdir(work, { recursive: true });
  log(`Results and working files: ${out}`);

  const measurements = PROXY_MEASUREMENTS.filter((m) => options.measurements.includes(m.name));
  const budget = budgetSeconds(options, measurements);
  const watchdog = setTimeout(() => {
    log(`The run exceeded its ${budget} s budget: stopping.`);
    void stopAll().finally(() => process.exit(124));
  }, budget * 1000);
  watchdog.unref();

  const results: BenchResults = {
    startedAt: started.toISOString(),
    command: reproduceCommand(argv),
    options,
    machine: collectMachineInfo(),
    layout: layout(options),
    proxies: options.proxies,
    samples: {},
    probes: {},
    crypto: undefined,
    runs: [],
    notes: [],
    durationSeconds: 0,
  };
  for (const line of results.layout) log(line);

  if (options.measurements.includes("crypto")) {
    log(`Crypto ceiling: openssl speed on CPU ${PROXY_CORE}…`);
    results.crypto = await measureCryptoCeiling(PROXY_CORE, options.cryptoSeconds);
  }

  if (measurements.length > 0 && options.proxies.includes("portcullis")) {
    log("Compiling Portcullis (npm run build) to run it as the image does…");
    await buildPortcullis();
  }
  if (measurements.length > 0) {
    const secrets = await writeBenchSecrets(join(work, "pki"));
    const backends = await startBackends(join(work, "backends"), LOAD_CORE);
    const wrkScript = await writeWrkScript(work);
    const env: ProxyEnvironment = {
      dir: work,
      core: PROXY_CORE,
      backendPorts: backends.ports,
      secrets,
    };
    try {
      for (let rep = 0; rep < options.reps; rep++) {
        for (const keyType of KEY_TYPES) {
          const forKey = measurements.filter((m) => m.keyType === keyType);
          if (forKey.length === 0) continue;
          await runSet(results, options, env, wrkScript, rep, keyType, forKey);
        }
      }
    } finally {
      await backends.process.stop();
    }
  }

  clearTimeout(watchdog);
  results.durationSeconds = (Date.now() - started.getTime()) / 1000;
  addNotes(results);
  const report = buildReport(results);
  await writeFile(join(out, "report.md"), report);
  await writeFile(join(out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${report}\n`);
  log(`Written: ${join(out, "report.md")} and ${join(out, "results.json")}`);
}

/** One repetition's proxies for one key type: start, probe, warm up, measure, read memory, stop. */
async function runSet(
  results: BenchResults,
  options: BenchOptions,
  env: ProxyEnvironment,
  wrkScript: string,
  rep: number,
  keyType: KeyType,
  measurements: readonly Measurement[],
): Promise<void> {
  const order = rotation(options.proxies, rep);
  const running = new Map<ProxyKind, { proxy: RunningProxy; probe: ProbeResult }>();
  try {
    for (const kind of order) {
      log(`[rep ${rep + 1}/${options.reps} ${keyType}] starting ${PROXY_TITLES[kind]}…`);
      const proxy = await startProxy(env, kind, keyType);
      const probe = await probeProxy(kind, proxy.port);
      running.set(kind, { proxy, probe });
      results.probes[kind] ??= {};
      (results.probes[kind] as Partial<Record<KeyType, ProbeResult>>)[keyType] ??= probe;
    }
    for (const kind of order) {
      const { proxy, probe } = running.get(kind) as { proxy: RunningProxy; probe: ProbeResult };
      await runWrk(
        {
          url: `https://shop.example.com:${proxy.port}${BENCH_PATH}`,
          script: wrkScript,
          connections: options.connections,
          seconds: options.warmupSeconds,
          headers: probe.cookie === undefined ? [] : [`Cookie: ${probe.cookie}`],
        },
        LOAD_CORE,
      );
    }
    for (const measurement of measurements) {
      for (const kind of order) {
        const { proxy, probe } = running.get(kind) as { proxy: RunningProxy; probe: ProbeResult };
        const ctx: MeasureContext = {
          settings: {
            seconds: options.seconds,
            connections: options.connections,
            streams: options.streams,
            handshakeConcurrency: options.handshakeConcurrency,
            fixedRate: options.fixedRate,
            alternations: options.alternations,
          },
          loadCore: LOAD_CORE,
          proxy,
          probe,
          wrkScript,
          scratchDir: env.dir,
          startTwin: async () => {
            const twin = await startProxy(env, kind, keyType);
            await probeProxy(kind, twin.port);
            return twin;
          },
          stopTwin: (twin) => twin.process.stop(),
        };
        let outcome: Awaited<ReturnType<Measurement["run"]>>;
        try {
          outcome = await measurement.run(ctx);
        } catch (error) {
          // One failed run must not throw away the others: it is reported, and its figures are missing.
          const message = error instanceof Error ? error.message : String(error);
          log(
            `[rep ${rep + 1}/${options.reps} ${keyType}] ${measurement.name} ${PROXY_TITLES[kind]} FAILED: ${message}`,
          );
          results.notes.push(
            `Repetition ${rep + 1}: ${measurement.name} on ${PROXY_TITLES[kind]} failed: ${message.split("\n")[0]}`,
          );
          continue;
        }
        for (const [id, value] of Object.entries(outcome.figures)) {
          addSample(results, id, kind, value);
        }
        results.runs.push({
          rep,
          keyType,
          measurement: measurement.name,
          proxy: kind,
          figures: outcome.figures,
          details: outcome.details,
        });
        log(
          `[rep ${rep + 1}/${options.reps} ${keyType}] ${measurement.name} ${PROXY_TITLES[kind]}: ${describe(outcome.figures)}`,
        );
      }
    }
    if (keyType === "ecdsa-p256") {
      for (const kind of order) {
        const { proxy } = running.get(kind) as { proxy: RunningProxy };
        const memory = await readTreeMemory(proxy.process.pid);
        addSample(results, "memory.peakRss", kind, memory.peakRssMiB);
        addSample(results, "memory.pss", kind, memory.pssMiB);
        results.runs.push({
          rep,
          keyType,
          measurement: "memory",
          proxy: kind,
          figures: { "memory.peakRss": memory.peakRssMiB, "memory.pss": memory.pssMiB },
          details: { ...memory, after: measurements.map((m) => m.name) },
        });
      }
    }
  } finally {
    await Promise.all([...running.values()].map(({ proxy }) => proxy.process.stop()));
  }
}

function describe(figures: Record<string, number>): string {
  return Object.entries(figures)
    .map(([id, value]) => {
      const unit = FIGURES.find((f) => f.id === id)?.unit ?? "req/s";
      return `${id.split(".").pop()} ${formatValue(value, unit)}${unit === "per CPU-s" || unit === "req/s" || unit === "conn/s" ? "" : ` ${unit}`}`;
    })
    .join(", ");
}

/** Warnings a reader needs to interpret this run's figures. */
function addNotes(results: BenchResults): void {
  for (const [kind, byKey] of Object.entries(results.probes)) {
    for (const [keyType, probe] of Object.entries(byKey ?? {})) {
      if (probe?.cookieHonoured === false) {
        results.notes.push(
          `${PROXY_TITLES[kind as ProxyKind]} (${keyType}) still set a cookie on a request carrying its stickiness cookie: its figures include cookie generation.`,
        );
      }
    }
  }
  const busyLoad = results.runs.filter((r) => {
    const busy = (r.details.coreBusy as Record<string, number> | undefined)?.[`cpu${LOAD_CORE}`];
    return r.measurement.startsWith("full") && busy !== undefined && busy > 0.9;
  });
  if (busyLoad.length > 0) {
    results.notes.push(
      `The load core was over 90 % busy in ${busyLoad.length} handshake run(s): the TLS client, not the proxy, set the raw handshakes/s there (an OpenSSL 3 client spends more CPU per handshake than the server). Compare proxies by handshakes per proxy CPU-second.`,
    );
  }
  for (const id of ["ratio.tls13", "ratio.tls12", "resumed.fraction"]) {
    for (const [kind, values] of Object.entries(results.samples[id] ?? {})) {
      if ((values ?? []).some((v) => v < 99)) {
        results.notes.push(
          `${PROXY_TITLES[kind as ProxyKind]}: ${id} below 99 % in some repetition (${(values ?? []).map((v) => v.toFixed(1)).join(", ")} %).`,
        );
      }
    }
  }
  const busyProxyCore = results.runs.filter((r) => {
    const busy = (r.details.coreBusy as Record<string, number> | undefined)?.[`cpu${PROXY_CORE}`];
    const own = r.details.proxyCpuSeconds as number | undefined;
    const wall = r.details.wallSeconds as number | undefined;
    return busy !== undefined && own !== undefined && wall ? busy - own / wall > 0.1 : false;
  });
  if (busyProxyCore.length > 0) {
    results.notes.push(
      `In ${busyProxyCore.length} run(s) something other than the proxy used over 10 % of CPU ${PROXY_CORE}: the machine was not quiet; see coreBusy in results.json.`,
    );
  }
}

main().then(
  async () => {
    await stopAll();
  },
  async (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await stopAll();
    process.exit(1);
  },
);
