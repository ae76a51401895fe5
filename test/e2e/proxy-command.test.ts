// `portcullis proxy`, the data plane as a pod runs it: the config file the config-sync sidecar writes
// may not exist yet at start, so `--initial-config` (the ConfigMap volume) serves until it does, and the
// real file takes over as soon as it holds a valid config.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import {
  adminGet,
  createPki,
  delay,
  freePort,
  generateKeys,
  get,
  ingressYaml,
  issueWildcard,
  MANIFEST_FILES,
  NODE,
  PORTCULLIS,
  startBackends,
  startServe,
  stopAllServes,
  temporaryRoot,
  writeManifests,
} from "./support.ts";

after(stopAllServes);

test("proxy serves --initial-config until --config holds a valid config, then follows --config", async () => {
  const root = await temporaryRoot();
  const backends = await startBackends();
  const pki = await createPki();
  const manifests = join(root, "manifests");
  await writeManifests(manifests, {
    app1: backends.app1.map((b) => b.port),
    app2: backends.app2.map((b) => b.port),
    certificate: await issueWildcard(pki.ca),
    keys: generateKeys(),
  });
  // serve writes the config, the certificate files and the keys as the operator would mount them.
  const serve = await startServe({ paths: [manifests], stateDir: join(root, "state") });
  await serve.stop();
  const compiled = join(serve.stateDir, "config.json");
  const synced = join(root, "synced", "config.json");

  const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const proxy = spawn(
    NODE,
    [
      PORTCULLIS,
      "proxy",
      "--config",
      synced,
      "--initial-config",
      compiled,
      "--keys-dir",
      join(serve.stateDir, "keys"),
      "--https-port",
      String(httpsPort),
      "--http-port",
      String(httpPort),
      "--admin-port",
      String(adminPort),
      "--bind-address",
      "127.0.0.1",
      "--workers",
      "1",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  try {
    let ready = false;
    for (let i = 0; i < 150 && !ready; i++) {
      ready = await adminGet(adminPort, "/readyz").then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ready) await delay(100);
    }
    assert.ok(ready, "ready on the initial config while --config does not exist");
    const answer = await get({ port: httpsPort, path: "/app-1/", ca: pki.ca.certificatePem });
    assert.equal(answer.status, 200);

    // The sidecar's first write: a newer config (the Ingress without /app-2), compiled for the same
    // mounted Secrets. The proxy follows --config from now on.
    await writeFile(
      join(manifests, MANIFEST_FILES.ingress),
      ingressYaml([{ path: "/app-1", service: "app-1" }]),
    );
    const compiledNext = spawnSync(
      NODE,
      [PORTCULLIS, "compile", manifests, "--secrets-dir", join(serve.stateDir, "secrets")],
      { encoding: "utf8" },
    );
    assert.equal(compiledNext.status, 0, compiledNext.stderr);
    const next = JSON.parse(compiledNext.stdout) as { version: string };
    const initialVersion = (JSON.parse(await readFile(compiled, "utf8")) as { version: string })
      .version;
    assert.notEqual(next.version, initialVersion);
    await mkdir(dirname(synced), { recursive: true });
    await writeFile(synced, compiledNext.stdout);
    let version = "";
    for (let i = 0; i < 50 && version !== next.version; i++) {
      version = (JSON.parse((await adminGet(adminPort, "/config")).body) as { version: string })
        .version;
      if (version !== next.version) await delay(100);
    }
    assert.equal(version, next.version, "the proxy applied the config from --config");
    assert.equal(
      (await get({ port: httpsPort, path: "/app-2/", ca: pki.ca.certificatePem })).status,
      404,
    );
  } finally {
    proxy.kill("SIGTERM");
    await new Promise((resolve) => proxy.once("exit", resolve));
    await backends.close();
  }
});
