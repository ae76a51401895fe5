// The three proxies under test behind one interface: start one of a kind with a given certificate,
// pinned to the proxy core, on a fresh port; stop it.
import { join } from "node:path";
import type { BenchSecrets, KeyType } from "./certificates.ts";
import { startHaproxy } from "./haproxy.ts";
import { startNginxProxy } from "./nginx.ts";
import { deployPortcullis, type PortcullisDeployment, startPortcullis } from "./portcullis.ts";
import { freePort } from "./ports.ts";
import type { Started } from "./processes.ts";

export type ProxyKind = "nginx" | "haproxy" | "portcullis";
/** Every kind, in report column order. */
export const PROXY_KINDS: readonly ProxyKind[] = ["nginx", "haproxy", "portcullis"];
/** Column titles. */
export const PROXY_TITLES: Record<ProxyKind, string> = {
  nginx: "nginx",
  haproxy: "HAProxy",
  portcullis: "Portcullis",
};

/** One running proxy under test. */
export interface RunningProxy {
  kind: ProxyKind;
  keyType: KeyType;
  /** Its HTTPS port on 127.0.0.1. */
  port: number;
  /** The root process (nginx master, haproxy, portcullis supervisor); its descendants count too. */
  process: Started;
}

/** What every proxy start needs. */
export interface ProxyEnvironment {
  /** Where config and state directories go. */
  dir: string;
  core: number;
  backendPorts: readonly number[];
  secrets: BenchSecrets;
}

let instances = 0;
const deployments = new Map<KeyType, PortcullisDeployment>();

/** Starts a `kind` proxy serving the `keyType` certificate on a fresh port and directory. */
export async function startProxy(
  env: ProxyEnvironment,
  kind: ProxyKind,
  keyType: KeyType,
): Promise<RunningProxy> {
  const port = await freePort();
  const runDir = join(env.dir, `${kind}-${keyType}-${++instances}`);
  const certificate = env.secrets.certificates[keyType];
  let process: Started;
  switch (kind) {
    case "nginx":
      process = await startNginxProxy(
        {
          runDir,
          port,
          backendPorts: env.backendPorts,
          certificate,
          ticketKeyFile: env.secrets.tickets.nginx,
        },
        env.core,
      );
      break;
    case "haproxy":
      process = await startHaproxy(
        {
          runDir,
          port,
          backendPorts: env.backendPorts,
          certificate,
          ticketKeysFile: env.secrets.tickets.haproxy,
        },
        env.core,
      );
      break;
    case "portcullis": {
      // Compiled once per key type: every process of a key type runs the same config and keys.
      let deployment = deployments.get(keyType);
      if (!deployment) {
        deployment = await deployPortcullis(join(env.dir, `portcullis-${keyType}`), {
          backendPorts: env.backendPorts,
          certificate,
          keys: env.secrets.tickets.portcullis,
        });
        deployments.set(keyType, deployment);
      }
      process = await startPortcullis(deployment, port, env.core);
      break;
    }
  }
  return { kind, keyType, port, process };
}
