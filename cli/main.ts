// Subcommand dispatch for `portcullis`: global --help and --version, then the named command.
// Errors the CLI throws on purpose (cli/errors.ts) become one "portcullis: ..." line and their exit
// status; anything else is a bug and is left to the caller (bin/portcullis.ts) to report.
import type { Command, CommandIo } from "./command.ts";
import { checkCommand } from "./commands/check.ts";
import { compileCommand } from "./commands/compile.ts";
import { configSyncCommand } from "./commands/config-sync.ts";
import { operatorCommand } from "./commands/operator.ts";
import { proxyCommand } from "./commands/proxy.ts";
import { serveCommand } from "./commands/serve.ts";
import {
  EXIT_OK,
  EXIT_USAGE,
  PortcullisCliError,
  UnknownCommandError,
  UsageError,
} from "./errors.ts";
import { parseCommandArgs } from "./options.ts";
import { readVersion } from "./version.ts";

/** Every subcommand, in the order help lists them. */
export const commands: readonly Command[] = [
  checkCommand,
  compileCommand,
  serveCommand,
  proxyCommand,
  configSyncCommand,
  operatorCommand,
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
      io.stdout.write(named.usage()); // `portcullis --help check`
      return EXIT_OK;
    }
    if (name !== undefined) {
      throw new UsageError(`options must follow the command: portcullis COMMAND ${first}`);
    }
    if (values.version) io.stdout.write(`portcullis ${readVersion()}\n`);
    else io.stdout.write(usage());
    return EXIT_OK;
  }
  const command = commands.find((c) => c.name === first);
  if (!command) throw new UnknownCommandError(first);
  return command.run(rest, io);
}
