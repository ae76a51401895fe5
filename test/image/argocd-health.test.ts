// docs/argocd/loadbalancerpolicy-health.lua, the Argo CD health check of LoadBalancerPolicy, run in a
// real Lua VM (fengari, Lua 5.3 in JavaScript) against every case of docs/argocd/health_test.yaml —
// the file layout Argo CD's own resource_customizations use. As Argo CD does, the object is the global
// `obj` and the script returns {status, message}. Argo CD's gopher-lua holds every number as a float:
// numbers are pushed as floats here too, so formatting that would print "3.0" shows up.
//
// Argo CD embeds gopher-lua, a Lua 5.1 VM: where Go is installed (CI builds the test API server with
// it), every case also runs there, through test/image/health-eval, so that nothing 5.3-only slips in.
// The same program evaluates the Flux healthCheckExprs docs/gitops.md gives, in kustomize-controller's
// CEL environment and order, on the same objects.
//
// The fixtures are checked against the CRD's status schema, and their reasons against the compiler's
// one list, so that they stay what the operator writes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { Reason } from "../../operator/compiler/reasons.ts";
import { loadBalancerPolicySchema } from "../../operator/generated/loadbalancerpolicy-schema.ts";
import { REPO } from "./support.ts";

const DIR = join(REPO, "docs", "argocd");
const SCRIPT = join(DIR, "loadbalancerpolicy-health.lua");

/** The part of fengari's API used here (it ships no type declarations). */
interface Fengari {
  lua: {
    LUA_OK: number;
    lua_newtable(L: unknown): void;
    lua_pushnumber(L: unknown, n: number): void;
    lua_pushboolean(L: unknown, b: boolean): void;
    lua_pushstring(L: unknown, s: Uint8Array): void;
    lua_setfield(L: unknown, index: number, key: Uint8Array): void;
    lua_rawseti(L: unknown, index: number, n: number): void;
    lua_setglobal(L: unknown, name: Uint8Array): void;
    lua_pcall(L: unknown, nargs: number, nresults: number, handler: number): number;
    lua_istable(L: unknown, index: number): boolean;
    lua_getfield(L: unknown, index: number, key: Uint8Array): number;
    lua_tojsstring(L: unknown, index: number): string | null;
    lua_isnil(L: unknown, index: number): boolean;
    lua_pop(L: unknown, n: number): void;
  };
  lauxlib: {
    luaL_newstate(): unknown;
    luaL_loadstring(L: unknown, s: Uint8Array): number;
  };
  lualib: { luaL_openlibs(L: unknown): void };
  to_luastring(s: string): Uint8Array;
}

const fengari = createRequire(import.meta.url)("fengari") as Fengari;
const { lua, lauxlib, lualib, to_luastring } = fengari;

/** Pushes a JSON value as Lua values are made from it: objects and arrays become tables. */
function push(L: unknown, value: unknown): void {
  if (value === null || value === undefined) throw new Error("nulls are left out by the caller");
  if (typeof value === "string") lua.lua_pushstring(L, to_luastring(value));
  else if (typeof value === "number") lua.lua_pushnumber(L, value);
  else if (typeof value === "boolean") lua.lua_pushboolean(L, value);
  else if (Array.isArray(value)) {
    lua.lua_newtable(L);
    value.forEach((item, i) => {
      push(L, item);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else {
    lua.lua_newtable(L);
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === null || item === undefined) continue;
      push(L, item);
      lua.lua_setfield(L, -2, to_luastring(key));
    }
  }
}

/** Runs the health script on `obj` as Argo CD does; returns what it returned. */
function evaluateHealth(script: string, obj: unknown): { status: string; message: string } {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  push(L, obj);
  lua.lua_setglobal(L, to_luastring("obj"));
  if (lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK) {
    throw new Error(`does not compile: ${lua.lua_tojsstring(L, -1)}`);
  }
  if (lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
    throw new Error(`failed: ${lua.lua_tojsstring(L, -1)}`);
  }
  assert.ok(lua.lua_istable(L, -1), "returns a table");
  const field = (name: string): string => {
    lua.lua_getfield(L, -1, to_luastring(name));
    const text = lua.lua_isnil(L, -1) ? "" : (lua.lua_tojsstring(L, -1) ?? "");
    lua.lua_pop(L, 1);
    return text;
  };
  return { status: field("status"), message: field("message") };
}

interface HealthTests {
  tests: { healthStatus: { status: string; message: string }; inputPath: string }[];
}

const script = await readFile(SCRIPT, "utf8");
const cases = parse(await readFile(join(DIR, "health_test.yaml"), "utf8")) as HealthTests;

for (const { healthStatus, inputPath } of cases.tests) {
  test(`${inputPath}: ${healthStatus.status}`, async () => {
    const obj = parse(await readFile(join(DIR, inputPath), "utf8")) as unknown;
    assert.deepEqual(evaluateHealth(script, obj), healthStatus);
  });
}

test("the cases reach Healthy, Progressing and Degraded (the script never says Suspended or Missing)", () => {
  const statuses = new Set(cases.tests.map((c) => c.healthStatus.status));
  assert.deepEqual([...statuses].sort(), ["Degraded", "Healthy", "Progressing"]);
});

test("the fixtures are LoadBalancerPolicies whose status the CRD schema accepts", async () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const schema = loadBalancerPolicySchema as {
    properties: { status: Record<string, unknown> };
  };
  const validateStatus = ajv.compile(schema.properties.status);
  const reasons = new Set<string>(Object.values(Reason));
  for (const { inputPath } of cases.tests) {
    const obj = parse(await readFile(join(DIR, inputPath), "utf8")) as {
      apiVersion: string;
      kind: string;
      metadata: { generation: number };
      status?: { conditions?: { reason: string }[] };
    };
    assert.equal(obj.apiVersion, "portcullis.dev/v1alpha1", inputPath);
    assert.equal(obj.kind, "LoadBalancerPolicy", inputPath);
    assert.ok(Number.isInteger(obj.metadata.generation), `${inputPath}: metadata.generation`);
    if (obj.status === undefined) continue;
    assert.ok(validateStatus(obj.status), `${inputPath}: ${ajv.errorsText(validateStatus.errors)}`);
    for (const condition of obj.status.conditions ?? []) {
      assert.ok(reasons.has(condition.reason), `${inputPath}: reason ${condition.reason}`);
    }
  }
  // The script singles out these two reasons as transient.
  assert.equal(Reason.CertificatePending, "CertificatePending");
  assert.equal(Reason.Pending, "Pending");
  assert.match(script, /"CertificatePending"/);
  assert.match(script, /reason == "Pending"/);
});

