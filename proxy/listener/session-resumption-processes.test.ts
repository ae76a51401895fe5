// Fleet-wide resumption with real, separate processes: two listener processes given the same ticket
// secret file resume each other's TLS 1.2 and 1.3 sessions; a third with another secret does not.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import {
  certificateEntry,
  proxyConfig,
  temporaryDirectory,
  tlsHost,
  writeSecretVolume,
} from "./testing/fixtures.ts";
import { tlsHandshake } from "./testing/tls-client.ts";

const SCRIPT = fileURLToPath(new URL("./testing/listener-process.ts", import.meta.url));
let ca: CertificateAuthority;
const children: ChildProcess[] = [];
const ports: Record<"a" | "b" | "other", number> = { a: 0, b: 0, other: 0 };

/** Starts a listener process and waits (at most 20 s) for the port it prints. */
function spawnListener(configFile: string, secretFile: string, name: string): Promise<number> {
  // Each process gets a different command line, as replicas started differently would: Node's
  // default session id context is a hash of argv, and resumption must not depend on it.
  const child = spawn(process.execPath, [SCRIPT, configFile, secretFile, name], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("listener process did not start within 20 s")),
      20_000,
    );
    child.once("exit", (code) => reject(new Error(`listener process exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
}

before(async () => {
  ca = await createCertificateAuthority();
  const root = await temporaryDirectory();
  const leaf = await issueCertificate(ca, { dnsNames: ["*.example.com"] });
  await writeSecretVolume(join(root, "wild"), { chainPem: leaf.chainPem, keyPem: leaf.keyPem });
  const configFile = join(root, "config.json");
  await writeFile(
    configFile,
    JSON.stringify(
      proxyConfig({
        certificates: [certificateEntry("ns/wild", join(root, "wild"))],
        virtualHosts: [tlsHost("*.example.com", "ns/wild")],
      }),
    ),
  );
  const shared = join(root, "ticket-secret");
  const different = join(root, "other-secret");
  await writeFile(shared, randomBytes(32), { mode: 0o600 });
  await writeFile(different, randomBytes(32), { mode: 0o600 });
  [ports.a, ports.b, ports.other] = await Promise.all([
    spawnListener(configFile, shared, "a"),
    spawnListener(configFile, shared, "b"),
    spawnListener(configFile, different, "other"),
  ]);
});

after(async () => {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          child.stdin?.end();
        }),
    ),
  );
});

for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
  test(`a session from process A resumes on process B with the same secret, not on C (${version})`, async () => {
    const options = {
      servername: "shop.example.com",
      ca: ca.certificatePem,
      minVersion: version,
      maxVersion: version,
    };
    const first = await tlsHandshake(ports.a, { ...options, sessionWaitMs: 2000 });
    assert.ok(first.ok && first.session, "first handshake with a session");
    assert.equal(first.reused, false);
    const onB = await tlsHandshake(ports.b, { ...options, session: first.session });
    assert.ok(onB.ok);
    assert.equal(onB.reused, true, "resumed on the other process");
    const onOther = await tlsHandshake(ports.other, { ...options, session: first.session });
    assert.ok(onOther.ok);
    assert.equal(onOther.reused, false, "not resumed with another secret");
  });
}
