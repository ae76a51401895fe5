import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import { CertificateStore } from "./certificate-store.ts";
import {
  certificateEntry,
  eventually,
  proxyConfig,
  RecordingLogger,
  RecordingMetrics,
  temporaryDirectory,
  tlsHost,
  writeSecretVolume,
} from "./testing/fixtures.ts";
import { tlsProfileKey } from "./tls-settings.ts";

let ca: CertificateAuthority;
let root: string;
const stores: CertificateStore[] = [];

before(async () => {
  ca = await createCertificateAuthority();
  root = await temporaryDirectory();
});

after(() => {
  for (const store of stores) store.close();
});

function newStore(watchDirectories = true): {
  store: CertificateStore;
  logger: RecordingLogger;
  metrics: RecordingMetrics;
} {
  const logger = new RecordingLogger();
  const metrics = new RecordingMetrics();
  const store = new CertificateStore({ logger, metrics, watchDirectories });
  stores.push(store);
  return { store, logger, metrics };
}

async function volume(name: string, dnsNames: string[]): Promise<string> {
  const directory = join(root, name);
  const leaf = await issueCertificate(ca, { dnsNames });
  await writeSecretVolume(directory, { chainPem: leaf.chainPem, keyPem: leaf.keyPem });
  return directory;
}

test("hosts select their certificate: exact before wildcard, unknown by policy", async () => {
  const wildcardDir = await volume("wild", ["*.example.com"]);
  const exactDir = await volume("exact", ["shop.example.com"]);
  const { store, metrics } = newStore();
  const config = proxyConfig({
    certificates: [
      certificateEntry("ns/wild", wildcardDir),
      certificateEntry("ns/exact", exactDir),
    ],
    virtualHosts: [tlsHost("shop.example.com", "ns/exact"), tlsHost("*.example.com", "ns/wild")],
  });
  await store.update(config);
  const snapshot = store.snapshot;
  assert.equal(snapshot.configVersion, config.version);
  assert.equal(snapshot.select("SHOP.example.com.")?.certificate.name, "ns/exact");
  assert.equal(snapshot.select("cart.example.com")?.certificate.name, "ns/wild");
  assert.equal(snapshot.select("a.b.example.com"), undefined, "Reject: no fallback");
  assert.equal(snapshot.select(undefined), undefined);
  assert.equal(snapshot.fallback, undefined);
  assert.deepEqual(snapshot.select("cart.example.com")?.certificate.dnsNames, ["*.example.com"]);
  assert.equal(snapshot.profiles.size, 1);
  assert.deepEqual(
    metrics.reloads.map((r) => r.outcome),
    ["ok", "ok"],
  );
  assert.ok((metrics.expiry.get("ns/wild") ?? 0) > Date.now() / 1000);

  await store.update({
    ...config,
    listener: {
      ...config.listener,
      defaultCertificate: "ns/wild",
      unknownServerName: "DefaultCertificate",
    },
  });
  assert.equal(store.snapshot.select("a.b.example.com")?.certificate.name, "ns/wild");
  assert.equal(store.snapshot.select(undefined)?.host, "");
});

test("hosts with different handshake settings get different profiles", async () => {
  const directory = await volume("profiles", ["a.test", "b.test"]);
  const { store } = newStore();
  await store.update(
    proxyConfig({
      certificates: [certificateEntry("ns/ab", directory)],
      virtualHosts: [
        tlsHost("a.test", "ns/ab"),
        tlsHost("b.test", "ns/ab", { minVersion: "TLSv1.3", sessionTickets: false }),
      ],
    }),
  );
  const a = store.snapshot.select("a.test");
  const b = store.snapshot.select("b.test");
  assert.ok(a && b);
  assert.notEqual(a.profileKey, b.profileKey);
  assert.equal(b.profileKey, tlsProfileKey(b.profile));
  assert.equal(store.snapshot.profiles.size, 2);
  assert.notEqual(a.context, b.context, "one context per (certificate, profile)");
});

