// KubeClient (operator/kube/client.ts) against a real kube-apiserver: what server-side apply does with
// our field manager (an apply that changes nothing is not written, other managers' fields are kept,
// force takes conflicting ones over, status and spec are applied apart), and how get/create/replace/
// delete report 404 and 409. The operator's "write nothing on resync" rests on the first of these, so
// it is asserted here rather than assumed. Every request is counted on KUBE_REQUEST_CHANNEL.
import assert from "node:assert/strict";
import diagnosticsChannel from "node:diagnostics_channel";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import {
  createKubeClient,
  KUBE_REQUEST_CHANNEL,
  type KubeClient,
  type KubeRequestDiagnostic,
} from "../../operator/kube/client.ts";
import { KubeApiError } from "../../operator/kube/errors.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";

const CRD = fileURLToPath(
  new URL("../../crds/portcullis.dev_loadbalancerpolicies.yaml", import.meta.url),
);
const NAMESPACE = "default";
const FIELD_MANAGER = "portcullis-test";

interface ManagedFields {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1: Record<string, unknown>;
}

interface ConfigMap {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    managedFields?: ManagedFields[];
  };
  data?: Record<string, string>;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

interface Policy {
  apiVersion: "portcullis.dev/v1alpha1";
  kind: "LoadBalancerPolicy";
  metadata: { name: string; namespace: string; generation?: number; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

function configMap(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NAMESPACE }, data };
}

function ref(name: string) {
  return { apiVersion: "v1", kind: "ConfigMap", namespace: NAMESPACE, name };
}

/** The data keys `manager` owns according to managedFields (operation Apply). */
function ownedKeys(object: ConfigMap, manager: string): string[] {
  const entry = object.metadata.managedFields?.find(
    (fields) => fields.manager === manager && fields.operation === "Apply",
  );
  const data = entry?.fieldsV1["f:data"];
  if (typeof data !== "object" || data === null) return [];
  return Object.keys(data)
    .map((key) => key.replace(/^f:/, ""))
    .sort();
}

