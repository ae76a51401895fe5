// The image's entry points, without a Docker engine: the Dockerfile's stages are replayed on disk
// (the build context .dockerignore lets through, the build stage's `npm run build`, the dependencies
// stage's very `npm ci --omit=dev` line) into the runtime layout /app = {package.json,
// node_modules, dist}, and every command runs from there the way the image runs it: `node
// /app/dist/bin/portcullis.js ARGS` in /app, with the image's ENV. As root (CI), they run as UID/GID
// 10001 with nothing writable to them but the volumes a pod would mount, and the long-running
// commands run as PID 1 of their own PID namespace, which is where Kubernetes' SIGTERM lands.
//
// A PID 1 ignores a signal it installed no handler for: a SIGTERM that arrives while node is still
// loading the CLI (before the command registered its handler, about a second) is dropped, and the
// kubelet ends such a container with SIGKILL after the grace period. So each test signals only once
// the command shows it is up (ready, listening, or logging), as a running pod would be.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, test } from "node:test";
import ts from "typescript";
import {
  adminGet,
  createPki,
  delay,
  freePort,
  generateKeys,
  get,
  issueWildcard,
  NODE,
  startBackends,
  writeManifests,
} from "../e2e/support.ts";
import {
  DOCKERFILE,
  type Instruction,
  listBuildContext,
  parseDockerfile,
  REPO,
} from "./support.ts";

const IMAGE_UID = 10001;
const TIMEOUT = { timeout: 240_000 };
const instructions = parseDockerfile(await readFile(DOCKERFILE, "utf8"));
const packageJson = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The RUN line of the stage named `stage` that matches `pattern`, as argv. */
function runLine(stage: string, pattern: RegExp): string[] {
  const index = instructions.findIndex(
    (i) => i.keyword === "FROM" && i.args.endsWith(` AS ${stage}`),
  );
  const run = instructions.find(
    (i: Instruction) =>
      i.stage === instructions[index]?.stage && i.keyword === "RUN" && pattern.test(i.args),
  );
  assert.ok(run, `a RUN ${pattern} in stage ${stage}`);
  assert.doesNotMatch(run.args, /[;&|]/, "one plain command, replayable as argv");
  return run.args.split(/\s+/);
}

/** The runtime stage's ENV, which the commands below run with. */
const imageEnv: Record<string, string> = Object.fromEntries(
  instructions
    .filter((i) => i.keyword === "ENV" && i.stage === Math.max(...instructions.map((j) => j.stage)))
    .map((i) => i.args.split("=", 2) as [string, string]),
);

/** Environment for npm itself: the caller's, without what an enclosing `npm test` exported. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith("npm_")),
  );
}

function runChecked(argv: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, env: npmEnv(), stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv.join(" ")} exited ${code}:\n${output}`)),
    );
  });
}

// --- The layout ------------------------------------------------------------------------------------

let root = "";
/** /app of the image. */
let app = "";
/** $TMPDIR of the commands: must stay empty (the pods' root filesystem is read-only). */
let tmp = "";
/** How commands run: as the image's UID, and as PID 1 for the long-running ones, when root. */
let asImageUser = false;
let asPid1 = false;
/** The layout as made, to compare with at the end. */
let appSnapshot: string[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), "portcullis-image-"));
  await chmod(root, 0o755);
  const src = join(root, "src");
  const deps = join(root, "deps");
  app = join(root, "app");
  tmp = join(root, "tmp");
  await Promise.all([mkdir(deps), mkdir(app), mkdir(tmp)]);

  // Build stage: the build context, the repository's own node_modules (the same lockfile with the
  // devDependencies: reinstalling them would only cost time), then the Dockerfile's build command.
  for (const file of listBuildContext()) {
    await cp(join(REPO, file), join(src, file));
  }
  await symlink(join(REPO, "node_modules"), join(src, "node_modules"), "dir");
  const build = runChecked(runLine("build", /^npm run build$/), src);
  // Dependencies stage: its exact `npm ci` line in a fresh directory (from npm's cache when it
  // holds the packages, as it does after the repository's own install).
  await cp(join(REPO, "package.json"), join(deps, "package.json"));
  await cp(join(REPO, "package-lock.json"), join(deps, "package-lock.json"));
  const install = runChecked([...runLine("dependencies", /^npm ci /), "--prefer-offline"], deps);
  await Promise.all([build, install]);

  // Runtime stage: COPY node_modules, dist and package.json, owned by the builder (root in the
  // image), readable by all, writable by none but the owner.
  await cp(join(deps, "node_modules"), join(app, "node_modules"), { recursive: true });
  await cp(join(src, "dist"), join(app, "dist"), { recursive: true });
  await cp(join(REPO, "package.json"), join(app, "package.json"));
  await rm(src, { recursive: true, force: true });
  appSnapshot = await snapshot(app);

  const root0 = process.getuid?.() === 0;
  asImageUser =
    root0 &&
    spawnSync(NODE, ["--version"], { uid: IMAGE_UID, gid: IMAGE_UID, stdio: "ignore" }).status ===
      0;
  asPid1 =
    asImageUser &&
    spawnSync("unshare", ["--pid", "--fork", "--kill-child", "setpriv", "--reuid=0", "true"], {
      stdio: "ignore",
    }).status === 0;
}, TIMEOUT);