test("a broken new file keeps the old certificate and is reported once", async () => {
  const directory = await volume("broken", ["broken.test"]);
  const { store, logger, metrics } = newStore();
  await store.update(
    proxyConfig({
      certificates: [certificateEntry("ns/broken", directory)],
      virtualHosts: [tlsHost("broken.test", "ns/broken")],
    }),
  );
  const before = store.snapshot.select("broken.test");
  assert.ok(before);
  const other = await issueCertificate(ca, { dnsNames: ["broken.test"] });
  // A key that does not belong to the certificate, swapped in atomically.
  await writeSecretVolume(directory, {
    chainPem: (await issueCertificate(ca, { dnsNames: ["broken.test"] })).chainPem,
    keyPem: other.keyPem,
  });
  await store.checkNow();
  await store.checkNow();
  assert.equal(store.snapshot.select("broken.test")?.certificate.sha256, before.certificate.sha256);
  const errors = logger.at("error");
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]?.fields?.error), /does not belong/);
  assert.equal(errors[0]?.fields?.kept, before.certificate.sha256);
  assert.deepEqual(
    metrics.reloads.filter((r) => r.outcome === "error").map((r) => r.name),
    ["ns/broken"],
  );
  // Garbage PEM: also kept, also reported.
  await writeSecretVolume(directory, { chainPem: "not a certificate", keyPem: other.keyPem });
  await store.checkNow();
  assert.equal(store.snapshot.select("broken.test")?.certificate.sha256, before.certificate.sha256);
  assert.match(String(logger.at("error")[1]?.fields?.error), /no PEM certificate/);
  // No log line carries key material.
  const keyBody = other.keyPem.split("\n")[1] ?? "";
  assert.ok(!JSON.stringify(logger.lines).includes(keyBody));
});

for (const watchDirectories of [true, false]) {
  test(`a Kubernetes ..data symlink swap is picked up within 2 s (${watchDirectories ? "watch and poll" : "polling alone"})`, async () => {
    const directory = await volume(`swap-${watchDirectories}`, ["swap.test"]);
    const { store } = newStore(watchDirectories);
    await store.update(
      proxyConfig({
        certificates: [certificateEntry("ns/swap", directory)],
        virtualHosts: [tlsHost("swap.test", "ns/swap")],
      }),
    );
    const first = store.snapshot.select("swap.test")?.certificate.sha256;
    const changes: string[] = [];
    store.onChange((snapshot) =>
      changes.push(snapshot.select("swap.test")?.certificate.sha256 ?? ""),
    );
    const next = await issueCertificate(ca, { dnsNames: ["swap.test", "www.swap.test"] });
    const swappedAt = Date.now();
    await writeSecretVolume(directory, { chainPem: next.chainPem, keyPem: next.keyPem });
    const swapped = await eventually(
      () => store.snapshot.select("swap.test")?.certificate.sha256 !== first,
      5000,
    );
    assert.ok(swapped, "the new certificate was never loaded");
    assert.ok(Date.now() - swappedAt < 2000, `took ${Date.now() - swappedAt} ms`);
    assert.deepEqual(store.snapshot.select("swap.test")?.certificate.dnsNames, [
      "swap.test",
      "www.swap.test",
    ]);
    assert.equal(changes.length, 1);
  });
}

test("touching a file with the same content rebuilds nothing", async () => {
  const directory = await volume("touch", ["touch.test"]);
  const { store, metrics } = newStore();
  await store.update(
    proxyConfig({
      certificates: [certificateEntry("ns/touch", directory)],
      virtualHosts: [tlsHost("touch.test", "ns/touch")],
    }),
  );
  const context = store.snapshot.select("touch.test")?.context;
  let changes = 0;
  store.onChange(() => changes++);
  const pem = await readFile(join(directory, "tls.crt"), "utf8");
  const key = await readFile(join(directory, "tls.key"), "utf8");
  await writeSecretVolume(directory, { chainPem: pem, keyPem: key });
  await store.checkNow();
  assert.equal(changes, 0);
  assert.equal(store.snapshot.select("touch.test")?.context, context);
  assert.equal(metrics.reloads.length, 1);
});

test("a missing file at start leaves the host unknown until the file appears", async () => {
  const directory = join(root, "late");
  const { store, logger } = newStore();
  await store.update(
    proxyConfig({
      certificates: [certificateEntry("ns/late", directory)],
      virtualHosts: [tlsHost("late.test", "ns/late")],
    }),
  );
  assert.equal(store.snapshot.select("late.test"), undefined);
  assert.equal(logger.at("error").length, 1);
  const leaf = await issueCertificate(ca, { dnsNames: ["late.test"] });
  await writeSecretVolume(directory, { chainPem: leaf.chainPem, keyPem: leaf.keyPem });
  await store.checkNow();
  assert.equal(store.snapshot.select("late.test")?.certificate.name, "ns/late");
});

test("a bad cipher list drops that host's context and says why", async () => {
  const directory = await volume("ciphers", ["c.test"]);
  const { store, logger } = newStore();
  await store.update(
    proxyConfig({
      certificates: [certificateEntry("ns/c", directory)],
      virtualHosts: [tlsHost("c.test", "ns/c", { ciphers: "NOT-A-CIPHER" })],
    }),
  );
  assert.equal(store.snapshot.select("c.test"), undefined);
  assert.match(logger.at("error")[0]?.message ?? "", /TLS context/);
});
