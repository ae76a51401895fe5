// `portcullis compile PATH...`: the ProxyConfig the controller would hand the proxies for a set of
// manifests, validated against the ProxyConfig schema. The output depends only on the objects (and
// --now), never on file names, their order, or the time of day, so it can be diffed and golden-tested.
import { stringify } from "yaml";
import { defaultCompilerOptions } from "../../operator/compiler/compile.ts";
import type { CompilerOutput } from "../../operator/compiler/types.ts";
import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, InvalidOptionValueError, UnreadableInputError, UsageError } from "../errors.ts";
import {
  buildCompilerOptions,
  compilerOptionSpecs,
  compilerOptionsHelp,
  defaultNamespaceOf,
} from "../options.ts";
import { runPipeline } from "../pipeline.ts";
import { countProblems, formatProblem, plural } from "../problems.ts";

const NAME = "compile";
const FORMATS = ["json", "yaml"] as const;
type Format = (typeof FORMATS)[number];

const optionSpecs = {
  ...compilerOptionSpecs,
  "secrets-dir": { type: "string" },
  output: { type: "string", short: "o" },
  full: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  const secretsDir = defaultCompilerOptions(new Date(0)).secretsDir;
  return `Usage: portcullis compile [options] PATH...

Prints the proxy configuration the Portcullis controller would build from the manifests,
validated against the ProxyConfig schema. Problems are reported on stderr as \`check\`
reports them; the parts they concern are left out, as in a cluster. Nothing is printed
if a manifest cannot be read or an object is defined twice.

PATH is a YAML or JSON file, a directory (read recursively), or - for standard input.

Options:
  -o, --output FORMAT           json (default) or yaml
      --full                    Print the whole compiler output: {config, statuses,
                                diagnostics, certificates}
      --secrets-dir DIR         Where the proxy mounts Secrets: DIR/NAMESPACE/NAME/tls.crt
                                (default "${secretsDir}")
${compilerOptionsHelp()}
  -h, --help                    Show this help

The output is byte-identical for the same objects and --now, whatever the files' names
and order. Exit status: 0 printed, 1 input unreadable, 2 usage error.
`;
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpecs, NAME);
  if (values.help) {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  const format = values.output ?? "json";
  if (!isFormat(format)) {
    throw new InvalidOptionValueError("output", format, `expected ${FORMATS.join(" or ")}`, NAME);
  }
  if (positionals.length === 0) throw new UsageError("no PATH given", NAME);

  const result = await runPipeline(positionals, {
    defaultNamespace: defaultNamespaceOf(values, NAME),
    compilerOptions: buildCompilerOptions(values, NAME),
  });
  for (const problem of result.problems) io.stderr.write(`${formatProblem(problem, io.stderr)}\n`);
  const unreadable = result.problems.filter(
    (p) => p.source === "manifest" && p.severity === "Error",
  ).length;
  if (unreadable > 0) throw new UnreadableInputError(unreadable);

  io.stdout.write(
    serialise(values.full ? fullOutput(result.output) : result.output.config, format),
  );
  const counts = countProblems(result.problems);
  if (counts.errors + counts.warnings > 0) {
    const consequence = counts.errors > 0 ? "; the configuration leaves out what they concern" : "";
    io.stderr.write(
      `portcullis ${NAME}: ${plural(counts.errors, "error")}, ${plural(counts.warnings, "warning")}${consequence}\n`,
    );
  }
  return EXIT_OK;
}

/** The compiler output with its keys in a fixed order. */
function fullOutput(output: CompilerOutput): CompilerOutput {
  return {
    config: output.config,
    statuses: output.statuses,
    diagnostics: output.diagnostics,
    certificates: output.certificates,
  };
}

/** JSON (two-space indent) or YAML (no anchors, no folding), newline-terminated. */
export function serialise(value: unknown, format: Format): string {
  if (format === "json") return `${JSON.stringify(value, null, 2)}\n`;
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}

/** `portcullis compile`. */
export const compileCommand: Command = {
  name: NAME,
  summary: "Print the proxy configuration the controller would build from manifests",
  usage,
  run,
};
