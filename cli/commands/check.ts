// `portcullis check PATH...`: what the API server and the controller would say about a set of
// manifests, before they are applied. One line per problem on stdout, a summary on stderr.

import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, EXIT_PROBLEMS, InvalidOptionValueError, UsageError } from "../errors.ts";
import type { BuiltInput } from "../input.ts";
import type { LoadResult } from "../manifests.ts";
import {
  buildCompilerOptions,
  compilerOptionSpecs,
  compilerOptionsHelp,
  defaultNamespaceOf,
} from "../options.ts";
import { runPipeline } from "../pipeline.ts";
import {
  countProblems,
  formatMessage,
  formatProblem,
  type Problem,
  type ProblemCounts,
  plural,
} from "../problems.ts";

const NAME = "check";
const FORMATS = ["text", "json"] as const;

const optionSpecs = {
  ...compilerOptionSpecs,
  output: { type: "string", short: "o" },
  strict: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  return `Usage: portcullis check [options] PATH...

Reads Kubernetes manifests and reports, one line each, every problem the API server
(schema validation, defaults) or the Portcullis controller (references, certificates,
conflicts) would find in them:

  FILE:LINE: Kind namespace/name: FIELD: message
  FILE:LINE: warning: Kind namespace/name: FIELD: message (Reason)

The controller's findings end with their condition reason; the API server's do not.
Warnings (such as a Service with no endpoints yet) do not fail the check unless --strict.

PATH is a YAML or JSON file (several documents and kind: List allowed), a directory
(read recursively: *.yaml, *.yml, *.json; hidden entries skipped), or - for standard input.

Options:
  -o, --output FORMAT           text (default) or json (a list of problems on stdout)
      --strict                  Fail on warnings too
${compilerOptionsHelp()}
  -h, --help                    Show this help

Exit status: 0 no errors, 1 errors found (or warnings with --strict), 2 usage error.
`;
}

/** A problem as `check --output json` prints it. */
export interface ProblemJson {
  severity: "Error" | "Warning";
  source: Problem["source"];
  file: string | null;
  line: number | null;
  kind: string | null;
  namespace: string | null;
  name: string | null;
  field: string | null;
  reason: string | null;
  /** The message as the text output prints it (field first). */
  message: string;
}

/** What `check --output json` prints. */
export interface CheckReportJson {
  problems: ProblemJson[];
  summary: ProblemCounts & { files: number; objects: number; ignored: number };
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpecs, NAME);
  if (values.help) {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  const format = values.output ?? "text";
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new InvalidOptionValueError("output", format, `expected ${FORMATS.join(" or ")}`, NAME);
  }
  if (positionals.length === 0) throw new UsageError("no PATH given", NAME);

  const result = await runPipeline(positionals, {
    defaultNamespace: defaultNamespaceOf(values, NAME),
    compilerOptions: buildCompilerOptions(values, NAME),
  });
  const counts = countProblems(result.problems);
  const ignored = ignoredCount(result.built);

  if (format === "json") {
    const report: CheckReportJson = {
      problems: result.problems.map(problemJson),
      summary: {
        ...counts,
        files: result.load.files.length,
        objects: result.built.objectCount,
        ignored,
      },
    };
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const problem of result.problems)
      io.stdout.write(`${formatProblem(problem, io.stdout)}\n`);
  }
  io.stderr.write(`${summaryLine(counts, result.load, result.built)}\n`);
  return counts.errors > 0 || (values.strict === true && counts.warnings > 0)
    ? EXIT_PROBLEMS
    : EXIT_OK;
}

function problemJson(problem: Problem): ProblemJson {
  return {
    severity: problem.severity,
    source: problem.source,
    file: problem.file ?? null,
    line: problem.line ?? null,
    kind: problem.object?.kind ?? null,
    namespace: problem.object?.namespace ?? null,
    name: problem.object?.name ?? null,
    field: problem.field ?? null,
    reason: problem.reason ?? null,
    message: formatMessage(problem),
  };
}

function ignoredCount(built: BuiltInput): number {
  let total = 0;
  for (const count of built.ignored.values()) total += count;
  return total;
}

/** "portcullis check: 2 errors, 1 warning (14 objects in 5 files; 3 of other kinds ignored)". */
function summaryLine(counts: ProblemCounts, load: LoadResult, built: BuiltInput): string {
  const verdict =
    counts.errors + counts.warnings === 0
      ? "no problems"
      : `${plural(counts.errors, "error")}, ${plural(counts.warnings, "warning")}`;
  const ignored = ignoredCount(built);
  const scope = `${plural(built.objectCount, "object")} in ${plural(load.files.length, "file")}`;
  const skipped = ignored > 0 ? `; ${ignored} of kinds Portcullis does not read ignored` : "";
  return `portcullis ${NAME}: ${verdict} (${scope}${skipped})`;
}

/** `portcullis check`. */
export const checkCommand: Command = {
  name: NAME,
  summary: "Report problems in manifests (schema, references, certificates) by file and line",
  usage,
  run,
};
