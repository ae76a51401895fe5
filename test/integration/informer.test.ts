// operator/kube/informer.ts against a real kube-apiserver + etcd (test/support/cluster.ts).
//
// The informers reach the API server through a TCP forwarder in this file, so the tests can do to the
// connection what networks and restarts do: refuse new connections, freeze the open ones (a dead peer that
// never says so), and follow the API server to its new port when it is restarted (cluster.sh picks free
// ports on every `up`). Writes by the tests go straight to the API server with kubectl.
//
// The 410 Gone tested here is the real one: an API server that restarts starts its watch cache afresh,
// so a watch resumed from a resourceVersion seen before the restart is refused with "too old resource
// version". operator/kube/informer.test.ts covers the rest with a scripted fake server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import diagnosticsChannel from "node:diagnostics_channel";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { dirname, join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import {
  type ChangeEvent,
  createInformer,
  INFORMER_CHANNEL,
  type Informer,
  type InformerDiagnostic,
  type InformerOptions,
  type KubeObject,
} from "../../operator/kube/informer.ts";
import { noopLogger } from "../../operator/kube/logger.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";

const CLUSTER_SH = fileURLToPath(new URL("../cluster/cluster.sh", import.meta.url));

interface ConfigMap extends KubeObject {
  metadata: { name: string; namespace: string; resourceVersion: string; creationTimestamp: string };
  data?: Record<string, string>;
}

interface Secret extends KubeObject {
  metadata: { name: string; namespace: string; resourceVersion: string };
  type: string;
  data?: Record<string, string>;
}

/**
 * A TCP forwarder from a fixed loopback port to the API server. `refuse` resets new connections at once;
 * `freeze()` stops moving bytes on the connections open now, without closing them.
 */
class Forwarder {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  target: URL;
  refuse = false;

