// Options of the commands that run the proxy (`proxy`, `serve`), parsed in one place.

import { availableParallelism } from "node:os";
import { DEFAULT_PROXY_OPTIONS, type ProxyOptions } from "../proxy/supervisor.ts";
import type { OptionSpec } from "./args.ts";
import { disarmEarlySignals } from "./early-signals.ts";
import { InvalidOptionValueError } from "./errors.ts";

export const proxyOptionSpecs = {
  "https-port": { type: "string" },
  "http-port": { type: "string" },
  "admin-port": { type: "string" },
  "bind-address": { type: "string" },
  workers: { type: "string" },
  "drain-seconds": { type: "string" },
  "drain-delay-seconds": { type: "string" },
  "trusted-proxy": { type: "string", multiple: true },
  "log-level": { type: "string" },
} as const satisfies Record<string, OptionSpec>;

export interface ProxyOptionValues {
  "https-port"?: string | undefined;
  "http-port"?: string | undefined;
  "admin-port"?: string | undefined;
  "bind-address"?: string | undefined;
  workers?: string | undefined;
  "drain-seconds"?: string | undefined;
  "drain-delay-seconds"?: string | undefined;
  "trusted-proxy"?: string[] | undefined;
  "log-level"?: string | undefined;
}

export function proxyOptionsHelp(defaults: {
  bindAddress: string;
  httpsPort: number;
  httpPort: number;
  adminPort: number;
}): string {
  return [
    `      --https-port N            HTTPS port (default ${defaults.httpsPort})`,
    `      --http-port N             Plain HTTP port: redirects and non-TLS hosts (default ${defaults.httpPort})`,
    `      --admin-port N            /healthz /readyz /metrics /config (default ${defaults.adminPort})`,
    `      --bind-address ADDR       Address to listen on (default ${defaults.bindAddress})`,
    `      --workers N               Worker processes sharing the ports (default: one per core, ${availableParallelism()})`,
    `      --drain-seconds N         On SIGTERM, exit within N seconds (default ${DEFAULT_PROXY_OPTIONS.drainSeconds})`,
    "      --drain-delay-seconds N   On SIGTERM, report not-ready for N seconds before draining (default 0)",
    "      --trusted-proxy CIDR      Peer whose X-Forwarded-* headers are kept (repeatable; default none)",
    "      --log-level LEVEL         error, warn, info (default) or debug",
  ].join("\n");
}

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  command: string,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new InvalidOptionValueError(
      name,
      value,
      `expected an integer from ${min} to ${max}`,
      command,
    );
  }
  return parsed;
}

/** ProxyOptions from the command line, over `defaults`. */
export function buildProxyOptions(
  values: ProxyOptionValues,
  base: Pick<ProxyOptions, "configPath" | "keysDir" | "initialConfigPath">,
  defaults: Omit<ProxyOptions, "configPath" | "keysDir">,
  command: string,
): ProxyOptions {
  const level = values["log-level"] ?? defaults.logLevel;
  if (!["error", "warn", "info", "debug"].includes(level)) {
    throw new InvalidOptionValueError(
      "log-level",
      level,
      "expected error, warn, info or debug",
      command,
    );
  }
  return {
    ...defaults,
    ...base,
    httpsPort: integer("https-port", values["https-port"], defaults.httpsPort, command, 0, 65535),
    httpPort: integer("http-port", values["http-port"], defaults.httpPort, command, 0, 65535),
    adminPort: integer("admin-port", values["admin-port"], defaults.adminPort, command, 0, 65535),
    bindAddress: values["bind-address"] ?? defaults.bindAddress,
    workers: integer("workers", values.workers, defaults.workers, command, 1, 256),
    drainSeconds: integer(
      "drain-seconds",
      values["drain-seconds"],
      defaults.drainSeconds,
      command,
      1,
      3600,
    ),
    drainDelaySeconds: integer(
      "drain-delay-seconds",
      values["drain-delay-seconds"],
      defaults.drainDelaySeconds,
      command,
      0,
      600,
    ),
    trustedProxies: values["trusted-proxy"] ?? defaults.trustedProxies,
    logLevel: level as ProxyOptions["logLevel"],
  };
}

/** Runs until SIGTERM or SIGINT, then drains; resolves with the exit status. */
export async function untilSignalled(running: {
  stop(): Promise<void>;
  done: Promise<void>;
}): Promise<number> {
  const onSignal = (): void => {
    void running.stop();
  };
  disarmEarlySignals();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  await running.done;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  return 0;
}
