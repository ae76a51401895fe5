// The configs given to each proxy: what they must contain, and — where the program is installed —
// that it accepts them (nginx -t, haproxy -c) and that `portcullis check` accepts the manifests.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { buildBackendsConfig } from "./backends.ts";
import { type BenchSecrets, writeBenchSecrets } from "./certificates.ts";
import { buildHaproxyConfig } from "./haproxy.ts";
import { hasCommand } from "./install.ts";
import { buildNginxProxyConfig } from "./nginx.ts";
import { buildPortcullisManifests, NODE, REPO } from "./portcullis.ts";

let dir: string;
let secrets: BenchSecrets;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-bench-test-"));
  secrets = await writeBenchSecrets(join(dir, "pki"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("nginx proxy: TLS 1.2+1.3, shared ticket key, upstream keep-alive to both backends", async () => {
  const config = buildNginxProxyConfig({
    runDir: dir,
    port: 28443,
    backendPorts: [28001, 28002],
    certificate: secrets.certificates["ecdsa-p256"],
    ticketKeyFile: secrets.tickets.nginx,
  });
  for (const line of [
    "worker_processes 1;",
    "listen 127.0.0.1:28443 ssl http2",
    "ssl_protocols TLSv1.2 TLSv1.3;",
    `ssl_session_ticket_key ${secrets.tickets.nginx};`,
    "server 127.0.0.1:28001;",
    "server 127.0.0.1:28002;",
    "keepalive 64;",
    "proxy_http_version 1.1;",
    'proxy_set_header Connection "";',
    "access_log off;",
  ]) {
    assert.ok(config.includes(line), line);
  }
  if (!hasCommand("nginx")) return;
  const path = join(dir, "nginx-test.conf");
  await writeFile(path, config);
  const checked = spawnSync("nginx", ["-t", "-p", dir, "-c", path], { encoding: "utf8" });
  assert.equal(checked.status, 0, checked.stderr);
});

test("HAProxy: one thread, cookie stickiness, connection reuse, shared ticket keys", async () => {
  const config = buildHaproxyConfig({
    runDir: dir,
    port: 28444,
    backendPorts: [28001, 28002],
    certificate: secrets.certificates["rsa-2048"],
    ticketKeysFile: secrets.tickets.haproxy,
  });
  for (const line of [
    "nbthread 1",
    "cookie SRV insert indirect nocache",
    "http-reuse always",
    "server s1 127.0.0.1:28001 cookie s1",
    "server s2 127.0.0.1:28002 cookie s2",
    `tls-ticket-keys ${secrets.tickets.haproxy}`,
    "alpn h2,http/1.1",
    "ssl-min-ver TLSv1.2",
  ]) {
    assert.ok(config.includes(line), line);
  }
  if (!hasCommand("haproxy")) return;
  const path = join(dir, "haproxy-test.cfg");
  await writeFile(path, config);
  const checked = spawnSync("haproxy", ["-c", "-f", path], { encoding: "utf8" });
  assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
});

test("backends: two ports answering 200 ok, keep-alive for the whole run", () => {
  const config = buildBackendsConfig(dir, [28001, 28002]);
  assert.equal(config.match(/return 200 "ok";/g)?.length, 2);
  assert.ok(config.includes("keepalive_requests 10000000;"));
});

test("Portcullis manifests pass `portcullis check` (affinity policy, two endpoints)", async () => {
  const manifests = buildPortcullisManifests({
    backendPorts: [28001, 28002],
    certificate: secrets.certificates["ecdsa-p256"],
  });
  const path = join(dir, "manifests.yaml");
  await writeFile(path, manifests.map((o) => stringify(o)).join("---\n"));
  const checked = spawnSync(NODE, [join(REPO, "bin", "portcullis.ts"), "check", path], {
    encoding: "utf8",
    cwd: REPO,
  });
  assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
  assert.ok(
    manifests.some((o) => (o as { kind?: string }).kind === "LoadBalancerPolicy"),
    "has an affinity policy",
  );
});
