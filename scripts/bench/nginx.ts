// nginx as a proxy under test: 1 worker, TLS termination with the bench certificate, HTTP/1.1 and
// HTTP/2, round robin over the two backends with upstream keep-alive. OSS nginx has no sticky-cookie
// balancer (that is nginx Plus's `sticky cookie`), so it does the job without affinity.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempPaths } from "./backends.ts";
import type { CertificateFiles } from "./certificates.ts";
import { type Started, startPinned, waitForPort } from "./processes.ts";
import { TLS12_CIPHERS, TLS13_SUITES } from "./tls-policy.ts";

/** What an nginx proxy config needs. */
export interface NginxProxySpec {
  runDir: string;
  port: number;
  backendPorts: readonly number[];
  certificate: CertificateFiles;
  /** The shared `ssl_session_ticket_key` file. */
  ticketKeyFile: string;
}

/** nginx.conf for the proxy under test (pure). */
export function buildNginxProxyConfig(spec: NginxProxySpec): string {
  const servers = spec.backendPorts.map((port) => `    server 127.0.0.1:${port};`).join("\n");
  return `# nginx under test: TLS termination, round robin, upstream keep-alive.
worker_processes 1;
daemon off;
pid ${join(spec.runDir, "nginx.pid")};
error_log ${join(spec.runDir, "error.log")} warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
${tempPaths(spec.runDir)}
  access_log off;
  keepalive_timeout 60s;
  keepalive_requests 10000000;
  upstream backends {
${servers}
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${spec.port} ssl http2 backlog=4096;
    server_name *.example.com example.com;
    ssl_certificate ${spec.certificate.chainPath};
    ssl_certificate_key ${spec.certificate.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${TLS12_CIPHERS};
    ssl_conf_command Ciphersuites ${TLS13_SUITES};
    ssl_prefer_server_ciphers on;
    ssl_session_tickets on;
    ssl_session_ticket_key ${spec.ticketKeyFile};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts nginx (master + 1 worker) pinned to `core` and waits until it listens. */
export async function startNginxProxy(spec: NginxProxySpec, core: number): Promise<Started> {
  await mkdir(spec.runDir, { recursive: true });
  const config = join(spec.runDir, "nginx.conf");
  await writeFile(config, buildNginxProxyConfig(spec));
  const process = startPinned("nginx proxy", core, "nginx", ["-p", spec.runDir, "-c", config]);
  await waitForPort(spec.port, 10_000, process);
  return process;
}