after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** Environment of the image's processes: its ENV, HOME / (UID 10001 has no passwd entry). */
function env(): NodeJS.ProcessEnv {
  return { PATH: `${dirname(NODE)}:/usr/bin:/bin`, HOME: "/", TMPDIR: tmp, ...imageEnv };
}

/** argv of `docker run IMAGE args...`: ENTRYPOINT plus args, with node from the project. */
function entrypoint(args: readonly string[]): string[] {
  return [NODE, join(app, "dist", "bin", "portcullis.js"), ...args];
}

/** Runs `docker run IMAGE args...` to completion. */
function runOnce(
  args: readonly string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const [command, ...rest] = entrypoint(args);
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, rest, {
      cwd: app,
      env: env(),
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
      ...(asImageUser ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Starts a long-running command; as PID 1 of a new PID namespace when possible. */
async function startLongRunning(args: readonly string[]): Promise<{
  child: ChildProcess;
  /** The node process, to signal (unshare's child when it is PID 1). */
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL, for cleanup. */
  kill(): void;
}> {
  const argv = asPid1
    ? [
        "unshare",
        "--pid",
        "--fork",
        "--kill-child",
        "setpriv",
        `--reuid=${IMAGE_UID}`,
        `--regid=${IMAGE_UID}`,
        "--clear-groups",
        ...entrypoint(args),
      ]
    : entrypoint(args);
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: app,
    env: env(),
    stdio: ["ignore", "pipe", "pipe"],
    ...(asImageUser && !asPid1 ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let pid = child.pid as number;
  if (asPid1) {
    // unshare forks node into the new namespace: find that child, and check it is PID 1 there.
    for (let i = 0; i < 100; i++) {
      const found = await childOf(pid);
      if (
        found !== undefined &&
        (await readFile(`/proc/${found}/cmdline`, "utf8")).includes("portcullis.js")
      ) {
        const status = await readFile(`/proc/${found}/status`, "utf8");
        assert.match(status, /^NSpid:\s+\d+\s+1$/m, "node is PID 1 in its namespace");
        pid = found;
        break;
      }
      await delay(20);
    }
    assert.notEqual(pid, child.pid, "found node under unshare");
  }
  return {
    child,
    pid,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: () => {
      // setpriv's change of UID clears the parent-death signal --kill-child sets: kill node itself.
      for (const target of [pid, child.pid]) {
        try {
          if (target !== undefined) process.kill(target, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    },
  };
}

async function childOf(parent: number): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (new RegExp(`^PPid:\\s+${parent}$`, "m").test(status)) return Number(entry);
  }
  return undefined;
}

/** A directory the image's user can read, as a volume would be mounted. */
async function volume(name: string): Promise<string> {
  const dir = join(root, "volumes", name);
  await mkdir(dir, { recursive: true });
  await chmod(join(root, "volumes"), 0o755);
  return dir;
}

/** Makes a tree readable by the image's user (kubelet's fsGroup does that for Secret volumes). */
async function shareRead(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    await chmod(path, entry.isDirectory() ? 0o755 : 0o644);
  }
}

// --- Tests -----------------------------------------------------------------------------------------

test(
  "the runtime layout holds the lockfile's production packages and none of its dev-only ones",
  TIMEOUT,
  async () => {
    const lock = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean; optional?: boolean }>;
    };
    const present = async (path: string): Promise<boolean> =>
      stat(join(app, path)).then(
        () => true,
        () => false,
      );
    let production = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === "") continue;
      if (entry.dev) assert.ok(!(await present(path)), `dev-only ${path} is not in the image`);
      else if (!entry.optional) {
        production += 1;
        assert.ok(await present(path), `${path} is in the image`);
      }
    }
    assert.ok(production > 50, `${production} production packages`);
    for (const name of ["typescript", "@biomejs/biome", "node", "fengari"]) {
      assert.ok(!(await present(`node_modules/${name}`)), name);
    }
  },
);

