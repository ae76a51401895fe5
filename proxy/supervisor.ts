// The proxy's main process: starts one worker process per core (each listens on the shared ports with
// SO_REUSEPORT, so the kernel spreads connections and no process relays sockets), restarts workers that
// die, serves the admin port (aggregating metrics across workers), and on SIGTERM flips readiness,
// drains the workers and exits before its deadline.
import { type ChildProcess, fork } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHealthState } from "./admin/health.ts";
import { startAdminServer } from "./admin/server.ts";
import type { ConfigSource } from "./config/types.ts";
import {
  AFFINITY_SECRET_FILE,
  generateSharedKeys,
  loadSharedKeys,
  TICKET_SECRET_FILE,
} from "./keys.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { createPrometheusMetrics } from "./observability/metrics.ts";
import { fetchAggregatedMetrics } from "./observability/worker-metrics.ts";
import type { WorkerMessage, WorkerOptions } from "./worker-protocol.ts";

/** Everything `portcullis proxy` (and `serve`) configures. */
export interface ProxyOptions {
  /** The ProxyConfig JSON file; re-read when it changes. */
  configPath: string;
  /**
   * A config to serve until `configPath` holds a valid one (in a pod: the ConfigMap volume, while the
   * config-sync sidecar has not written its first copy yet).
   */
  initialConfigPath?: string | undefined;
  /** Directory with the shared ticket and affinity secrets; undefined generates per-process-group keys. */
  keysDir: string | undefined;
  /** Address to bind the traffic ports (0.0.0.0 in a pod). */
  bindAddress: string;
  httpsPort: number;
  httpPort: number;
  adminPort: number;
  /** Address of the admin port; default the bind address. */
  adminAddress?: string;
  /** Worker processes; default one per core. */
  workers: number;
  /** Seconds to wait after readiness turns false before draining (lets load balancers notice). */
  drainDelaySeconds: number;
  /** Seconds from SIGTERM until the process exits, whatever is still open. */
  drainSeconds: number;
  /** Peers whose X-Forwarded-* headers are trusted (CIDRs). */
  trustedProxies: string[];
  logLevel: "error" | "warn" | "info" | "debug";
}

export const DEFAULT_PROXY_OPTIONS: Omit<ProxyOptions, "configPath" | "keysDir"> = {
  bindAddress: "0.0.0.0",
  httpsPort: 8443,
  httpPort: 8080,
  adminPort: 9901,
  workers: availableParallelism(),
  drainDelaySeconds: 0,
  drainSeconds: 25,
  trustedProxies: [],
  logLevel: "info",
};

