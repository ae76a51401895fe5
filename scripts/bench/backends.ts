// The two backends behind every proxy: one nginx instance (1 worker, pinned to the load generator's
// core) answering `200 ok` on two ports — the fastest server at hand, and not under test. Its keep-alive
// limits are raised so upstream connections stay open for the whole run.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { type Started, startPinned, waitForPort } from "./processes.ts";

/** The running backends. */
export interface Backends {
  ports: [number, number];
  process: Started;
}

/** nginx.conf for the backends (pure). */
export function buildBackendsConfig(runDir: string, ports: readonly number[]): string {
  const servers = ports
    .map(
      (port) => `  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / { return 200 "ok"; }
  }`,
    )
    .join("\n");
  return `# Backends for the Portcullis benchmark: not under test.
worker_processes 1;
daemon off;
pid ${join(runDir, "nginx.pid")};
error_log ${join(runDir, "error.log")} warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
${tempPaths(runDir)}
  access_log off;
  default_type text/plain;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
${servers}
}
`;
}

/** nginx's temp directories, inside `runDir` (the defaults under /var/lib need the Debian layout). */
export function tempPaths(runDir: string): string {
  return ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((what) => `  ${what}_temp_path ${join(runDir, `${what}_temp`)};`)
    .join("\n");
}

/** Starts the backends pinned to `core`. */
export async function startBackends(dir: string, core: number): Promise<Backends> {
  await mkdir(dir, { recursive: true });
  const ports: [number, number] = [await freePort(), await freePort()];
  const config = join(dir, "nginx.conf");
  await writeFile(config, buildBackendsConfig(dir, ports));
  const process = startPinned("backends (nginx)", core, "nginx", ["-p", dir, "-c", config]);
  for (const port of ports) await waitForPort(port, 10_000, process);
  return { ports, process };
}
