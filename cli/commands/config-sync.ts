// `portcullis config-sync --namespace NS --configmap NAME --out FILE`: the proxy pod's sidecar. It
// watches the one ConfigMap the operator applies the compiled ProxyConfig to and writes the config into
// the file the proxy reads, atomically and only when valid (operator/kube/config-sync.ts). Runs until
// SIGTERM or SIGINT.
import { resolve } from "node:path";
import { startConfigSync } from "../../operator/kube/config-sync.ts";
import { createLogger, isLogLevel } from "../../proxy/observability/logger.ts";
import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, InvalidOptionValueError, UsageError } from "../errors.ts";
import { loadKubeConfig } from "../kubeconfig.ts";
import { untilSignalled } from "../proxy-options.ts";

const NAME = "config-sync";
const DEFAULT_KEY = "config.json";
const optionSpecs = {
  namespace: { type: "string", short: "n" },
  configmap: { type: "string" },
  out: { type: "string" },
  key: { type: "string" },
  kubeconfig: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  return `Usage: portcullis config-sync --namespace NS --configmap NAME --out FILE [options]

Watches one ConfigMap and writes its ProxyConfig into FILE atomically whenever it changes, for
\`portcullis proxy --config FILE\` in the same pod. An invalid config is logged and not written (the
proxy keeps its last good one); a deleted ConfigMap leaves FILE as it is. Runs until SIGTERM.

Options:
  -n, --namespace NS            Namespace of the ConfigMap (required)
      --configmap NAME          Name of the ConfigMap (required)
      --out FILE                File to write the config to (required)
      --key KEY                 Key of the ConfigMap's data holding the config (default "${DEFAULT_KEY}")
      --kubeconfig PATH         Kubeconfig to use (default: the pod's in-cluster service account)
      --log-level LEVEL         error, warn, info (default) or debug
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
  const namespace = values.namespace;
  const configMap = values.configmap;
  const out = values.out;
  if (!namespace) throw new UsageError("--namespace NS is required", NAME);
  if (!configMap) throw new UsageError("--configmap NAME is required", NAME);
  if (!out) throw new UsageError("--out FILE is required", NAME);
  const key = values.key ?? DEFAULT_KEY;
  if (key === "") throw new InvalidOptionValueError("key", key, "expected a data key", NAME);
  const level = values["log-level"] ?? "info";
  if (!isLogLevel(level)) {
    throw new InvalidOptionValueError(
      "log-level",
      level,
      "expected error, warn, info or debug",
      NAME,
    );
  }

  const kubeConfig = loadKubeConfig(values.kubeconfig, NAME);
  const logger = createLogger({ level, component: NAME, stream: io.stdout });
  const sync = startConfigSync({
    kubeConfig,
    namespace,
    configMap,
    key,
    outPath: resolve(out),
    logger,
  });
  // An unexpected failure of the initial sync is a bug: report it, but still exit on the signal.
  sync.synced.catch((error: unknown) => {
    logger.error("Failed to start config-sync", { error: String(error) });
  });
  return untilSignalled(sync);
}

export const configSyncCommand: Command = {
  name: NAME,
  summary: "Watch the proxy's ConfigMap and write its config file (the proxy pod's sidecar)",
  usage,
  run,
};