/** The worker entry beside this file: worker.ts from the sources, worker.js from dist/. */
const WORKER_ENTRY = fileURLToPath(
  new URL(`./worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url),
);
/**
 * V8's young generation for workers, in MiB per semi-space. Set explicitly (V8's default maximum, which
 * V8 versions have changed) because it decides how much garbage collection a request costs: with
 * HTTP/2's many streams in flight, more of each request's objects are still alive at a scavenge when
 * the semi-spaces are small. Measured (November 2026): garbage-collection pauses per request 36 → 21 µs
 * under HTTP/2 (h2load -c50 -m10) and 7.9 → 2.2 µs under HTTP/1.1 from 4 MiB to 16 MiB; paired runs
 * (scripts/bench/paired-cpu.sh, both builds saturated on one core) 9–15 % less CPU per HTTP/2 request,
 * about 3 % per HTTP/1.1 request, none at a moderate fixed rate. The price is resident memory: the
 * worker's peak 121 → 139 MiB under HTTP/1.1 load, 203 → 231 MiB under HTTP/2. (4 MiB was chosen
 * earlier for memory, when CPU differences under 15 % could not be measured here.)
 */
export const WORKER_SEMI_SPACE_MIB = 16;

/** The worker's Node flags: the supervisor's, plus the young-generation size unless one was set. */
export function workerExecArgv(parentExecArgv: readonly string[], nodeOptions = ""): string[] {
  const set = [...parentExecArgv, nodeOptions].some((flag) =>
    /--max[-_]semi[-_]space[-_]size/.test(flag),
  );
  return set
    ? [...parentExecArgv]
    : [...parentExecArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

/** First and largest wait before restarting a worker that died. */
const RESTART_BACKOFF_MS = [500, 30_000] as const;

interface WorkerSlot {
  index: number;
  child: ChildProcess | undefined;
  ready: boolean;
  version: string | null;
  restarts: number;
}

/** A running proxy: resolves `done` when it has exited its drain. */
export interface RunningProxy {
  adminPort: number;
  /** Starts the drain (as SIGTERM does). */
  stop(): Promise<void>;
  done: Promise<void>;
}

export async function runProxy(
  options: ProxyOptions,
  logger: Logger = createLogger({ level: options.logLevel, component: "supervisor" }),
): Promise<RunningProxy> {
  const health = createHealthState();
  const metrics = createPrometheusMetrics();
  const keysDir = await resolveKeysDir(options.keysDir, logger);
  const slots: WorkerSlot[] = Array.from({ length: Math.max(1, options.workers) }, (_, index) => ({
    index,
    child: undefined,
    ready: false,
    version: null,
    restarts: 0,
  }));
  let draining = false;
  let applied: { version: string; appliedAt: string; sources: ConfigSource[] } | null = null;

  const workerOptions: WorkerOptions = { ...options, keysDir: keysDir.path };
  const allReady = (): boolean => slots.every((s) => s.ready);

  const start = (slot: WorkerSlot): void => {
    const child = fork(WORKER_ENTRY, [], {
      execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    slot.child = child;
    slot.ready = false;
    child.on("message", (message: WorkerMessage) => {
      if (message.type === "ready") {
        slot.ready = true;
        slot.restarts = 0;
        if (allReady()) health.configApplied();
      } else if (message.type === "applied") {
        slot.version = message.version;
        applied = {
          version: message.version,
          appliedAt: new Date().toISOString(),
          sources: message.sources,
        };
      }
    });
    child.on("exit", (code, signal) => {
      slot.ready = false;
      if (draining) return;
      const wait = Math.min(RESTART_BACKOFF_MS[1], RESTART_BACKOFF_MS[0] * 2 ** slot.restarts);
      slot.restarts += 1;
      logger.error("Restarting proxy worker that exited", {
        worker: slot.index,
        code,
        signal: signal ?? null,
        waitMs: wait,
      });
      setTimeout(() => {
        if (!draining) start(slot);
      }, wait).unref();
    });
    child.send({
      type: "start",
      options: workerOptions,
      index: slot.index,
    } satisfies WorkerMessage);
  };

  const admin = await startAdminServer({
    port: options.adminPort,
    host: options.adminAddress ?? options.bindAddress,
    health: { live: () => true, ready: () => health.ready() && allReady() },
    metrics: () =>
      fetchAggregatedMetrics(
        slots.flatMap((s) => (s.child ? [s.child] : [])),
        [metrics.registry],
      ),
    config: () => ({
      version: applied?.version ?? null,
      appliedAt: applied?.appliedAt ?? null,
      sources: applied?.sources ?? [],
    }),
    logger,
  });
  for (const slot of slots) start(slot);
  logger.info("Started proxy supervisor", { workers: slots.length, adminPort: admin.port });

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const stop = async (): Promise<void> => {
    if (draining) return done;
    draining = true;
    health.startDraining();
    logger.info("Draining proxy", {
      drainDelaySeconds: options.drainDelaySeconds,
      drainSeconds: options.drainSeconds,
    });
    // During the delay the workers still accept (load balancers may not have noticed /readyz yet),
    // but already tell their clients to go elsewhere, so that few connections are left idle to close
    // when accepting stops: closing an idle keep-alive connection races with its client's next request.
    for (const slot of slots) {
      if (slot.child?.connected)
        slot.child.send({ type: "announce-drain" } satisfies WorkerMessage);
    }
    await delay(options.drainDelaySeconds * 1000);
    const deadline =
      Date.now() + Math.max(1, options.drainSeconds - options.drainDelaySeconds) * 1000;
    const exits = slots.flatMap((slot) => {
      const child = slot.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return [];
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      if (child.connected) child.send({ type: "drain", deadline } satisfies WorkerMessage);
      return [exited];
    });
    const timer = setTimeout(
      () => {
        for (const slot of slots) slot.child?.kill("SIGKILL");
      },
      Math.max(0, deadline - Date.now()) + 1000,
    );
    await Promise.all(exits);
    clearTimeout(timer);
    await admin.close();
    await keysDir.cleanup();
    logger.info("Stopped proxy");
    resolveDone();
    return done;
  };
  return { adminPort: admin.port, stop, done };
}

/** The keys directory workers read, generating one (private to this process group) when none is given. */
async function resolveKeysDir(
  keysDir: string | undefined,
  logger: Logger,
): Promise<{ path: string; cleanup(): Promise<void> }> {
  if (keysDir && (await loadSharedKeys(keysDir))) return { path: keysDir, cleanup: async () => {} };
  const generated = generateSharedKeys();
  const dir = await mkdtemp(join(tmpdir(), "portcullis-keys-"));
  await writeFile(join(dir, TICKET_SECRET_FILE), generated.ticketSecret.reveal(), { mode: 0o600 });
  await writeFile(
    join(dir, AFFINITY_SECRET_FILE),
    generated.affinityKeys[0]?.reveal() ?? Buffer.alloc(0),
    {
      mode: 0o600,
    },
  );
  logger.warn(
    "Generated session-ticket and affinity keys: other proxy replicas will not resume these TLS sessions or honour these cookies; mount a shared keys Secret to share them",
    { directory: keysDir ?? null },
  );
  return { path: dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
