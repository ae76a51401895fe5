// `portcullis config-sync` (cli/commands/config-sync.ts, operator/kube/config-sync.ts) as the proxy pod
// runs it, against a real kube-apiserver + etcd (test/support/cluster.ts): a child process watching one
// ConfigMap with the admin kubeconfig, writing its config.json into a file the test polls.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { computeConfigVersion, validateProxyConfig } from "../../proxy/config/validate.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";

const PORTCULLIS = fileURLToPath(new URL("../../bin/portcullis.ts", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../examples/two-backends-affinity", import.meta.url));
const NAMESPACE = "config-sync";
const CONFIG_MAP = "portcullis-proxy-config";
/** The design's budget for a config change to reach the proxy; config-sync should use a fraction. */
const TARGET_MS = 2000;

/** A compiled config with another sessionTicketRotationSeconds: still valid (version recomputed). */
function variant(base: string, seconds: number): string {
  const config = JSON.parse(base) as { listener: { sessionTicketRotationSeconds: number } };
  config.listener.sessionTicketRotationSeconds = seconds;
  const version = computeConfigVersion(
    config as unknown as Parameters<typeof computeConfigVersion>[0],
  );
  return `${JSON.stringify({ ...config, version }, null, 2)}\n`;
}

async function until(
  what: string | (() => string),
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const readOrUndefined = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch(() => undefined);

describe("portcullis config-sync against a real API server", { skip: clusterSkip }, () => {
  let cluster: TestCluster;
  let dir: string;
  let child: ChildProcess | undefined;
  let base: string;

  before(
    async () => {
      cluster = await startCluster();
      dir = await mkdtemp(join(tmpdir(), "portcullis-config-sync-"));
      const compiled = await promisify(execFile)(process.execPath, [
        PORTCULLIS,
        "compile",
        EXAMPLE,
      ]);
      base = compiled.stdout;
      assert.deepEqual(validateProxyConfig(JSON.parse(base)), []);
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );
  after(async () => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function applyConfigMap(content: string): Promise<void> {
    const manifest = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: CONFIG_MAP, namespace: NAMESPACE },
      data: { "config.json": content },
    };
    const result = await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(manifest) });
    assert.equal(result.code, 0, result.stderr);
  }

  test("writes the ConfigMap's config on start and on every valid change; keeps it on invalid ones and deletion; exits 0 on SIGTERM", async (t) => {
    const out = join(dir, "config", "config.json");
    const created = await cluster.kubectl(["create", "namespace", NAMESPACE]);
    assert.equal(created.code, 0, created.stderr);
    // Another ConfigMap in the namespace: the field selector keeps it out.
    const other = await cluster.kubectl([
      "-n",
      NAMESPACE,
      "create",
      "configmap",
      "unrelated",
      "--from-literal=config.json={}",
    ]);
    assert.equal(other.code, 0, other.stderr);
    await applyConfigMap(base);

    const started = Date.now();
    const proc = spawn(
      process.execPath,
      [
        PORTCULLIS,
        "config-sync",
        "--namespace",
        NAMESPACE,
        "--configmap",
        CONFIG_MAP,
        "--out",
        out,
        "--kubeconfig",
        cluster.kubeconfigPath,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    let logs = "";
    proc.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      logs += chunk;
    });
    proc.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      logs += chunk;
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      proc.on("exit", (code, signal) => resolve({ code, signal }));
    });
    const logged = (message: string): number =>
      logs.split("\n").filter((line) => line.includes(`"message":"${message}`)).length;

    await until(
      "the initial config file",
      async () => (await readOrUndefined(out)) === base,
      15_000,
    );
    t.diagnostic(`initial file written ${Date.now() - started} ms after the process was spawned`);
    assert.equal((await stat(out)).mode & 0o777, 0o600);

    // Valid changes: measured from the moment kubectl apply returned (the API server has the change).
    const delays: number[] = [];
    let current = base;
    for (const seconds of [3600, 7200, 10_800]) {
      const next = variant(base, seconds);
      assert.deepEqual(validateProxyConfig(JSON.parse(next)), []);
      const before = Date.now();
      await applyConfigMap(next);
      const applied = Date.now();
      await until(
        `the config with rotation ${seconds}`,
        async () => (await readOrUndefined(out)) === next,
      );
      const done = Date.now();
      delays.push(done - applied);
      t.diagnostic(
        `update ${seconds}: file updated ${done - applied} ms after kubectl apply returned (${done - before} ms including kubectl)`,
      );
      current = next;
    }
    assert.ok(Math.max(...delays) < TARGET_MS / 2, `delays ${delays.join(", ")} ms`);

    // Invalid configs: logged, not written.
    // The log line follows the write: wait for it, or it could arrive during the checks below.
    await until("the log of each write", async () => logged("Wrote proxy config") === 4);
    const { mtimeMs, ino } = await stat(out);
    const badVersion = current.replace(/"version": "[0-9a-f]+"/, `"version": "${"0".repeat(64)}"`);
    assert.notEqual(badVersion, current);
    for (const [i, invalid] of [badVersion, "{ not json", '{"schemaVersion":"nope"}'].entries()) {
      await applyConfigMap(invalid);
      await until(
        () => `invalid config ${i} to be rejected; logs:\n${logs}`,
        async () => logged("Rejected invalid proxy config") === i + 1,
      );
    }
    assert.equal(await readFile(out, "utf8"), current, "the last good config stays");
    assert.equal(logged("Wrote proxy config"), 4, "nothing more was written");

    // Deleted: the file stays.
    const deleted = await cluster.kubectl(["-n", NAMESPACE, "delete", "configmap", CONFIG_MAP]);
    assert.equal(deleted.code, 0, deleted.stderr);
    await until(
      "the deletion to be seen",
      async () => logged("ConfigMap was deleted; kept the file") === 1,
    );
    assert.equal(await readFile(out, "utf8"), current);
    const after = await stat(out);
    assert.deepEqual([after.mtimeMs, after.ino], [mtimeMs, ino], "the file was not touched");

    // Created again: written again.
    await applyConfigMap(base);
    await until(
      "the re-created ConfigMap's config",
      async () => (await readOrUndefined(out)) === base,
    );
    const errors = logs.split("\n").filter((line) => line.includes('"level":"error"'));
    assert.equal(errors.length, 3, "the only errors are the three rejections");

    const stopping = Date.now();
    proc.kill("SIGTERM");
    const exit = await exited;
    t.diagnostic(`exited ${Date.now() - stopping} ms after SIGTERM`);
    assert.deepEqual(exit, { code: 0, signal: null }, logs);
    assert.equal(logged("Stopped config-sync"), 1);
    const listed = logs.split("\n").find((line) => line.includes('"message":"Listed objects"'));
    assert.match(listed ?? "", /"count":1\b/, "the field selector lists only the one ConfigMap");
  });
});
