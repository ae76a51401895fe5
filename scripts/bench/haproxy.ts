// HAProxy as a proxy under test: 1 thread, TLS termination with the bench certificate (HTTP/1.1 and
// HTTP/2 by ALPN), cookie stickiness (`cookie SRV insert indirect nocache`) over the two backends, idle
// upstream connections shared between client connections (`http-reuse always`, as nginx's keepalive
// pool and Portcullis's pool do).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CertificateFiles } from "./certificates.ts";
import { type Started, startPinned, waitForPort } from "./processes.ts";
import { TLS12_CIPHERS, TLS13_SUITES } from "./tls-policy.ts";

/** What a HAProxy config needs. */
export interface HaproxySpec {
  runDir: string;
  port: number;
  backendPorts: readonly number[];
  certificate: CertificateFiles;
  /** The shared `tls-ticket-keys` file. */
  ticketKeysFile: string;
}

/** The stickiness cookie's name; its value is the server's `cookie` id (s1, s2). */
export const HAPROXY_COOKIE = "SRV";

/** haproxy.cfg (pure). */
export function buildHaproxyConfig(spec: HaproxySpec): string {
  const servers = spec.backendPorts
    .map((port, i) => `  server s${i + 1} 127.0.0.1:${port} cookie s${i + 1}`)
    .join("\n");
  return `# HAProxy under test: TLS termination, cookie stickiness, upstream connection reuse.
global
  nbthread 1
  maxconn 8000
  pidfile ${join(spec.runDir, "haproxy.pid")}
  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-bind-ciphers ${TLS12_CIPHERS}
  ssl-default-bind-ciphersuites ${TLS13_SUITES}

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  timeout http-request 10s

frontend https
  bind 127.0.0.1:${spec.port} ssl crt ${spec.certificate.combinedPath} alpn h2,http/1.1 tls-ticket-keys ${spec.ticketKeysFile}
  default_backend apps

backend apps
  balance roundrobin
  cookie ${HAPROXY_COOKIE} insert indirect nocache
  http-reuse always
${servers}
`;
}

/** Starts HAProxy (one process, foreground) pinned to `core` and waits until it listens. */
export async function startHaproxy(spec: HaproxySpec, core: number): Promise<Started> {
  await mkdir(spec.runDir, { recursive: true });
  const config = join(spec.runDir, "haproxy.cfg");
  await writeFile(config, buildHaproxyConfig(spec));
  const process = startPinned("HAProxy", core, "haproxy", ["-db", "-f", config]);
  await waitForPort(spec.port, 10_000, process);
  return process;
}
