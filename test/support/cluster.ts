// A real Kubernetes API server (etcd + kube-apiserver, see test/cluster/README.md) for node:test
// suites. One cluster per test file: start it in `before`, stop it in `after`.
//
//   describe("…", { skip: clusterSkip }, () => {
//     let cluster: TestCluster;
//     before(async () => { cluster = await startCluster(); }, { timeout: CLUSTER_START_TIMEOUT_MS });
//     after(() => cluster?.stop());
//   });
//
// The first start on a machine builds the binaries (about 12 minutes on 2 cores); the build's
// progress is printed to stderr as it happens. Later starts take about 5 s.
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CLUSTER_SH = fileURLToPath(new URL("../cluster/cluster.sh", import.meta.url));

/**
 * How long `before` may wait for startCluster: a first build takes about 12 minutes on a 2-core
 * machine, so this allows 30; a warm start takes about 5 s.
 */
export const CLUSTER_START_TIMEOUT_MS = 30 * 60_000;

/**
 * The reason to skip cluster suites, or false to run them: pass it as the suite's `skip` option.
 * PORTCULLIS_SKIP_CLUSTER=1 skips them on a developer machine; in CI (CI set) it is ignored, so
 * the integration suite always runs there.
 */
export const clusterSkip: string | false = skipReason(process.env);

function skipReason(env: NodeJS.ProcessEnv): string | false {
  if (env.PORTCULLIS_SKIP_CLUSTER !== "1") return false;
  if (env.CI !== undefined && env.CI !== "" && env.CI !== "false") {
    process.stderr.write(
      "[cluster] PORTCULLIS_SKIP_CLUSTER=1 is ignored in CI: the integration suite must run there\n",
    );
    return false;
  }
  return "PORTCULLIS_SKIP_CLUSTER=1: needs a real API server (test/cluster/cluster.sh); unset it to run";
}

