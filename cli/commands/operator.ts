// `portcullis operator`: the control plane. Watches Ingresses, LoadBalancerPolicies and what they
// reference, compiles them, and (as the elected leader) applies the proxy fleet and writes statuses
// (operator/controllers/operator.ts). Serves /healthz and /readyz for its own probes. Runs until
// SIGTERM or SIGINT, then ends its term and releases the Lease so another replica takes over at once.
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseDurationSeconds } from "../../operator/api/duration.ts";
import { createOperator, type Operator } from "../../operator/controllers/operator.ts";
import {
  type InfraSettingsInput,
  InvalidInfraSettingsError,
  resolveInfraSettings,
} from "../../operator/infra/index.ts";
import { createLeaderElector } from "../../operator/kube/leader-election.ts";
import { createServer } from "../../proxy/http/node-http.ts";
import { createLogger, isLogLevel } from "../../proxy/observability/logger.ts";
import { parseCommandArgs } from "../args.ts";
import type { Command, CommandIo } from "../command.ts";
import { EXIT_OK, InvalidOptionValueError, UsageError } from "../errors.ts";
import { loadKubeConfig } from "../kubeconfig.ts";
import { untilSignalled } from "../proxy-options.ts";

const NAME = "operator";
const NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
const optionSpecs = {
  kubeconfig: { type: "string" },
  namespace: { type: "string", short: "n" },
  image: { type: "string" },
  "proxy-settings": { type: "string" },
  "ingress-class": { type: "string" },
  "default-certificate": { type: "string" },
  "secret-namespaces": { type: "string" },
  "no-leader-election": { type: "boolean" },
  "lease-name": { type: "string" },
  "lease-duration": { type: "string" },
  "renew-deadline": { type: "string" },
  "retry-period": { type: "string" },
  identity: { type: "string" },
  "health-port": { type: "string" },
  "health-host": { type: "string" },
  "affinity-key-rotation": { type: "string" },
  resync: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(): string {
  return `Usage: portcullis operator --image IMAGE [options]

Runs the control plane: reconciles Ingresses of the IngressClass and LoadBalancerPolicies into the
proxy fleet (Deployment, Services, ConfigMap, Secrets) and writes their status. With several
replicas, one is elected leader through a Lease and only it writes.

Options:
      --kubeconfig PATH          Kubeconfig (default: the pod's in-cluster service account)
  -n, --namespace NS             Controller namespace, where the fleet runs (default: the pod's own,
                                 else "portcullis-system")
      --image IMAGE              Image of the proxy pods (or "image" in --proxy-settings)
      --proxy-settings FILE      YAML or JSON settings of the proxy fleet (replicas, resources,
                                 service, ...: see docs/reference.md)
      --ingress-class NAME       IngressClass to serve; it owns the fleet (default "portcullis")
      --default-certificate NS/NAME
                                 Secret served to handshakes whose SNI matches no host
      --secret-namespaces NS[,NS...]
                                 Read Secrets only in these namespaces (and its own), so that it
                                 needs no cluster-wide Secret access (default: all namespaces)
      --no-leader-election       Write without a Lease (a single replica only)
      --lease-name NAME          Lease in the controller namespace (default "portcullis-operator")
      --lease-duration SECONDS   Failover time of a crashed leader (default 15)
      --renew-deadline SECONDS   Leader gives up after this long without renewal (default 10)
      --retry-period SECONDS     Between renewals and attempts (default 2)
      --identity ID              This replica's identity (default: host name and a random suffix)
      --health-port PORT         Port of /healthz and /readyz (default 8081; 0 picks one)
      --health-host HOST         Address to bind it (default 0.0.0.0)
      --affinity-key-rotation D  Rotate the affinity cookie key every D, e.g. "168h"; "0s" never
                                 (default 168h)
      --resync D                 Recompile at least every D (default 60s)
      --log-level LEVEL          error, warn, info (default) or debug
  -h, --help                     Show this help
`;
}

async function run(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpecs, NAME);
  if (values.help) {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, NAME);
  const level = values["log-level"] ?? "info";
  if (!isLogLevel(level))
    throw new InvalidOptionValueError(
      "log-level",
      level,
      "expected error, warn, info or debug",
      NAME,
    );

  const kubeConfig = loadKubeConfig(values.kubeconfig, NAME);
  const inCluster = process.env.KUBERNETES_SERVICE_HOST !== undefined;

  const namespace =
    values.namespace ??
    (inCluster ? (await readFile(NAMESPACE_FILE, "utf8").catch(() => "")).trim() : "") ??
    "";
  const settingsInput = await readSettings(values["proxy-settings"]);
  const image = values.image ?? settingsInput.image;
  if (!image)
    throw new UsageError("--image IMAGE is required (or image in --proxy-settings)", NAME);
  let settings: ReturnType<typeof resolveInfraSettings>;
  try {
    settings = resolveInfraSettings({
      ...settingsInput,
      image,
      namespace: namespace || settingsInput.namespace || "portcullis-system",
    });
  } catch (error) {
    if (error instanceof InvalidInfraSettingsError)
      throw new UsageError(`--proxy-settings: ${error.problems.join("; ")}`, NAME);
    throw error;
  }
  const seconds = (option: keyof typeof values, fallback: number): number => {
    const text = values[option];
    if (typeof text !== "string") return fallback;
    const parsed = /^\d+$/.test(text) ? Number(text) : parseDurationSeconds(text);
    if (parsed === undefined || !Number.isFinite(parsed) || parsed < 0)
      throw new InvalidOptionValueError(
        option,
        text,
        "expected seconds or a duration like 30s",
        NAME,
      );
    return parsed;
  };
  const healthPort = seconds("health-port", 8081);
  const identity = values.identity ?? `${hostname()}-${Math.random().toString(36).slice(2, 8)}`;

  const logger = createLogger({ level, component: NAME, stream: io.stdout });
  // The health server comes first: liveness must hold while the API server is still unreachable.
  let operator: Operator | undefined;
  const health = await listenHealth(
    healthPort,
    values["health-host"] ?? "0.0.0.0",
    () => operator?.ready() ?? false,
  );
  logger.info("Started operator", {
    namespace: settings.namespace,
    identity,
    healthPort: (health.address() as { port: number }).port,
  });
  const stopper = new AbortController();
  const elector = values["no-leader-election"]
    ? undefined
    : createLeaderElector({
        kubeConfig,
        namespace: settings.namespace,
        name: values["lease-name"] ?? "portcullis-operator",
        identity,
        leaseDurationSeconds: seconds("lease-duration", 15),
        renewDeadlineSeconds: seconds("renew-deadline", 10),
        retryPeriodSeconds: seconds("retry-period", 2),
        logger,
      });
  const done = (async () => {
    operator = await createOperator({
      kubeConfig,
      logger,
      identity,
      settings,
      ingressClassName: values["ingress-class"] ?? "portcullis",
      defaultCertificate: values["default-certificate"],
      affinityKeyRotationSeconds: seconds("affinity-key-rotation", 7 * 24 * 3600),
      resyncSeconds: Math.max(1, seconds("resync", 60)),
      signal: stopper.signal,
      secretNamespaces: secretNamespaces(values["secret-namespaces"]),
    });
    if (stopper.signal.aborted) return;
    const running = operator;
    await running.start();
    if (elector === undefined) await running.lead(stopper.signal);
    else
      await elector.run({
        onStartedLeading: (signal) => running.lead(signal),
        onStoppedLeading: () => {},
        onNewLeader: (leader) => logger.info("Observed leader", { leader }),
      });
  })();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopper.abort();
      await elector?.stop();
      // Stopping the operator also ends a start() still waiting for the API server, so `done` settles.
      await operator?.stop();
      await done.catch(() => {});
      await new Promise<void>((resolve) => health.close(() => resolve()));
      logger.info("Stopped operator", {});
    })();
    return stopping;
  };
  return untilSignalled({
    stop,
    done: done.then(
      () => stop(),
      (error: unknown) => {
        // Stopped while still starting (waiting for the API server): not a failure.
        if (stopper.signal.aborted) logger.info("Stopped before the operator had started", {});
        else logger.error("Operator failed", { error: String(error) });
        return stop();
      },
    ),
  });
}

