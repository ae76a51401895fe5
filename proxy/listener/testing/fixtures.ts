// Test fixtures for the listener: ProxyConfigs, Kubernetes-style Secret volumes on disk, and a
// recording logger/metrics pair. Test-only.
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type {
  CertificateConfig,
  HostTlsConfig,
  PassthroughRouteConfig,
  ProxyConfig,
  VirtualHostConfig,
} from "../../config/types.ts";
import {
  type HandshakeKind,
  type LogFields,
  noopMetrics,
  type ProxyLogger,
  type ProxyMetrics,
} from "../../observability/ports.ts";
import { DEFAULT_TLS12_CIPHERS } from "../tls-settings.ts";

/** A HostTls with the Modern defaults, overridable. */
export function hostTls(
  certificate: string,
  overrides: Partial<HostTlsConfig> = {},
): HostTlsConfig {
  return {
    certificate,
    minVersion: "TLSv1.2",
    ciphers: DEFAULT_TLS12_CIPHERS,
    hsts: null,
    httpRedirect: false,
    sessionTickets: true,
    ...overrides,
  };
}

/** A virtual host with TLS and no routes. */
export function tlsHost(
  host: string,
  certificate: string,
  overrides: Partial<HostTlsConfig> = {},
): VirtualHostConfig {
  return { host, tls: hostTls(certificate, overrides), routes: [], defaultCluster: null };
}

/** A certificate entry for files under `directory` (tls.crt / tls.key). */
export function certificateEntry(name: string, directory: string): CertificateConfig {
  return {
    name,
    certFile: join(directory, "tls.crt"),
    keyFile: join(directory, "tls.key"),
    // Compile-time attributes; the listener reads the real ones from the files.
    sha256: Array.from({ length: 32 }, () => "00").join(":"),
    dnsNames: [],
    notAfter: "2100-01-01T00:00:00.000Z",
  };
}

let versionCounter = 0;

/** A ProxyConfig with the given TLS parts and nothing else. */
export function proxyConfig(parts: {
  certificates?: CertificateConfig[];
  virtualHosts?: VirtualHostConfig[];
  passthrough?: PassthroughRouteConfig[];
  defaultCertificate?: string | null;
  unknownServerName?: "DefaultCertificate" | "Reject";
  sessionTicketRotationSeconds?: number;
}): ProxyConfig {
  versionCounter++;
  return {
    schemaVersion: "portcullis.dev/proxy-config/v1alpha1",
    version: versionCounter.toString(16).padStart(64, "0"),
    sources: [],
    listener: {
      defaultCertificate: parts.defaultCertificate ?? null,
      unknownServerName:
        parts.unknownServerName ?? (parts.defaultCertificate ? "DefaultCertificate" : "Reject"),
      sessionTicketRotationSeconds: parts.sessionTicketRotationSeconds ?? 3600,
    },
    certificates: parts.certificates ?? [],
    caBundles: [],
    virtualHosts: parts.virtualHosts ?? [],
    passthrough: parts.passthrough ?? [],
    clusters: [],
  };
}

/** A fresh temporary directory. */
export function temporaryDirectory(prefix = "portcullis-listener-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** PEMs as a kubernetes.io/tls Secret carries them. */
export interface TlsFiles {
  readonly chainPem: string;
  readonly keyPem: string;
}

let generation = 0;

/**
 * Writes `files` (names relative to `directory`, subdirectories allowed) the way the kubelet's atomic
 * writer updates a Secret or ConfigMap volume, so a reader never sees half an update: into a new
 * timestamped directory, then one rename(2) swaps the `..data` symlink to it; each visible name is a
 * symlink through `..data`, and the previous version is removed. Calling it again performs an update
 * exactly as Kubernetes does. `modes` gives a file's permissions where they matter (a private key).
 */
export async function writeAtomicVolume(
  directory: string,
  files: Readonly<Record<string, string | Buffer>>,
  modes: Readonly<Record<string, number>> = {},
): Promise<void> {
  await mkdir(directory, { recursive: true });
  generation++;
  const versioned = `..${new Date().toISOString().replace(/[-:.TZ]/g, "_")}${generation}`;
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(directory, versioned, name)), { recursive: true });
    const mode = modes[name];
    await writeFile(join(directory, versioned, name), content, mode === undefined ? {} : { mode });
  }
  const previous = await readlink(join(directory, "..data")).catch(() => undefined);
  await symlink(versioned, join(directory, "..data_tmp"));
  await rename(join(directory, "..data_tmp"), join(directory, "..data"));
  for (const name of Object.keys(files)) {
    await symlink(join("..data", name), join(directory, name)).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
      },
    );
  }
  if (previous !== undefined) await rm(join(directory, previous), { recursive: true, force: true });
}

/** A TLS Secret volume (`tls.crt`, `tls.key`) written as writeAtomicVolume does. */
export async function writeSecretVolume(directory: string, files: TlsFiles): Promise<void> {
  await writeAtomicVolume(
    directory,
    { "tls.crt": files.chainPem, "tls.key": files.keyPem },
    { "tls.key": 0o600 },
  );
}

/** A logger that keeps every line, for assertions. */
export class RecordingLogger implements ProxyLogger {
  readonly lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: "error", message, fields });
  }
  /** The lines at `level`. */
  at(level: string): { message: string; fields: LogFields | undefined }[] {
    return this.lines.filter((line) => line.level === level);
  }
}

/** Metrics that count what the listener reports. */
export class RecordingMetrics implements ProxyMetrics {
  readonly handshakes: Record<HandshakeKind, number> = { full: 0, resumed: 0 };
  readonly reloads: { name: string; outcome: "ok" | "error" }[] = [];
  readonly expiry = new Map<string, number>();
  openConnections = 0;
  handshake(kind: HandshakeKind): void {
    this.handshakes[kind]++;
  }
  certificateReload(name: string, outcome: "ok" | "error"): void {
    this.reloads.push({ name, outcome });
  }
  certificateExpiry(name: string, notAfterSeconds: number): void {
    this.expiry.set(name, notAfterSeconds);
  }
  connections(delta: number): void {
    this.openConnections += delta;
  }
  request = noopMetrics.request;
  affinity = noopMetrics.affinity;
  upstreamFailure = noopMetrics.upstreamFailure;
  retry = noopMetrics.retry;
  endpointHealth = noopMetrics.endpointHealth;
  forgetEndpoints = noopMetrics.forgetEndpoints;
  configApplied = noopMetrics.configApplied;
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