/** What a finished command printed. */
export interface CommandResult {
  /** Exit status; 0 is success. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of TestCluster.kubectl. */
export interface KubectlOptions {
  /** Written to kubectl's stdin (for `-f -`). Default: no input. */
  input?: string;
  /** Kubeconfig context: "admin" (default, system:masters) or "portcullis-test" (no rights). */
  context?: "admin" | "portcullis-test";
  /** Milliseconds before kubectl is killed and the call rejects. Default 60 000. */
  timeoutMs?: number;
}

/** A running API server and the ways to talk to it. */
export interface TestCluster {
  /** Kubeconfig with contexts admin (current) and portcullis-test; TLS is verified. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port>. */
  apiserverUrl: string;
  /** Bearer token of the admin user (group system:masters). */
  adminToken: string;
  /** Path of the kubectl binary built for the cluster's version. */
  kubectlPath: string;
  /**
   * Runs kubectl with this cluster's --kubeconfig (and a discovery cache of its own); resolves
   * with its exit status, whatever it is.
   */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<CommandResult>;
  /** Path of the helm binary built with the cluster's binaries (test/cluster/build.sh). */
  helmPath: string;
  /**
   * Runs helm with this cluster's --kubeconfig (admin), its cache, config and data kept in the
   * cluster's directory; resolves with its exit status, whatever it is.
   */
  helm(
    args: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<CommandResult>;
  /** Stops kube-apiserver alone (etcd keeps the data): clients see connections refused. */
  stopApiServer(): Promise<void>;
  /** Starts it again on the same port with the same flags; resolves once it is ready. */
  startApiServer(): Promise<void>;
  /** Stops etcd and kube-apiserver and deletes the cluster's directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a fresh cluster in a new temporary directory (building the binaries on first use).
 * Rejects with cluster.sh's output if it cannot start; nothing is left running then.
 */
export async function startCluster(): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-cluster-"));
  // kubectl (ours and cluster.sh's) keeps its discovery cache in the cluster's directory rather
  // than adding a directory per random port to ~/.kube/cache.
  const kubeEnv = { ...process.env, KUBECACHEDIR: join(dir, "kube-cache") };
  // Stop the processes even if the test process exits, or is interrupted, without running `after`.
  // The signal listeners stay until the cleanup is done: the test runner follows a SIGINT with a
  // SIGTERM, which would otherwise kill this process halfway through.
  let cleaning = false;
  const stopOnExit = (): void => {
    spawnSync(CLUSTER_SH, ["down", dir], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    if (cleaning) return;
    cleaning = true;
    stopOnExit();
    forget();
    process.kill(process.pid, signal);
  };
  const forget = (): void => {
    process.removeListener("exit", stopOnExit);
    process.removeListener("SIGINT", stopOnSignal);
    process.removeListener("SIGTERM", stopOnSignal);
  };
  process.on("exit", stopOnExit);
  process.on("SIGINT", stopOnSignal);
  process.on("SIGTERM", stopOnSignal);

  const stop = async (): Promise<void> => {
    const down = await run(CLUSTER_SH, ["down", dir], { timeoutMs: 60_000 });
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    forget(); // only now: should the process exit halfway, the exit handler finishes the job
    if (down.code !== 0) throw new Error(`cluster.sh down failed:\n${down.stderr}`);
  };

  process.stderr.write(`[cluster] starting an API server in ${dir}\n`);
  const up = await run(CLUSTER_SH, ["up", dir], {
    env: kubeEnv,
    timeoutMs: CLUSTER_START_TIMEOUT_MS - 60_000, // fail here, with cluster.sh's output, before the hook times out
    forwardStderr: true,
  }).catch((error: unknown) => ({ code: -1, stdout: "", stderr: String(error) }));
  if (up.code !== 0) {
    await stop().catch(() => {});
    throw new Error(`cluster.sh up failed (exit ${up.code}):\n${up.stderr}`);
  }

  const env = parseEnv(await readFile(join(dir, "env"), "utf8"));
  const kubeconfigPath = need(env, "KUBECONFIG");
  const kubectlPath = need(env, "KUBECTL");
  const adminToken = (await readFile(need(env, "ADMIN_TOKEN_FILE"), "utf8")).trim();
  const helmPath = need(env, "HELM");
  const helmEnv = {
    ...kubeEnv,
    HELM_CACHE_HOME: join(dir, "helm", "cache"),
    HELM_CONFIG_HOME: join(dir, "helm", "config"),
    HELM_DATA_HOME: join(dir, "helm", "data"),
  };

  let stopped: Promise<void> | undefined;
  return {
    kubeconfigPath,
    apiserverUrl: need(env, "APISERVER_URL"),
    adminToken,
    kubectlPath,
    kubectl(args, options = {}) {
      const context = options.context === undefined ? [] : ["--context", options.context];
      return run(kubectlPath, ["--kubeconfig", kubeconfigPath, ...context, ...args], {
        env: kubeEnv,
        timeoutMs: options.timeoutMs ?? 60_000,
        ...(options.input === undefined ? {} : { input: options.input }),
      });
    },
    helmPath,
    helm(args, options = {}) {
      return run(helmPath, ["--kubeconfig", kubeconfigPath, ...args], {
        env: helmEnv,
        timeoutMs: options.timeoutMs ?? 120_000,
        ...(options.input === undefined ? {} : { input: options.input }),
      });
    },
    async stopApiServer() {
      const result = await run(CLUSTER_SH, ["apiserver-stop", dir], { timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`cluster.sh apiserver-stop failed:\n${result.stderr}`);
    },
    async startApiServer() {
      const result = await run(CLUSTER_SH, ["apiserver-start", dir], {
        env: kubeEnv,
        timeoutMs: 180_000,
      });
      if (result.code !== 0)
        throw new Error(`cluster.sh apiserver-start failed:\n${result.stderr}`);
    },
    stop() {
      stopped ??= stop();
      return stopped;
    },
  };
}

/** KEY=VALUE lines, as cluster.sh writes DIR/env. */
function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

function need(env: Map<string, string>, key: string): string {
  const value = env.get(key);
  if (value === undefined || value === "") throw new Error(`cluster env has no ${key}`);
  return value;
}

interface RunOptions {
  input?: string;
  /** The child's environment. Default: ours. */
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Also copy the child's stderr to ours as it arrives (build progress). */
  forwardStderr?: boolean;
}

/**
 * Runs a program to completion. Resolves with its exit status and output; rejects only when it
 * cannot be started, is killed by the timeout, or dies from a signal.
 */
function run(file: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
      timeout: options.timeoutMs,
      killSignal: "SIGTERM",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      if (options.forwardStderr === true) process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== null) {
        resolve({ code, stdout, stderr });
        return;
      }
      const why = child.killed ? `timed out after ${options.timeoutMs} ms` : `died from ${signal}`;
      reject(new Error(`${file} ${args.join(" ")} ${why}\n${stderr}`));
    });
    child.stdin.on("error", () => {}); // a child that exits without reading its input
    child.stdin.end(options.input ?? "");
  });
}
