// `portcullis serve PATH...`: the whole pipeline on a laptop. Compiles the manifests (as `compile`),
// writes the config, the referenced Secrets and the shared keys the way the operator would mount them,
// runs the proxy on them, and recompiles whenever a manifest changes: edits take effect without a restart.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeAtomically } from "../../operator/api/atomic-file.ts";
import { DEFAULT_PROXY_OPTIONS, runProxy } from "../../proxy/supervisor.ts";
import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, UnreadableInputError, UsageError } from "../errors.ts";
import {
  buildCompilerOptions,
  compilerOptionSpecs,
  compilerOptionsHelp,
  defaultNamespaceOf,
} from "../options.ts";
import { runPipeline } from "../pipeline.ts";
import { countProblems, formatProblem, plural } from "../problems.ts";
import {
  buildProxyOptions,
  proxyOptionSpecs,
  proxyOptionsHelp,
  untilSignalled,
} from "../proxy-options.ts";
import { writeSecrets, writeSharedKeys } from "../serve/materialize.ts";

const NAME = "serve";
/** How often the manifests are checked for changes. */
const WATCH_INTERVAL_MS = 500;
/** On a laptop, listen on loopback only unless told otherwise. */
const SERVE_DEFAULTS = {
  ...DEFAULT_PROXY_OPTIONS,
  bindAddress: "127.0.0.1",
  httpsPort: 8443,
  httpPort: 8080,
  adminPort: 9901,
};

const optionSpecs = {
  ...compilerOptionSpecs,
  ...proxyOptionSpecs,
  "state-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  return `Usage: portcullis serve [options] PATH...

Compiles the manifests under PATH (Ingresses, LoadBalancerPolicies, Services, EndpointSlices with
local addresses, TLS Secrets) and serves them: TLS terminated here, cookie affinity, path routing.
Edits to the manifests are recompiled and applied without a restart. The shared session-ticket and
affinity keys come from a Secret labelled portcullis.dev/shared-keys=true among the manifests (data
keys ticket-secret and affinity-secret), so two \`serve\` processes on the same manifests resume each
other's TLS sessions and honour each other's cookies; without one, keys are generated.

Options:
${proxyOptionsHelp(SERVE_DEFAULTS)}
      --state-dir DIR           Where config, Secrets and keys are written (default: a temporary dir)
${compilerOptionsHelp()}
  -h, --help                    Show this help
`;
}

/** A cheap fingerprint of every file under the paths: names, sizes and modification times. */
async function fingerprint(paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (!info) {
      parts.push(`${path}:missing`);
      return;
    }
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) {
        if (!entry.startsWith(".")) await visit(join(path, entry));
      }
    } else {
      parts.push(`${path}:${info.size}:${info.mtimeMs}`);
    }
  };
  for (const path of paths) await visit(path);
  return parts.join("\n");
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpecs, NAME);
  if (values.help) {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new UsageError("at least one PATH is required", NAME);
  const paths = positionals.map((p) => resolve(p));
  const createdStateDir = values["state-dir"] === undefined;
  const stateDir = values["state-dir"]
    ? resolve(values["state-dir"])
    : await mkdtemp(join(tmpdir(), "portcullis-serve-"));
  const secretsDir = join(stateDir, "secrets");
  const configPath = join(stateDir, "config.json");
  const defaultNamespace = defaultNamespaceOf(values, NAME);

  /** Compiles and writes everything; resolves with whether shared keys were found. */
  const compileOnce = async (first: boolean): Promise<string | undefined> => {
    const compilerOptions = buildCompilerOptions({ ...values, "secrets-dir": secretsDir }, NAME);
    const result = await runPipeline(paths, { defaultNamespace, compilerOptions });
    for (const problem of result.problems)
      io.stderr.write(`${formatProblem(problem, io.stderr)}\n`);
    const counts = countProblems(result.problems);
    // As `compile`: a manifest that cannot be read (a half-saved edit, a YAML typo) would silently drop
    // its objects from the config, taking their hosts offline. Keep serving what was applied instead.
    const unreadable = result.problems.filter(
      (p) => p.source === "manifest" && p.severity === "Error",
    ).length;
    if (unreadable > 0) {
      if (first) throw new UnreadableInputError(unreadable);
      throw new Error(`${plural(unreadable, "manifest problem")} (listed above)`);
    }
    await writeSecrets(result.output.config, result.built.input.secrets, secretsDir);
    const keysDir = await writeSharedKeys(result.built.input.secrets, join(stateDir, "keys"));
    const changed = await writeAtomically(
      configPath,
      `${JSON.stringify(result.output.config, null, 2)}\n`,
    );
    io.stderr.write(
      `portcullis serve: ${changed ? "compiled" : "unchanged"} config ${result.output.config.version.slice(0, 12)} (${plural(counts.errors, "error")}, ${plural(counts.warnings, "warning")})\n`,
    );
    return keysDir;
  };

  const keysDir = await compileOnce(true);
  const options = buildProxyOptions(values, { configPath, keysDir }, SERVE_DEFAULTS, NAME);
  const running = await runProxy(options);

  let last = await fingerprint(paths);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        const now = await fingerprint(paths);
        if (now !== last) {
          last = now;
          await compileOnce(false);
        }
      } catch (error) {
        io.stderr.write(
          `portcullis serve: recompiling failed; still serving the last config: ${(error as Error).message}\n`,
        );
      } finally {
        busy = false;
      }
    })();
  }, WATCH_INTERVAL_MS);
  const status = await untilSignalled(running);
  clearInterval(timer);
  if (createdStateDir) await rm(stateDir, { recursive: true, force: true });
  return status;
}

export const serveCommand: Command = {
  name: NAME,
  summary:
    "Compile manifests and serve them: TLS termination, affinity, routing (no cluster needed)",
  usage,
  run,
};