describe("KubeClient against a real API server", { skip: clusterSkip }, () => {
  let cluster: TestCluster;
  let client: KubeClient;
  const published: KubeRequestDiagnostic[] = [];
  const onPublish = (message: unknown): void => {
    published.push(message as KubeRequestDiagnostic);
  };

  before(
    async () => {
      cluster = await startCluster();
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(cluster.kubeconfigPath);
      client = createKubeClient({ kubeConfig, fieldManager: FIELD_MANAGER });
      const applied = await cluster.kubectl(["apply", "--server-side", "-f", CRD]);
      assert.equal(applied.code, 0, applied.stderr);
      const established = await cluster.kubectl([
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/loadbalancerpolicies.portcullis.dev",
      ]);
      assert.equal(established.code, 0, established.stderr);
      diagnosticsChannel.subscribe(KUBE_REQUEST_CHANNEL, onPublish);
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );

  after(async () => {
    diagnosticsChannel.unsubscribe(KUBE_REQUEST_CHANNEL, onPublish);
    await client?.close();
    await cluster?.stop();
  });

  beforeEach(() => {
    published.length = 0;
  });

  afterEach(() => {
    // Never a body on the channel: only these four fields.
    for (const message of published) {
      assert.deepEqual(Object.keys(message).sort(), ["durationMs", "method", "path", "statusCode"]);
    }
  });

  /** Applies `data` to ConfigMap `name` as another field manager, with kubectl. */
  async function applyAsUser(name: string, data: Record<string, string>): Promise<void> {
    const result = await cluster.kubectl(
      ["apply", "--server-side", "--field-manager=user", "-f", "-"],
      { input: JSON.stringify(configMap(name, data)) },
    );
    assert.equal(result.code, 0, result.stderr);
  }

  test("apply creates; the same apply again writes nothing; a change is written under our field manager", async () => {
    const created = await client.apply(configMap("apply", { a: "1" }));
    assert.deepEqual(created.data, { a: "1" });
    const resourceVersion = created.metadata.resourceVersion;
    assert.ok(resourceVersion);

    const again = await client.apply(configMap("apply", { a: "1" }));
    assert.equal(again.metadata.resourceVersion, resourceVersion, "a no-op apply is not written");

    const changed = await client.apply(configMap("apply", { a: "2" }));
    assert.notEqual(changed.metadata.resourceVersion, resourceVersion);
    assert.deepEqual(changed.data, { a: "2" });
    assert.deepEqual(ownedKeys(changed, FIELD_MANAGER), ["a"]);
    const stored = await client.get<ConfigMap>(ref("apply"));
    assert.deepEqual(stored?.data, { a: "2" });

    const path = `/api/v1/namespaces/${NAMESPACE}/configmaps/apply`;
    assert.deepEqual(
      published.map(({ method, path, statusCode }) => `${method} ${path} ${statusCode}`),
      [`PATCH ${path} 201`, `PATCH ${path} 200`, `PATCH ${path} 200`, `GET ${path} 200`],
    );
    assert.ok(published.every(({ durationMs }) => durationMs >= 0 && durationMs < 10_000));
  });

  test("another manager's field is kept; a field it set that we apply is taken over (force)", async () => {
    await client.apply(configMap("shared", { ours: "1" }));
    await applyAsUser("shared", { theirs: "x", contested: "user" });

    const kept = await client.apply(configMap("shared", { ours: "2" }));
    assert.deepEqual(kept.data, { ours: "2", theirs: "x", contested: "user" });
    assert.deepEqual(ownedKeys(kept, "user"), ["contested", "theirs"]);

    // Without force the server would refuse this with a 409 conflict on data.contested.
    const taken = await client.apply(configMap("shared", { ours: "2", contested: "ours" }));
    assert.deepEqual(taken.data, { ours: "2", theirs: "x", contested: "ours" });
    assert.deepEqual(ownedKeys(taken, FIELD_MANAGER), ["contested", "ours"]);
    assert.deepEqual(ownedKeys(taken, "user"), ["theirs"]);

    // The other way round, without force: the server refuses, so force is what let ours through.
    const refused = await cluster.kubectl(
      ["apply", "--server-side", "--field-manager=user", "-f", "-"],
      { input: JSON.stringify(configMap("shared", { theirs: "x", contested: "user" })) },
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /conflict/i);
  });

  test("status apply sets status.conditions without touching spec; spec apply keeps status", async () => {
    const policy = (spec: Record<string, unknown>): Policy => ({
      apiVersion: "portcullis.dev/v1alpha1",
      kind: "LoadBalancerPolicy",
      metadata: { name: "shop", namespace: NAMESPACE },
      spec,
    });
    // The group is written out: the server defaults it, and the comparisons below are exact.
    const spec = { targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "shop" }] };
    const created = await client.apply(policy(spec));
    assert.deepEqual(created.spec?.targetRefs, spec.targetRefs);
    assert.equal(created.status, undefined);

    const condition: Condition = {
      type: "Accepted",
      status: "True",
      reason: "Accepted",
      message: "The policy was accepted.",
      lastTransitionTime: "2026-01-02T03:04:05Z",
      observedGeneration: 1,
    };
    const withStatus = await client.apply<Policy>(
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "shop", namespace: NAMESPACE },
        status: { observedGeneration: 1, conditions: [condition] },
      },
      { subresource: "status" },
    );
    assert.deepEqual(withStatus.status?.conditions, [condition]);
    assert.deepEqual(withStatus.spec, created.spec, "spec untouched");
    assert.equal(withStatus.metadata.generation, created.metadata.generation);
    assert.equal(published.at(-1)?.path.endsWith("/loadbalancerpolicies/shop/status"), true);

    // The same status again: nothing written.
    const sameStatus = await client.apply<Policy>(
      {
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "shop", namespace: NAMESPACE },
        status: { observedGeneration: 1, conditions: [condition] },
      },
      { subresource: "status" },
    );
    assert.equal(sameStatus.metadata.resourceVersion, withStatus.metadata.resourceVersion);

    // A spec apply by the same manager, without status, leaves status alone.
    const newSpec = {
      targetRefs: [{ group: "networking.k8s.io", kind: "Ingress", name: "shop-v2" }],
    };
    const respecced = await client.apply(policy(newSpec));
    assert.deepEqual(respecced.spec?.targetRefs, newSpec.targetRefs);
    assert.deepEqual(respecced.status?.conditions, [condition], "status kept");
    assert.equal(respecced.metadata.generation, (created.metadata.generation ?? 0) + 1);
  });

  test("get: undefined on 404, the object otherwise", async () => {
    assert.equal(await client.get(ref("missing")), undefined);
    await client.apply(configMap("present", { k: "v" }));
    const found = await client.get<ConfigMap>(ref("present"));
    assert.deepEqual(found?.data, { k: "v" });
    assert.deepEqual(
      published.map(({ method, statusCode }) => `${method} ${statusCode}`),
      ["GET 404", "PATCH 201", "GET 200"],
    );
  });

  test("create: the object; 409 AlreadyExists when it exists", async () => {
    const created = await client.create(configMap("created", { k: "v" }));
    assert.deepEqual(created.data, { k: "v" });
    const error = await client.create(configMap("created", { k: "w" })).catch((e: unknown) => e);
    assert.ok(error instanceof KubeApiError, String(error));
    assert.equal(error.statusCode, 409);
    assert.equal(error.reason, "AlreadyExists");
    assert.doesNotMatch(error.message, /"w"|\bk: w/, "no object contents in the message");
    assert.deepEqual(
      published.map(({ method, path, statusCode }) => `${method} ${path} ${statusCode}`),
      [
        `POST /api/v1/namespaces/${NAMESPACE}/configmaps 201`,
        `POST /api/v1/namespaces/${NAMESPACE}/configmaps 409`,
      ],
    );
  });

  test("replace: written when current, 409 Conflict when its resourceVersion is stale", async () => {
    const created = await client.create(configMap("replaced", { k: "1" }));
    const replaced = await client.replace({ ...created, data: { k: "2" } });
    assert.deepEqual(replaced.data, { k: "2" });
    assert.notEqual(replaced.metadata.resourceVersion, created.metadata.resourceVersion);

    const error = await client.replace({ ...created, data: { k: "3" } }).catch((e: unknown) => e);
    assert.ok(error instanceof KubeApiError, String(error));
    assert.equal(error.statusCode, 409);
    assert.equal(error.reason, "Conflict");
    assert.deepEqual((await client.get<ConfigMap>(ref("replaced")))?.data, { k: "2" });
  });

  test("delete: 409 on a wrong uid precondition, true when deleted, false when already gone", async () => {
    const created = await client.create(configMap("deleted", { k: "v" }));
    const uid = created.metadata.uid;
    assert.ok(uid);

    const error = await client
      .delete(ref("deleted"), { uid: "00000000-0000-0000-0000-000000000000" })
      .catch((e: unknown) => e);
    assert.ok(error instanceof KubeApiError, String(error));
    assert.equal(error.statusCode, 409);
    assert.equal(error.reason, "Conflict");
    assert.ok(await client.get(ref("deleted")), "still there");

    const stale = await client
      .delete(ref("deleted"), { uid, resourceVersion: "1" })
      .catch((e: unknown) => e);
    assert.ok(stale instanceof KubeApiError && stale.statusCode === 409, String(stale));

    assert.equal(await client.delete(ref("deleted"), { uid }), true);
    assert.equal(await client.get(ref("deleted")), undefined);
    assert.equal(await client.delete(ref("deleted"), { uid }), false);
    assert.deepEqual(
      published.map(({ method, statusCode }) => `${method} ${statusCode}`),
      ["POST 201", "DELETE 409", "GET 200", "DELETE 409", "DELETE 200", "GET 404", "DELETE 404"],
    );
  });
});