  constructor(target: string) {
    this.target = new URL(target);
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.on("close", () => this.#sockets.delete(client));
      client.on("error", () => {});
      if (this.refuse) {
        client.resetAndDestroy();
        return;
      }
      const upstream = tcpConnect(Number(this.target.port), this.target.hostname);
      this.#sockets.add(upstream);
      upstream.on("close", () => {
        this.#sockets.delete(upstream);
        client.destroy();
      });
      client.on("close", () => upstream.destroy());
      upstream.on("error", () => client.resetAndDestroy());
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    assert.ok(address !== null && typeof address === "object");
    return `https://127.0.0.1:${address.port}`;
  }

  freeze(): void {
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** The cluster's kubeconfig, with its server replaced by `server`. */
function kubeConfigVia(kubeconfigPath: string, server: string): KubeConfig {
  const file = new KubeConfig();
  file.loadFromFile(kubeconfigPath);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: file.clusters.map((cluster) => ({ ...cluster, server })),
    users: file.users,
    contexts: file.contexts,
    currentContext: file.currentContext,
  });
  return kubeConfig;
}

/** Diagnostics of one informer, as they are published. */
function recordDiagnostics(
  informer: string,
  onMessage: (diagnostic: InformerDiagnostic) => void = () => {},
): { all: InformerDiagnostic[]; stop: () => void } {
  const all: InformerDiagnostic[] = [];
  const listener = (message: unknown): void => {
    const diagnostic = message as InformerDiagnostic;
    if (diagnostic.informer !== informer) return;
    all.push(diagnostic);
    onMessage(diagnostic);
  };
  diagnosticsChannel.subscribe(INFORMER_CHANNEL, listener);
  return { all, stop: () => diagnosticsChannel.unsubscribe(INFORMER_CHANNEL, listener) };
}

function ofType<K extends InformerDiagnostic["type"]>(
  all: InformerDiagnostic[],
  type: K,
): Extract<InformerDiagnostic, { type: K }>[] {
  return all.filter((d): d is Extract<InformerDiagnostic, { type: K }> => d.type === type);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const run = promisify(execFile);

describe("informer against a real API server", { skip: clusterSkip }, () => {
  let cluster: TestCluster;
  let forwarder: Forwarder;
  let kubeConfig: KubeConfig;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(
    async () => {
      cluster = await startCluster();
      forwarder = new Forwarder(cluster.apiserverUrl);
      kubeConfig = kubeConfigVia(cluster.kubeconfigPath, await forwarder.listen());
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );
  after(async () => {
    await forwarder?.close();
    await cluster?.stop();
  });
  afterEach(async () => {
    forwarder.refuse = false;
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function kubectl(...args: string[]): Promise<string> {
    const result = await cluster.kubectl(args);
    assert.equal(result.code, 0, `kubectl ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  }

  /** A new namespace, and a started informer of its ConfigMaps whose events land in `events`. */
  async function configMapInformer(
    namespace: string,
    options: Partial<InformerOptions<ConfigMap>> = {},
    onDiagnostic?: (diagnostic: InformerDiagnostic) => void,
  ): Promise<{
    informer: Informer<ConfigMap>;
    events: ChangeEvent<ConfigMap>[];
    diagnostics: InformerDiagnostic[];
  }> {
    await kubectl("create", "namespace", namespace);
    const diagnostics = recordDiagnostics(namespace, onDiagnostic);
    const informer = createInformer<ConfigMap>({
      kubeConfig,
      path: "/api/v1/configmaps",
      namespace,
      name: namespace,
      logger: noopLogger,
      ...options,
    });
    cleanups.push(
      () => diagnostics.stop(),
      () => informer.stop(),
    );
    const events: ChangeEvent<ConfigMap>[] = [];
    informer.onChange((event) => events.push(event));
    return { informer, events, diagnostics: diagnostics.all };
  }

  /** Sets data.v of a ConfigMap. */
  async function setV(namespace: string, name: string, v: string): Promise<void> {
    const patch = JSON.stringify({ data: { v } });
    await kubectl("-n", namespace, "patch", "configmap", name, "--type=merge", "-p", patch);
  }

  const seen = (events: ChangeEvent<ConfigMap>[]): string[] =>
    events.map((event) => `${event.type} ${event.key}${dataV(event.object)}`);
  const dataV = (object: ConfigMap): string =>
    object.data?.v === undefined ? "" : ` v=${object.data.v}`;

  test("syncs, then sees ADDED, MODIFIED and DELETED as plain JSON keyed namespace/name", async () => {
    const ns = "informer-basic";
    const { informer, events } = await configMapInformer(ns);
    await kubectl("-n", ns, "create", "configmap", "before", "--from-literal=v=0");
    await informer.start();
    assert.equal(informer.hasSynced(), true);
    assert.deepEqual(seen(events), [`ADDED ${ns}/before v=0`]);
    const cached = informer.get(`${ns}/before`);
    assert.equal(
      typeof cached?.metadata.creationTimestamp,
      "string",
      "plain JSON, not client-node classes",
    );

    await kubectl("-n", ns, "create", "configmap", "x", "--from-literal=v=1");
    await setV(ns, "x", "2");
    await kubectl("-n", ns, "delete", "configmap", "x");
    await until("three changes of x", () => events.length === 4);
    assert.deepEqual(seen(events).slice(1), [
      `ADDED ${ns}/x v=1`,
      `MODIFIED ${ns}/x v=2`,
      `DELETED ${ns}/x v=2`,
    ]);
    assert.deepEqual(
      informer.list().map((object) => object.metadata.name),
      ["before"],
    );
  });

  test("keep holds only what is needed: Secrets' data only for kubernetes.io/tls", async () => {
    const ns = "informer-keep";
    await kubectl("create", "namespace", ns);
    const tls = {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: { name: "cert", namespace: ns },
      data: { "tls.crt": "Y2VydA==", "tls.key": "a2V5" },
    };
    const applied = await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(tls) });
    assert.equal(applied.code, 0, applied.stderr);
    await kubectl("-n", ns, "create", "secret", "generic", "password", "--from-literal=p=hunter2");
    const informer = createInformer<Secret>({
      kubeConfig,
      path: "/api/v1/secrets",
      namespace: ns,
      logger: noopLogger,
      keep: (secret) => {
        if (secret.type === "kubernetes.io/tls") return secret;
        const { data: _dropped, ...rest } = secret;
        return rest;
      },
    });
    cleanups.push(() => informer.stop());
    await informer.start();
    assert.deepEqual(Object.keys(informer.get(`${ns}/cert`)?.data ?? {}).sort(), [
      "tls.crt",
      "tls.key",
    ]);
    const password = informer.get(`${ns}/password`);
    assert.equal(password?.type, "Opaque");
    assert.equal(password?.data, undefined, "the data of a Secret nobody needs is not held");
  });

  test("the server closes the watch every few seconds: resumed each time, an update made in the gap arrives", async () => {
    const ns = "informer-timeout";
    // The first time the server closes the watch, new connections are refused, so the informer's
    // attempts to resume fail until the test has made an update and opened the way again.
    let gapOpened = false;
    const { informer, events, diagnostics } = await configMapInformer(
      ns,
      { watchTimeoutSeconds: 2, backoff: { initialMs: 200, maxMs: 400 } },
      (diagnostic) => {
        if (!gapOpened && diagnostic.type === "watchEnded" && diagnostic.end === "closed") {
          gapOpened = true;
          forwarder.refuse = true;
        }
      },
    );
    await kubectl("-n", ns, "create", "configmap", "c", "--from-literal=v=0");
    await informer.start();

    await until("the server to close the watch", () => gapOpened, 8000);
    await until("a failed attempt to resume", () => ofType(diagnostics, "retrying").length >= 1);
    await setV(ns, "c", "in-gap");
    forwarder.refuse = false;
    await until("the update made in the gap", () => informer.get(`${ns}/c`)?.data?.v === "in-gap");

    // Two more server-side closes, with an update after each resume.
    for (const v of ["after-1", "after-2"]) {
      const closed = ofType(diagnostics, "watchEnded").filter((d) => d.end === "closed").length;
      await until(
        "another close by the server",
        () => ofType(diagnostics, "watchEnded").filter((d) => d.end === "closed").length > closed,
        8000,
      );
      await setV(ns, "c", v);
      await until(`update ${v}`, () => informer.get(`${ns}/c`)?.data?.v === v);
    }

    assert.deepEqual(seen(events), [
      `ADDED ${ns}/c v=0`,
      `MODIFIED ${ns}/c v=in-gap`,
      `MODIFIED ${ns}/c v=after-1`,
      `MODIFIED ${ns}/c v=after-2`,
    ]);
    assert.deepEqual(
      ofType(diagnostics, "listed").map((d) => d.reason),
      ["initial"],
      "every watch resumed from its resourceVersion: nothing was relisted",
    );
    const opened = ofType(diagnostics, "watchOpened");
    assert.ok(opened.length >= 4, `${opened.length} watches opened`);
    for (let i = 1; i < opened.length; i++) {
      assert.ok(
        Number(opened[i]?.resourceVersion) >= Number(opened[i - 1]?.resourceVersion),
        "resumes never go back in time",
      );
    }
  });

  test("the API server is stopped and restarted: backs off (bounded), then gets 410, relists and re-converges", async () => {
    const ns = "informer-restart";
    const backoff = { initialMs: 250, maxMs: 4000 };
    const { informer, events, diagnostics } = await configMapInformer(ns, { backoff });
    for (const name of ["same", "changed", "removed"]) {
      await kubectl("-n", ns, "create", "configmap", name, "--from-literal=v=0");
    }
    await informer.start();
    await until("the watch", () => ofType(diagnostics, "watchOpened").length === 1);
    assert.equal(events.length, 3);

    // Something else is written, as always happens in a real cluster: etcd's revision moves past the
    // last resourceVersion this informer saw (its watch sees only its own namespace's ConfigMaps). The
    // restarted API server's watch cache starts at the revision of that moment, so resuming from ours is
    // refused with 410 Gone. (Without such a write the cache may still reach back, and the watch resumes.)
    await kubectl("create", "namespace", `${ns}-elsewhere`);
    // The API server dies (SIGKILL: a graceful stop waits ~20 s for open watches before cluster.sh kills
    // it anyway), stays down, and comes back on a new port with the same etcd data.
    const dir = dirname(cluster.kubeconfigPath);
    const down = Date.now();
    process.kill(Number(await readFile(join(dir, "kube-apiserver.pid"), "utf8")), "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await run(CLUSTER_SH, ["up", dir], {
      env: { ...process.env, KUBECACHEDIR: join(dir, "kube-cache") },
    });
    const env = await readFile(join(dir, "env"), "utf8");
    const url = /^APISERVER_URL=(.*)$/m.exec(env)?.[1];
    assert.ok(url !== undefined);
    // Keep the informer out until the changes are made, so they happen while it is disconnected.
    forwarder.refuse = true;
    forwarder.target = new URL(url);
    await setV(ns, "changed", "1");
    await kubectl("-n", ns, "delete", "configmap", "removed");
    await kubectl("-n", ns, "create", "configmap", "added", "--from-literal=v=1");
    forwarder.refuse = false;
    const outageMs = Date.now() - down;
    const reopened = Date.now();

    await until("the changes made while disconnected", () => events.length === 7, 15_000);
    const convergedMs = Date.now() - reopened;
    assert.deepEqual(seen(events).slice(3), [
      `ADDED ${ns}/added v=1`,
      `MODIFIED ${ns}/changed v=1`,
      `DELETED ${ns}/removed v=0`,
      `RESYNC ${ns}/same v=0`,
    ]);
    assert.deepEqual(
      informer.list().map((object) => object.metadata.name),
      ["added", "changed", "same"],
    );
    assert.deepEqual(
      ofType(diagnostics, "listed").map((d) => d.reason),
      ["initial", "gone"],
      "the restarted server's watch cache no longer reaches back to our resourceVersion",
    );

    const retries = ofType(diagnostics, "retrying");
    // Delays double from 250 ms to the 4 s cap, and jitter takes at most half off each, so an outage of
    // outageMs leaves room for at most this many attempts; a loop without backoff would make thousands.
    const bound =
      Math.ceil(Math.log2(backoff.maxMs / backoff.initialMs)) +
      1 +
      Math.ceil(outageMs / (backoff.maxMs / 2));
    process.stderr.write(
      `[informer] outage ${outageMs} ms: ${retries.length} retries (bound ${bound}), delays ${retries.map((d) => d.delayMs).join(" ")} ms; converged ${convergedMs} ms after the way reopened\n`,
    );
    assert.ok(retries.length >= 3, `${retries.length} retries`);
    assert.ok(
      retries.length <= bound,
      `${retries.length} retries in ${outageMs} ms (bound ${bound})`,
    );
    assert.ok(retries.every((d) => d.delayMs <= backoff.maxMs));
    assert.ok(
      convergedMs < backoff.maxMs + 5000,
      `converged ${convergedMs} ms after reconnecting was possible`,
    );
  });

  test("the watchdog relists when the watch goes quiet (a connection that silently stopped)", async () => {
    const ns = "informer-watchdog";
    const quietRelistMs = 1500;
    const { informer, events, diagnostics } = await configMapInformer(ns, { quietRelistMs });
    await informer.start();
    await until("the watch", () => ofType(diagnostics, "watchOpened").length === 1);

    forwarder.freeze(); // the open watch now delivers nothing, and nothing tells the informer so
    const frozen = Date.now();
    await kubectl("-n", ns, "create", "configmap", "during-freeze", "--from-literal=v=1");
    await until(
      "the ConfigMap created during the freeze",
      () => events.length === 1,
      quietRelistMs + 5000,
    );
    const elapsed = Date.now() - frozen;
    assert.deepEqual(seen(events), [`ADDED ${ns}/during-freeze v=1`]);
    assert.deepEqual(
      ofType(diagnostics, "watchEnded").map((d) => d.end),
      ["quiet"],
    );
    assert.deepEqual(
      ofType(diagnostics, "listed").map((d) => d.reason),
      ["initial", "quiet"],
    );
    process.stderr.write(`[informer] watchdog: change seen ${elapsed} ms after the freeze\n`);
  });
});