test("every bare import in dist/ is a dependency or a Node built-in", TIMEOUT, async () => {
  const unlisted = new Set<string>();
  let files = 0;
  for (const entry of await readdir(join(app, "dist"), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
    files += 1;
    const path = join(entry.parentPath, entry.name);
    const { importedFiles } = ts.preProcessFile(await readFile(path, "utf8"), true, true);
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith(".") || isBuiltin(fileName)) continue;
      const name = fileName.startsWith("@")
        ? fileName.split("/").slice(0, 2).join("/")
        : (fileName.split("/")[0] as string);
      if (!(name in packageJson.dependencies)) unlisted.add(`${relative(app, path)}: ${fileName}`);
    }
  }
  assert.ok(files > 50, `dist/ holds the build (${files} modules)`);
  assert.deepEqual([...unlisted], []);
});

test("the image's commands run from the runtime layout", TIMEOUT, async () => {
  // The CRD schema and CEL rules are compiled into dist/: check needs no file of the repository.
  const manifests = await volume("manifests");
  await cp(join(REPO, "examples", "two-backends-affinity"), join(manifests, "example"), {
    recursive: true,
  });
  await cp(
    join(REPO, "test", "golden", "admission-invalid-policies.in.yaml"),
    join(manifests, "invalid.yaml"),
  );
  await shareRead(manifests);

  const [help, version, operator, proxy, configSync, check, invalid, usage] = await Promise.all([
    runOnce(["--help"]), // the image's CMD
    runOnce(["--version"]),
    runOnce(["operator", "--help"]),
    runOnce(["proxy", "--help"]),
    runOnce(["config-sync", "--help"]),
    runOnce(["check", join(manifests, "example")]),
    runOnce(["check", "--output", "json", join(manifests, "invalid.yaml")]),
    runOnce(["check"]),
  ]);
  assert.equal(help.status, 0, help.stderr);
  for (const command of ["check", "compile", "serve", "proxy", "config-sync", "operator"]) {
    assert.match(help.stdout, new RegExp(`^  ${command} `, "m"));
  }
  assert.equal(
    version.stdout,
    `portcullis ${packageJson.version}\n`,
    "package.json is found in /app",
  );
  for (const [name, result] of [
    ["operator", operator],
    ["proxy", proxy],
    ["config-sync", configSync],
  ] as const) {
    assert.equal(result.status, 0, `${name} --help: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^Usage: portcullis ${name} `));
  }
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stderr, /^portcullis check: no problems /);
  // The exit codes docs/gitops.md gives for a pipeline: 1 for problems, 2 for a usage error.
  assert.equal(invalid.status, 1, invalid.stderr);
  assert.ok((JSON.parse(invalid.stdout) as { summary: { errors: number } }).summary.errors > 0);
  assert.equal(usage.status, 2, usage.stderr);

  assert.deepEqual(await readdir(tmp), [], "nothing written to $TMPDIR");
});