const goMissing = spawnSync("go", ["version"]).status !== 0;
const HEALTH_EVAL = join(REPO, "test", "image", "health-eval");
let healthEvalBinary: Promise<string> | undefined;
const scratch: string[] = [];
after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** test/image/health-eval, built once (Go's build cache makes later runs quick). */
function buildHealthEval(): Promise<string> {
  healthEvalBinary ??= (async () => {
    const binary = join(await scratchDir("portcullis-health-eval-"), "health-eval");
    const build = spawnSync("go", ["build", "-o", binary, "."], {
      cwd: HEALTH_EVAL,
      encoding: "utf8",
    });
    assert.equal(build.status, 0, build.stderr);
    return binary;
  })();
  return healthEvalBinary;
}

function runHealthEval(binary: string, args: string[], obj: unknown): Record<string, string> {
  const run = spawnSync(binary, args, { input: JSON.stringify(obj), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr || String(run.error));
  return JSON.parse(run.stdout) as Record<string, string>;
}

const GO_TEST = { skip: goMissing ? "go is not installed" : false, timeout: 600_000 } as const;

test(
  "in gopher-lua, Argo CD's own Lua VM, every case gives the same status and message",
  GO_TEST,
  async () => {
    const binary = await buildHealthEval();
    for (const { healthStatus, inputPath } of cases.tests) {
      const obj = parse(await readFile(join(DIR, inputPath), "utf8")) as unknown;
      assert.deepEqual(runHealthEval(binary, ["argocd", SCRIPT], obj), healthStatus, inputPath);
    }
  },
);

test(
  "the Flux healthCheckExprs of docs/gitops.md give the Argo CD verdicts, as kustomize-controller evaluates them",
  GO_TEST,
  async () => {
    const binary = await buildHealthEval();
    const markdown = await readFile(join(REPO, "docs", "gitops.md"), "utf8");
    const block = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .find((text) => text.includes("healthCheckExprs"));
    assert.ok(block, "docs/gitops.md shows a Kustomization with healthCheckExprs");
    const kustomization = parse(block) as {
      spec: { healthCheckExprs: { apiVersion: string; kind: string }[] };
    };
    const exprs = kustomization.spec.healthCheckExprs.find(
      (e) => e.apiVersion === "portcullis.dev/v1alpha1" && e.kind === "LoadBalancerPolicy",
    );
    assert.ok(exprs);
    const exprsFile = join(await scratchDir("portcullis-flux-exprs-"), "exprs.json");
    await writeFile(exprsFile, JSON.stringify(exprs));
    const kstatus = { Healthy: "Current", Degraded: "Failed", Progressing: "InProgress" } as const;
    for (const { healthStatus, inputPath } of cases.tests) {
      const obj = parse(await readFile(join(DIR, inputPath), "utf8")) as { status?: unknown };
      const verdict = runHealthEval(binary, ["flux", exprsFile], obj);
      if (obj.status === undefined) {
        // No status at all: the expressions cannot be evaluated, and Flux keeps waiting.
        assert.match(verdict.error ?? "", /no such attribute/, inputPath);
        continue;
      }
      const expected = kstatus[healthStatus.status as keyof typeof kstatus];
      assert.deepEqual(verdict, { status: expected }, inputPath);
    }
  },
);

test("docs/gitops.md installs the check under Argo CD's key for the kind", async () => {
  const markdown = await readFile(join(REPO, "docs", "gitops.md"), "utf8");
  assert.match(markdown, /resource\.customizations\.health\.portcullis\.dev_LoadBalancerPolicy/);
  assert.match(markdown, /docs\/argocd\/loadbalancerpolicy-health\.lua/);
});

test("a script error is reported, not mistaken for a status", () => {
  assert.throws(() => evaluateHealth("return obj.status.conditions[1].type", {}), /failed/);
});
