// Subcommand dispatch for `portcullis`: global --help and --version, then the named command.
// Errors the CLI throws on purpose (cli/errors.ts) become one "portcullis: ..." line and their exit
// status; anything else is a bug and is left to the caller (bin/portcullis.ts) to report.

import { parseCommandArgs } from "./args.ts";
import type { Command, CommandIo } from "./command.ts";
import {
  EXIT_OK,
  EXIT_USAGE,
  PortcullisCliError,
  UnknownCommandError,
  UsageError,
} from "./errors.ts";
import { readVersion } from "./version.ts";

/** A subcommand as the top-level help lists it; its module is loaded only when it runs. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

/**
 * Every subcommand, in the order help lists them. Loaded on demand: the proxy's processes need none of
 * the compiler, the Kubernetes client or the operator, and importing them all cost every process
 * tens of MiB of memory and most of its start-up time. cli.test.ts checks that each summary here is
 * the module's own.
 */
export const commands: readonly CommandEntry[] = [
  {
    name: "check",
    summary: "Report problems in manifests (schema, references, certificates) by file and line",
    load: async () => (await import("./commands/check.ts")).checkCommand,
  },
  {
    name: "compile",
    summary: "Print the proxy configuration the controller would build from manifests",
    load: async () => (await import("./commands/compile.ts")).compileCommand,
  },
  {
    name: "serve",
    summary:
      "Compile manifests and serve them: TLS termination, affinity, routing (no cluster needed)",
    load: async () => (await import("./commands/serve.ts")).serveCommand,
  },
  {
    name: "proxy",
    summary: "Run the proxy on a ProxyConfig file (as in a pod)",
    load: async () => (await import("./commands/proxy.ts")).proxyCommand,
  },
  {
    name: "config-sync",
    summary: "Watch the proxy's ConfigMap and write its config file (the proxy pod's sidecar)",
    load: async () => (await import("./commands/config-sync.ts")).configSyncCommand,
  },
  {
    name: "operator",
    summary: "Run the control plane: reconcile Ingresses and policies into the proxy fleet",
    load: async () => (await import("./commands/operator.ts")).operatorCommand,
  },
];

/** `portcullis --help`. */
export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  const list = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n");
  return `Usage: portcullis COMMAND [options] [ARGS...]

Portcullis is a Kubernetes ingress controller that terminates TLS at the load balancer.

Commands:
${list}

Options:
  -h, --help       Show this help (portcullis COMMAND --help for a command's)
  -v, --version    Print the version

`;
}

const globalOptions = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

/** Runs the command line `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (!(error instanceof PortcullisCliError)) throw error;
    io.stderr.write(`portcullis: ${error.message}\n`);
    if (error instanceof UsageError) {
      const help = error.command ? `portcullis ${error.command} --help` : "portcullis --help";
      io.stderr.write(`Run "${help}" for usage.\n`);
    }
    return error.exitCode;
  }
}

async function dispatch(argv: readonly string[], io: CommandIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(usage());
    return EXIT_USAGE;
  }
  if (first.startsWith("-")) {
    const { values, positionals } = parseCommandArgs(argv, globalOptions, "");
    const [name, ...extra] = positionals;
    const named = commands.find((c) => c.name === name);
    if (values.help && named && extra.length === 0) {
      io.stdout.write((await named.load()).usage()); // `portcullis --help check`
      return EXIT_OK;
    }
    if (name !== undefined) {
      throw new UsageError(`options must follow the command: portcullis COMMAND ${first}`);
    }
    if (values.version) io.stdout.write(`portcullis ${readVersion()}\n`);
    else io.stdout.write(usage());
    return EXIT_OK;
  }
  const entry = commands.find((c) => c.name === first);
  if (!entry) throw new UnknownCommandError(first);
  return (await entry.load()).run(rest, io);
}
