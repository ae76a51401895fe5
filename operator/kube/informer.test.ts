// The informer against a scripted fake API server speaking the list and watch protocol over HTTP. This
// covers what a real server cannot be made to do on cue (410 as an HTTP status, malformed lines, watches
// that fail a set number of times); test/integration/informer.test.ts covers the same behaviours against a
// real kube-apiserver.
import assert from "node:assert/strict";
import diagnosticsChannel from "node:diagnostics_channel";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { InformerStoppedError } from "./errors.ts";
import {
  type ChangeEvent,
  collectionPath,
  createInformer,
  INFORMER_CHANNEL,
  type Informer,
  type InformerDiagnostic,
  type InformerOptions,
} from "./informer.ts";
import { noopLogger } from "./logger.ts";

interface ConfigMap {
  metadata: { name: string; namespace: string; resourceVersion: string };
  data?: Record<string, string>;
}

const PATH = "/api/v1/configmaps";

function cm(name: string, resourceVersion: string, data: Record<string, string> = {}): ConfigMap {
  return { metadata: { name, namespace: "ns", resourceVersion }, data };
}

/** What the fake server does with the n-th list (or watch) request, counting from 0. */
type Script = {
  list: (n: number, url: URL, res: ServerResponse) => void;
  watch: (n: number, url: URL, res: ServerResponse) => void;
};

class FakeApiServer {
  readonly server: Server;
  readonly lists: URL[] = [];
  readonly watches: URL[] = [];
  readonly open = new Set<ServerResponse>();
  script: Script = { list: () => {}, watch: () => {} };

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://fake");
      this.open.add(res);
      res.on("close", () => this.open.delete(res));
      if (url.searchParams.get("watch") === "true") {
        this.watches.push(url);
        this.script.watch(this.watches.length - 1, url, res);
      } else {
        this.lists.push(url);
        this.script.list(this.lists.length - 1, url, res);
      }
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(script: Script): void {
    for (const res of this.open) res.destroy();
    this.lists.length = 0;
    this.watches.length = 0;
    this.script = script;
  }
}

function sendList(res: ServerResponse, resourceVersion: string, items: ConfigMap[]): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "ConfigMapList", metadata: { resourceVersion }, items }));
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", status: "Failure", code, reason, message }));
}

/** Starts a watch response and writes `events` (then leaves it open unless `end`). */
function sendEvents(res: ServerResponse, events: object[], end = false): void {
  if (!res.headersSent) res.writeHead(200, { "content-type": "application/json" });
  for (const event of events) res.write(`${JSON.stringify(event)}\n`);
  if (end) res.end();
}

const gone = {
  type: "ERROR",
  object: {
    kind: "Status",
    code: 410,
    reason: "Expired",
    message: "too old resource version: 10 (20)",
  },
};

