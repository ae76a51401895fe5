// Running one golden infra case (test/golden-infra/<name>.in.yaml): the case's objects are compiled
// the way `portcullis compile` does it (offline admission, then the compiler, with the fleet's
// namespace and secrets directory) and the config goes through buildProxyInfrastructure. Shared by
// the golden test (which prints the result, Secret data redacted) and the API server test (which
// applies it).
//
// An input may hold one document of kind GoldenInfraCase (apiVersion portcullis.dev/test) with:
//   description: what the case shows;
//   fixtures: Secret files under test/golden/fixtures/, each a name (without .yaml) or
//     { file, namespace?, name?, merge?: [files whose data is added] } to place or combine them;
//   settings: InfraSettingsInput fields (image defaults to GOLDEN_IMAGE);
//   owner: InfraOwner (default GOLDEN_OWNER);
//   compiler: CompilerOptions fields over the ones derived from the settings (now, secretsDir, ...).
// A case whose settings or config the builder refuses yields the error instead of objects.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Secret } from "@kubernetes/client-node";
import { buildCompilerInput } from "../../cli/input.ts";
import { type LoadedObject, parseManifests } from "../../cli/manifests.ts";
import { compile, defaultCompilerOptions } from "../../operator/compiler/compile.ts";
import type { CompilerOptions, Diagnostic } from "../../operator/compiler/types.ts";
import {
  buildProxyInfrastructure,
  buildSharedKeysSecret,
  InfraError,
  type InfraInput,
  type InfraOutput,
  type InfraOwner,
  type InfraSettings,
  type InfraSettingsInput,
  resolveInfraSettings,
} from "../../operator/infra/index.ts";

export const CASES_DIR = dirname(fileURLToPath(import.meta.url));
export const FIXTURES_DIR = join(CASES_DIR, "..", "golden", "fixtures");
/** Golden "now": fixtures are valid 2025-01-01 → 2125-01-01. */
const GOLDEN_NOW = "2026-01-01T00:00:00Z";
const GOLDEN_IMAGE = "registry.example/portcullis:0.1.0";
export const GOLDEN_OWNER: InfraOwner = {
  apiVersion: "networking.k8s.io/v1",
  kind: "IngressClass",
  name: "portcullis",
  uid: "6f1c2e0a-5b7d-4c11-9a7e-0d2b9c4e8f10",
};

type FixtureRef = string | { file: string; namespace?: string; name?: string; merge?: string[] };

interface GoldenInfraCase {
  description?: string;
  fixtures?: FixtureRef[];
  settings?: Partial<InfraSettingsInput>;
  owner?: InfraOwner;
  compiler?: Partial<Omit<CompilerOptions, "now">> & { now?: string };
}

/** What a case produced: the built fleet, or the builder's error. */
export type InfraCaseResult = { description: string } & (
  | {
      ok: true;
      diagnostics: Diagnostic[];
      output: InfraOutput;
      sharedKeysSecret: V1Secret;
      settings: InfraSettings;
      /** Builds again from the same input, the Secrets in reverse order when asked. */
      rebuild(reverseSecrets: boolean): InfraOutput;
    }
  | { ok: false; error: InfraError }
);

/** The .in.yaml files, sorted. */
export function caseFiles(): string[] {
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith(".in.yaml"))
    .sort();
}

function load(file: string): LoadedObject[] {
  const { objects, problems } = parseManifests(readFileSync(file, "utf8"), file);
  assert.deepEqual(problems, [], `${file} must parse`);
  return objects;
}

/** The one Secret of a fixture file, placed and combined as the reference asks. */
function fixture(ref: FixtureRef): LoadedObject[] {
  const spec = typeof ref === "string" ? { file: ref } : ref;
  const [loaded, ...rest] = load(join(FIXTURES_DIR, `${spec.file}.yaml`));
  assert.ok(loaded && rest.length === 0, `fixture ${spec.file} must hold one object`);
  const object = structuredClone(loaded.object) as Record<string, unknown> & V1Secret;
  object.metadata = {
    ...object.metadata,
    ...(spec.namespace ? { namespace: spec.namespace } : {}),
    ...(spec.name ? { name: spec.name } : {}),
  };
  for (const other of spec.merge ?? []) {
    const [extra] = load(join(FIXTURES_DIR, `${other}.yaml`));
    object.data = { ...object.data, ...(extra?.object as V1Secret | undefined)?.data };
  }
  return [{ ...loaded, object }];
}

/** Deterministic stand-in for crypto.randomBytes: the shared-keys Secret is redacted anyway. */
function goldenRandom(): (size: number) => Buffer {
  let counter = 0;
  return (size) => createHash("sha256").update(`golden-${counter++}`).digest().subarray(0, size);
}

/** Runs the case in `file` (a name in CASES_DIR), owned by `owner` instead of the case's own. */
export function runInfraCase(file: string, owner?: InfraOwner): InfraCaseResult {
  const inFile = join(CASES_DIR, file);
  const objects = load(inFile);
  const caseDoc = objects.find((o) => o.object.kind === "GoldenInfraCase");
  const spec = (caseDoc?.object.spec ?? {}) as GoldenInfraCase;
  const { input, problems } = buildCompilerInput([
    ...objects.filter((o) => o !== caseDoc),
    ...(spec.fixtures ?? []).flatMap(fixture),
  ]);
  assert.deepEqual(problems, [], `${file}: every object must be admitted`);
  const description = spec.description ?? "";
  const failed = (error: unknown): InfraCaseResult => {
    if (!(error instanceof InfraError)) throw error;
    return { description, ok: false, error };
  };

  let settings: InfraSettings;
  try {
    settings = resolveInfraSettings({ image: GOLDEN_IMAGE, ...spec.settings });
  } catch (error) {
    return failed(error);
  }
  const { now, ...compilerRest } = spec.compiler ?? {};
  const options: CompilerOptions = {
    ...defaultCompilerOptions(new Date(now ?? GOLDEN_NOW)),
    controllerNamespace: settings.namespace,
    secretsDir: settings.secretsDir,
    ...compilerRest,
  };
  const compiled = compile(input, options);
  const infraOwner = owner ?? spec.owner ?? GOLDEN_OWNER;
  const infraInput = (reverse: boolean): InfraInput => ({
    config: compiled.config,
    secrets: reverse ? [...input.secrets].reverse() : input.secrets,
    settings,
    owner: infraOwner,
  });
  let output: InfraOutput;
  try {
    output = buildProxyInfrastructure(infraInput(false));
  } catch (error) {
    return failed(error);
  }
  return {
    description,
    ok: true,
    diagnostics: compiled.diagnostics,
    output,
    sharedKeysSecret: buildSharedKeysSecret(settings, goldenRandom(), infraOwner),
    settings,
    rebuild: (reverse) => buildProxyInfrastructure(infraInput(reverse)),
  };
}
