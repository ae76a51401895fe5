// Golden tests of the pure compiler: every test/golden/<feature>-<scenario>.in.yaml is compiled the way
// `portcullis compile` does it (offline admission, then the compiler) and the result must equal
// <name>.out.yaml byte for byte. `UPDATE_GOLDEN=1 npm run test:unit` rewrites the outputs; review the diff.
//
// An input may hold one document of kind GoldenCase (apiVersion portcullis.dev/test) with:
//   description: what the case shows;  fixtures: [file names under fixtures/, without .yaml];
//   options: CompilerOptions fields (now, ingressClassName, controllerNamespace, defaultCertificate).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { buildCompilerInput } from "../../cli/input.ts";
import { type LoadedObject, parseManifests } from "../../cli/manifests.ts";
import { compile, defaultCompilerOptions } from "../../operator/compiler/compile.ts";
import type { CompilerInput, CompilerOptions } from "../../operator/compiler/types.ts";

const here = dirname(fileURLToPath(import.meta.url));
const update = process.env.UPDATE_GOLDEN === "1";
/** Golden "now": fixtures are valid 2025-01-01 → 2125-01-01, the expired one ended in 2021. */
const GOLDEN_NOW = "2026-01-01T00:00:00Z";

interface GoldenCase {
  description?: string;
  fixtures?: string[];
  options?: Partial<Omit<CompilerOptions, "now">> & { now?: string };
}

function load(file: string): LoadedObject[] {
  const { objects, problems } = parseManifests(readFileSync(file, "utf8"), file);
  assert.deepEqual(problems, [], `${file} must parse`);
  return objects;
}

function runCase(inFile: string): { text: string; input: CompilerInput; options: CompilerOptions } {
  const objects = load(inFile);
  const caseDoc = objects.find((o) => o.object.kind === "GoldenCase");
  const spec = (caseDoc?.object.spec ?? {}) as GoldenCase;
  const fixtures = (spec.fixtures ?? []).flatMap((name) =>
    load(join(here, "fixtures", `${name}.yaml`)),
  );
  const { input, problems } = buildCompilerInput([
    ...objects.filter((o) => o !== caseDoc),
    ...fixtures,
  ]);
  const { now, ...rest } = spec.options ?? {};
  const options: CompilerOptions = {
    ...defaultCompilerOptions(new Date(now ?? GOLDEN_NOW)),
    ...rest,
  };
  const output = compile(input, options);
  const admission = problems.map(
    (p) =>
      `${p.object ? `${p.object.kind} ${p.object.namespace}/${p.object.name}: ` : ""}${p.message}`,
  );
  const text = stringify(
    { description: spec.description ?? "", admission, ...output },
    { lineWidth: 0, sortMapEntries: false },
  );
  return { text, input, options };
}

/** `value` with every object and array in it frozen. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** The same objects in the opposite order. */
function reversed(input: CompilerInput): CompilerInput {
  return Object.fromEntries(
    Object.entries(input).map(([key, list]) => [key, [...(list as unknown[])].reverse()]),
  ) as unknown as CompilerInput;
}

const cases = readdirSync(here)
  .filter((f) => f.endsWith(".in.yaml"))
  .sort();

test("there are golden cases", () => {
  assert.ok(cases.length > 0);
});

for (const file of cases) {
  const name = file.slice(0, -".in.yaml".length);
  test(`golden ${name}`, () => {
    const { text, input, options } = runCase(join(here, file));
    const outFile = join(here, `${name}.out.yaml`);
    if (update) writeFileSync(outFile, text);
    assert.equal(
      text,
      readFileSync(outFile, "utf8"),
      `${name}: output differs (UPDATE_GOLDEN=1 to accept)`,
    );
    // Frozen: the operator hands the compiler its informer cache, which a write would corrupt (and a
    // write to a frozen object throws here, in strict-mode modules).
    const again = compile(deepFreeze(reversed(input)), options);
    assert.deepEqual(again, compile(input, options), `${name}: output depends on input order`);
  });
}