test(
  "proxy as PID 1: serves, and on SIGTERM turns not-ready, drains and exits 0 within --drain-seconds",
  TIMEOUT,
  async (t) => {
    if (!asPid1) t.diagnostic("not root or no unshare: run as a direct child of the test instead");
    const backends = await startBackends("image-");
    t.after(() => backends.close());
    const pki = await createPki();
    const certificate = await issueWildcard(pki.ca);
    const manifests = await volume("proxy-manifests");
    await writeManifests(manifests, {
      app1: backends.app1.map((b) => b.port),
      app2: backends.app2.map((b) => b.port),
      certificate,
      keys: null,
    });
    // The volumes the operator's Deployment mounts: the config, the mirrored certificate Secret and
    // the shared keys, each read-only to the proxy.
    const secrets = await volume("secrets");
    const compiled = await runOnce(["compile", manifests, "--secrets-dir", secrets]);
    assert.equal(compiled.status, 0, compiled.stderr);
    const configDir = await volume("config");
    await writeFile(join(configDir, "config.json"), compiled.stdout);
    const secretDir = join(secrets, "shop", "wildcard-example-com");
    await mkdir(secretDir, { recursive: true });
    await writeFile(join(secretDir, "tls.crt"), certificate.chainPem);
    await writeFile(join(secretDir, "tls.key"), certificate.keyPem);
    const keysDir = await volume("keys");
    const keys = generateKeys();
    await writeFile(join(keysDir, "ticket-secret"), keys.ticket);
    await writeFile(join(keysDir, "affinity-secret"), keys.affinity);
    for (const dir of [configDir, secrets, keysDir]) await shareRead(dir);

    const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const drainSeconds = 5;
    const proxy = await startLongRunning([
      "proxy",
      "--config",
      join(configDir, "config.json"),
      "--keys-dir",
      keysDir,
      "--https-port",
      String(httpsPort),
      "--http-port",
      String(httpPort),
      "--admin-port",
      String(adminPort),
      "--bind-address",
      "127.0.0.1",
      "--workers",
      "2",
      "--drain-seconds",
      String(drainSeconds),
      "--drain-delay-seconds",
      "1",
      "--log-level",
      "warn",
    ]);
    t.after(() => proxy.kill());
    let ready = false;
    for (let i = 0; i < 300 && !ready; i++) {
      ready = await adminGet(adminPort, "/readyz").then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ready) await delay(100);
    }
    assert.ok(ready, `ready: ${proxy.stderr()}`);
    const answer = await get({ port: httpsPort, path: "/app-1/", ca: pki.ca.certificatePem });
    assert.equal(
      answer.status,
      200,
      "HTTPS served by the image's proxy, certificate read as UID 10001",
    );
    assert.match(answer.body, /^image-app-1-/);

    const sent = Date.now();
    process.kill(proxy.pid, "SIGTERM");
    // During --drain-delay-seconds it still serves but reports not-ready.
    let readyz = 200;
    for (let i = 0; i < 20 && readyz === 200; i++) {
      readyz = (await adminGet(adminPort, "/readyz").catch(() => ({ status: 0 }))).status;
      if (readyz === 200) await delay(50);
    }
    assert.equal(readyz, 503, "not ready once SIGTERM arrived");
    const exit = await Promise.race([
      proxy.exited,
      delay((drainSeconds + 5) * 1000).then(() => undefined),
    ]);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit on SIGTERM: ${proxy.stderr()}`);
    assert.ok(Date.now() - sent < (drainSeconds + 2) * 1000, "exited within --drain-seconds");
    assert.deepEqual(await readdir(tmp), [], "nothing written to $TMPDIR");
  },
);

for (const command of ["operator", "config-sync"] as const) {
  test(
    `${command} as PID 1: exits 0 on SIGTERM, even while the API server is unreachable`,
    TIMEOUT,
    async (t) => {
      const config = await volume(`${command}-kube`);
      // An API server that refuses connections: both retry until told to stop.
      const kubeconfig = join(config, "kubeconfig");
      await writeFile(
        kubeconfig,
        [
          "apiVersion: v1",
          "kind: Config",
          "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
          "users: [{name: u, user: {token: unused}}]",
          "contexts: [{name: c, context: {cluster: c, user: u}}]",
          "current-context: c",
          "",
        ].join("\n"),
      );
      const out = await volume(`${command}-out`);
      await shareRead(config);
      const healthPort = await freePort();
      const args =
        command === "operator"
          ? [
              "operator",
              "--kubeconfig",
              kubeconfig,
              "--image",
              "portcullis:test",
              "--health-port",
              String(healthPort),
              "--health-host",
              "127.0.0.1",
            ]
          : [
              "config-sync",
              "--kubeconfig",
              kubeconfig,
              "-n",
              "portcullis-system",
              "--configmap",
              "portcullis-proxy-config",
              "--out",
              join(out, "config.json"),
            ];
      const child = await startLongRunning(args);
      t.after(() => child.kill());
      if (command === "operator") {
        let live = false;
        for (let i = 0; i < 100 && !live; i++) {
          live = await adminGet(healthPort, "/healthz").then(
            (r) => r.status === 200,
            () => false,
          );
          if (!live) await delay(100);
        }
        assert.ok(live, `operator /healthz: ${child.stderr()}`);
      } else {
        // Its first log line (a failed list) comes after it installed its SIGTERM handler.
        for (let i = 0; i < 100 && !child.stdout().includes("Failed to list objects"); i++) {
          await delay(100);
        }
        assert.match(child.stdout(), /Failed to list objects/, child.stderr());
      }
      process.kill(child.pid, "SIGTERM");
      const exit = await Promise.race([child.exited, delay(10_000).then(() => undefined)]);
      assert.deepEqual(exit, { code: 0, signal: null }, `exit on SIGTERM: ${child.stderr()}`);
      assert.deepEqual(await readdir(out), [], "config-sync wrote nothing it had not read");
      assert.deepEqual(await readdir(tmp), []);
    },
  );
}

test("nothing was written into /app", TIMEOUT, async () => {
  assert.deepEqual(await snapshot(app), appSnapshot);
});

/** Every path under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    lines.push(`${relative(dir, path)} ${info.size} ${info.mtimeMs}`);
  }
  return lines.sort();
}
