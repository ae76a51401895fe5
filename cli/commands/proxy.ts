// `portcullis proxy --config FILE`: the data plane as it runs in a pod: it reads the ProxyConfig file
// (re-reading it when it changes) and the shared keys directory, and serves until SIGTERM.
import { resolve } from "node:path";
import { DEFAULT_PROXY_OPTIONS, runProxy } from "../../proxy/supervisor.ts";
import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, UsageError } from "../errors.ts";
import {
  buildProxyOptions,
  proxyOptionSpecs,
  proxyOptionsHelp,
  untilSignalled,
} from "../proxy-options.ts";

const NAME = "proxy";
const optionSpecs = {
  ...proxyOptionSpecs,
  config: { type: "string" },
  "initial-config": { type: "string" },
  "keys-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  return `Usage: portcullis proxy --config FILE [--keys-dir DIR] [options]

Runs the Portcullis proxy on a ProxyConfig file (what \`portcullis compile\` prints, or what the
operator writes), re-reading it when it changes; an invalid file is reported and the last good
config keeps serving. Certificates are read from the paths the config names and hot-reloaded.

Options:
      --config FILE             The ProxyConfig JSON file (required)
      --initial-config FILE     A config to serve until FILE holds a valid one (e.g. a ConfigMap volume)
      --keys-dir DIR            Shared keys: files ticket-secret and affinity-secret (32+ bytes each).
                                Without it, keys are generated and only this process group shares them.
${proxyOptionsHelp(DEFAULT_PROXY_OPTIONS)}
  -h, --help                    Show this help
`;
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpecs, NAME);
  if (values.help) {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, NAME);
  if (!values.config) throw new UsageError("--config FILE is required", NAME);
  const options = buildProxyOptions(
    values,
    {
      configPath: resolve(values.config),
      keysDir: values["keys-dir"] ? resolve(values["keys-dir"]) : undefined,
      initialConfigPath: values["initial-config"] ? resolve(values["initial-config"]) : undefined,
    },
    DEFAULT_PROXY_OPTIONS,
    NAME,
  );
  return untilSignalled(await runProxy(options));
}

export const proxyCommand: Command = {
  name: NAME,
  summary: "Run the proxy on a ProxyConfig file (as in a pod)",
  usage,
  run,
};