function kubeConfigFor(server: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "fake", server, skipTLSVerify: true }],
    users: [{ name: "fake", token: "fake-token" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
  return kubeConfig;
}

/** Records diagnostics of one informer. */
function recordDiagnostics(informer: string): { all: InformerDiagnostic[]; stop: () => void } {
  const all: InformerDiagnostic[] = [];
  const listener = (message: unknown): void => {
    const diagnostic = message as InformerDiagnostic;
    if (diagnostic.informer === informer) all.push(diagnostic);
  };
  diagnosticsChannel.subscribe(INFORMER_CHANNEL, listener);
  return { all, stop: () => diagnosticsChannel.unsubscribe(INFORMER_CHANNEL, listener) };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function summary(events: ChangeEvent<ConfigMap>[]): string[] {
  return events.map(
    (event) => `${event.type} ${event.key} ${event.object.metadata.resourceVersion}`,
  );
}

describe("informer against a fake API server", () => {
  const fake = new FakeApiServer();
  let informer: Informer<ConfigMap> | undefined;
  let diagnostics: ReturnType<typeof recordDiagnostics> | undefined;
  let counter = 0;

  before(async () => {
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    fake.server.closeAllConnections();
    await new Promise((resolve) => fake.server.close(resolve));
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    diagnostics?.stop();
  });

  /** An informer on the fake server, with fast backoff; its events are collected in `events`. */
  function start(overrides: Partial<InformerOptions<ConfigMap>> = {}): {
    informer: Informer<ConfigMap>;
    events: ChangeEvent<ConfigMap>[];
    started: Promise<void>;
  } {
    const name = `fake-${++counter}`;
    diagnostics = recordDiagnostics(name);
    informer = createInformer<ConfigMap>({
      kubeConfig: kubeConfigFor(fake.url),
      path: PATH,
      logger: noopLogger,
      name,
      backoff: { initialMs: 20, maxMs: 200, jitter: 0 },
      ...overrides,
    });
    const events: ChangeEvent<ConfigMap>[] = [];
    informer.onChange((event) => events.push(event));
    return { informer, events, started: informer.start() };
  }

  test("lists, then watches from the list's resourceVersion with bookmarks and the selectors", async () => {
    fake.reset({
      list: (_n, _url, res) => sendList(res, "10", [cm("b", "2"), cm("a", "1")]),
      watch: (_n, _url, res) =>
        sendEvents(res, [
          { type: "ADDED", object: cm("c", "11") },
          { type: "MODIFIED", object: cm("a", "12", { k: "v" }) },
          { type: "DELETED", object: cm("b", "13") },
        ]),
    });
    const { informer, events, started } = start({
      namespace: "ns",
      labelSelector: "app=web",
      fieldSelector: "metadata.name!=x",
    });
    await started;
    assert.equal(informer.hasSynced(), true);
    await until("three watch events", () => events.length === 5);
    assert.deepEqual(summary(events), [
      "ADDED ns/a 1",
      "ADDED ns/b 2",
      "ADDED ns/c 11",
      "MODIFIED ns/a 12",
      "DELETED ns/b 13",
    ]);
    assert.deepEqual(
      informer.list().map((object) => object.metadata.name),
      ["a", "c"],
    );
    assert.deepEqual(informer.get("ns/a")?.data, { k: "v" });
    assert.equal(informer.get("ns/b"), undefined);

    const list = fake.lists[0];
    assert.equal(list?.pathname, "/api/v1/namespaces/ns/configmaps");
    assert.equal(list?.searchParams.get("labelSelector"), "app=web");
    assert.equal(list?.searchParams.get("fieldSelector"), "metadata.name!=x");
    const watch = fake.watches[0];
    assert.equal(watch?.pathname, "/api/v1/namespaces/ns/configmaps");
    assert.equal(watch?.searchParams.get("resourceVersion"), "10");
    assert.equal(watch?.searchParams.get("allowWatchBookmarks"), "true");
    assert.equal(watch?.searchParams.get("labelSelector"), "app=web");
    assert.equal(watch?.searchParams.get("fieldSelector"), "metadata.name!=x");
    const timeout = Number(watch?.searchParams.get("timeoutSeconds"));
    assert.ok(timeout >= 300 && timeout < 600, `timeoutSeconds ${timeout}`);
  });

  test("410 Gone as a watch ERROR event: relists and emits the difference, DELETED included", async () => {
    fake.reset({
      list: (n, _url, res) =>
        n === 0
          ? sendList(res, "10", [cm("a", "1"), cm("b", "2"), cm("c", "3")])
          : sendList(res, "30", [cm("a", "1"), cm("b", "20"), cm("d", "21")]),
      watch: (n, _url, res) => (n === 0 ? sendEvents(res, [gone], true) : sendEvents(res, [])),
    });
    const { informer, events, started } = start();
    await started;
    await until("the relist", () => events.length === 7);
    assert.deepEqual(summary(events).slice(3), [
      "RESYNC ns/a 1",
      "MODIFIED ns/b 20",
      "DELETED ns/c 3",
      "ADDED ns/d 21",
    ]);
    assert.deepEqual(
      informer.list().map((object) => object.metadata.name),
      ["a", "b", "d"],
    );
    await until("the second watch", () => fake.watches.length === 2);
    assert.deepEqual(
      fake.watches.map((url) => url.searchParams.get("resourceVersion")),
      ["10", "30"],
    );
    const listed = diagnostics?.all.filter((d) => d.type === "listed").map((d) => d.reason);
    assert.deepEqual(listed, ["initial", "gone"]);
    assert.equal(diagnostics?.all.filter((d) => d.type === "retrying").length, 0);
  });

  test("410 Gone as the watch request's HTTP status: relists too", async () => {
    fake.reset({
      list: (n, _url, res) => sendList(res, n === 0 ? "10" : "30", n === 0 ? [cm("a", "1")] : []),
      watch: (n, _url, res) =>
        n === 0 ? sendStatus(res, 410, "Expired", "too old resource version") : sendEvents(res, []),
    });
    const { events, started } = start();
    await started;
    await until("the relist", () => events.length === 2);
    assert.deepEqual(summary(events), ["ADDED ns/a 1", "DELETED ns/a 1"]);
  });

  test("410 right after a relist backs off instead of relisting in a loop", async () => {
    fake.reset({
      list: (n, _url, res) => sendList(res, String(10 + n), []),
      watch: (_n, _url, res) => sendEvents(res, [gone], true),
    });
    const { started } = start();
    await started;
    const retrying = () => diagnostics?.all.filter((d) => d.type === "retrying") ?? [];
    // Wait for the backoffs themselves: the fourth list comes before the third backoff is published.
    await until("three backoffs", () => retrying().length >= 3);
    assert.ok(fake.lists.length >= 4);
    const retries = retrying();
    assert.ok(retries.length >= 2, "the second and later 410s in a row back off");
    assert.deepEqual(
      retries.slice(0, 3).map((d) => (d.type === "retrying" ? d.delayMs : 0)),
      [20, 40, 80],
    );
  });

  test("failed watches back off exponentially and resume from the last resourceVersion, no relist", async () => {
    fake.reset({
      list: (_n, _url, res) => sendList(res, "10", [cm("a", "1")]),
      watch: (n, _url, res) => {
        if (n === 0)
          sendEvents(
            res,
            [{ type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } }],
            true,
          );
        else if (n === 1) sendStatus(res, 500, "InternalError", "etcd is sad");
        else if (n === 2)
          sendStatus(res, 403, "Forbidden", "configmaps is forbidden: cannot watch");
        else if (n === 3)
          res.destroy(); // connection reset
        else if (n === 4) {
          res.writeHead(200);
          res.end("this is not a watch event\n");
        } else sendEvents(res, [{ type: "MODIFIED", object: cm("a", "16") }]);
      },
    });
    const { informer, events, started } = start();
    await started;
    await until("the MODIFIED after the failures", () => events.length === 2);
    assert.equal(informer.get("ns/a")?.metadata.resourceVersion, "16");
    assert.equal(fake.lists.length, 1, "no relist");
    assert.deepEqual(
      fake.watches.map((url) => url.searchParams.get("resourceVersion")),
      ["10", "15", "15", "15", "15", "15"],
      "the bookmark moved the resourceVersion; every retry resumes from it",
    );
    const retries = (diagnostics?.all ?? []).flatMap((d) => (d.type === "retrying" ? [d] : []));
    // The bookmark-only watch that the server closed is not a failure: the first retry is for the 500.
    assert.deepEqual(
      retries.map((d) => [d.attempt, d.delayMs, d.statusCode]),
      [
        [1, 20, 500],
        [2, 40, 403],
        [3, 80, undefined],
        [4, 160, undefined],
      ],
    );
    assert.equal(retries[0]?.error, "etcd is sad", "the server's own message");
    assert.equal(retries[1]?.error, "configmaps is forbidden: cannot watch");
    assert.match(retries[3]?.error ?? "", /not a watch event/);
  });

  test("a watch closed at once without events counts as failed, so it cannot hot-loop", async () => {
    fake.reset({
      list: (_n, _url, res) => sendList(res, "10", []),
      watch: (_n, _url, res) => sendEvents(res, [], true),
    });
    const { started } = start();
    await started;
    await until("five watches", () => fake.watches.length >= 5);
    const delays = (diagnostics?.all ?? []).flatMap((d) =>
      d.type === "retrying" ? [d.delayMs] : [],
    );
    assert.deepEqual(delays.slice(0, 4), [20, 40, 80, 160]);
  });

  test("failed lists are retried with backoff; start resolves once one succeeds", async () => {
    fake.reset({
      list: (n, _url, res) =>
        n < 3
          ? sendStatus(res, 503, "ServiceUnavailable", "not ready")
          : sendList(res, "10", [cm("a", "1")]),
      watch: (_n, _url, res) => sendEvents(res, []),
    });
    const { informer, started } = start();
    assert.equal(informer.hasSynced(), false);
    await started;
    assert.equal(informer.hasSynced(), true);
    const retries = (diagnostics?.all ?? []).flatMap((d) => (d.type === "retrying" ? [d] : []));
    assert.deepEqual(
      retries.map((d) => [d.during, d.delayMs]),
      [
        ["list", 20],
        ["list", 40],
        ["list", 80],
      ],
    );
  });

  test("the watchdog relists when the watch sends nothing for quietRelistMs", async () => {
    fake.reset({
      list: (n, _url, res) => sendList(res, String(10 + n), n === 0 ? [] : [cm("a", "1")]),
      watch: (_n, _url, res) => sendEvents(res, []), // open, silent
    });
    const { informer, events, started } = start({ quietRelistMs: 300 });
    await started;
    await until("the watchdog's relist", () => events.length === 1);
    assert.equal(informer.get("ns/a")?.metadata.resourceVersion, "1");
    const listed = (diagnostics?.all ?? []).flatMap((d) => (d.type === "listed" ? [d.reason] : []));
    assert.deepEqual(listed, ["initial", "quiet"]);
    const ended = (diagnostics?.all ?? []).flatMap((d) => (d.type === "watchEnded" ? [d.end] : []));
    assert.deepEqual(ended, ["quiet"]);
  });

  test("keep: what it drops is not cached, and an object it stops keeping is DELETED", async () => {
    fake.reset({
      list: (_n, _url, res) =>
        sendList(res, "10", [cm("tls", "1", { tls: "yes" }), cm("other", "2")]),
      watch: (_n, _url, res) =>
        sendEvents(res, [
          { type: "MODIFIED", object: cm("tls", "11", { tls: "no" }) },
          { type: "MODIFIED", object: cm("other", "12", { tls: "yes" }) },
        ]),
    });
    const { informer, events, started } = start({
      keep: (object) => (object.data?.tls === "yes" ? object : undefined),
    });
    await started;
    await until("two changes", () => events.length === 3);
    assert.deepEqual(summary(events), ["ADDED ns/tls 1", "DELETED ns/tls 1", "ADDED ns/other 12"]);
    assert.deepEqual(
      informer.list().map((object) => object.metadata.name),
      ["other"],
    );
  });

  test("a handler that throws does not stop the others", async () => {
    fake.reset({
      list: (_n, _url, res) => sendList(res, "10", [cm("a", "1")]),
      watch: (_n, _url, res) => sendEvents(res, []),
    });
    const errors: string[] = [];
    const logger = { ...noopLogger, error: (message: string) => errors.push(message) };
    const { informer, events, started } = start({ logger });
    informer.onChange(() => {
      throw new Error("boom");
    });
    const second: string[] = [];
    const unsubscribe = informer.onChange((event) => second.push(event.key));
    await started;
    unsubscribe();
    assert.equal(events.length, 1);
    assert.deepEqual(second, ["ns/a"]);
    assert.deepEqual(errors, ["Failed to handle informer change"]);
  });

  test("stop before the initial sync rejects start with InformerStoppedError", async () => {
    fake.reset({
      list: () => {}, // never answers
      watch: () => {},
    });
    const { informer, started } = start();
    const rejected = assert.rejects(started, InformerStoppedError);
    await informer.stop();
    await rejected;
    await assert.rejects(informer.start(), InformerStoppedError);
  });
});

test("collectionPath puts the namespace before the resource", () => {
  assert.equal(collectionPath("/api/v1/configmaps", "web"), "/api/v1/namespaces/web/configmaps");
  assert.equal(
    collectionPath("/apis/networking.k8s.io/v1/ingresses/", "a"),
    "/apis/networking.k8s.io/v1/namespaces/a/ingresses",
  );
  assert.equal(collectionPath("/api/v1/configmaps", undefined), "/api/v1/configmaps");
});
