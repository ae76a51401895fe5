// The one path from manifest files to compiler output that both `check` and `compile` take:
// load → build the compiler input (admission included) → compile → validate the config. Every
// problem found on the way comes back in one list, with the file and line of the object at fault.
import { compile } from "../operator/compiler/compile.ts";
import type { CompilerOptions, CompilerOutput, Diagnostic } from "../operator/compiler/types.ts";
import { validateProxyConfig } from "../proxy/config/validate.ts";
import { InvalidConfigError } from "./errors.ts";
import { type BuiltInput, buildCompilerInput, objectKey } from "./input.ts";
import { type LoadResult, loadManifests, type ManifestSources, type Origin } from "./manifests.ts";
import { type Problem, sortProblems } from "./problems.ts";

/** Settings of one run. */
export interface PipelineOptions {
  /** Namespace of namespaced objects that set none. */
  defaultNamespace: string;
  compilerOptions: CompilerOptions;
  /** Where standard input comes from; process.stdin by default. */
  sources?: ManifestSources;
}

/** Everything one run produced. */
export interface PipelineResult {
  load: LoadResult;
  built: BuiltInput;
  /** The compiler's output; its config has passed validateProxyConfig. */
  output: CompilerOutput;
  /** Every problem (manifest, admission, compiler), sorted by file and line. */
  problems: Problem[];
}

/**
 * Reads the manifests under `paths` and compiles them. Throws InvalidConfigError when the compiled
 * config fails validation (a bug, never the user's input).
 */
export async function runPipeline(
  paths: readonly string[],
  options: PipelineOptions,
): Promise<PipelineResult> {
  const load = await loadManifests(paths, options.sources);
  const built = buildCompilerInput(load.objects, { defaultNamespace: options.defaultNamespace });
  const output = compile(built.input, options.compilerOptions);
  const invalid = validateProxyConfig(output.config);
  if (invalid.length > 0) throw new InvalidConfigError(invalid);
  const diagnostics = output.diagnostics.map((d) => diagnosticProblem(d, built.origins));
  const wanted = options.compilerOptions.defaultCertificate;
  if (wanted !== undefined && output.config.listener.defaultCertificate !== wanted) {
    // The compiler drops an unusable default certificate without a diagnostic; an option the user
    // gave must not be ignored in silence.
    diagnostics.push({
      severity: "Error",
      source: "compiler",
      message: `--default-certificate: Secret "${wanted}" does not exist or holds no valid certificate; none is served`,
    });
  }
  return {
    load,
    built,
    output,
    problems: sortProblems([...load.problems, ...built.problems, ...diagnostics]),
  };
}

/** A compiler diagnostic as a problem, located at its object's manifest. */
export function diagnosticProblem(
  diagnostic: Diagnostic,
  origins: ReadonlyMap<string, Origin>,
): Problem {
  const object = { kind: diagnostic.kind, namespace: diagnostic.namespace, name: diagnostic.name };
  const origin = origins.get(objectKey(object));
  return {
    severity: diagnostic.severity,
    source: "compiler",
    ...(origin ? { file: origin.file, line: origin.line } : {}),
    object,
    ...(diagnostic.field ? { field: diagnostic.field } : {}),
    reason: diagnostic.reason,
    message: diagnostic.message,
  };
}