function secretNamespaces(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
      throw new InvalidOptionValueError(
        "secret-namespaces",
        name,
        "expected namespace names",
        NAME,
      );
  }
  return names;
}

async function readSettings(path: string | undefined): Promise<Partial<InfraSettingsInput>> {
  if (path === undefined) return {};
  const text = await readFile(resolve(path), "utf8");
  const parsed = parseYaml(text) as unknown;
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw new UsageError(`--proxy-settings ${path}: expected a mapping of settings`, NAME);
  return parsed as Partial<InfraSettingsInput>;
}

function listenHealth(port: number, host: string, ready: () => boolean): Promise<Server> {
  const server = createServer((request, response) => {
    const path = request.url?.split("?")[0];
    const ok = path === "/healthz" || (path === "/readyz" && ready());
    const known = path === "/healthz" || path === "/readyz";
    response.writeHead(known ? (ok ? 200 : 503) : 404, { "content-type": "text/plain" });
    response.end(known ? (ok ? "ok\n" : "not ready\n") : "not found\n");
  });
  server.requestTimeout = 5000;
  server.headersTimeout = 5000;
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolvePromise(server));
  });
}

export const operatorCommand: Command = {
  name: NAME,
  summary: "Run the control plane: reconcile Ingresses and policies into the proxy fleet",
  usage,
  run,
};
