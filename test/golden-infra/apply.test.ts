// The golden infra cases on a real API server (test/cluster): every case's objects (Secret data
// unredacted, owned by a real IngressClass) are server-side applied in sortForApply order, one case
// after the other as successive reconciles would, under one field manager. The server must accept
// each without a warning (the namespaces enforce and warn on the "restricted" Pod Security Standard),
// a second apply must change nothing (no resourceVersion moves: we set no field the server would
// default differently), the proxy pod must be admitted as "restricted", and the proxy's identity must
// read its one ConfigMap and nothing else.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { type InfraOwner, sortForApply } from "../../operator/infra/index.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";
import { caseFiles, runInfraCase } from "./cases.ts";

const FIELD_MANAGER = "portcullis-operator";
const NAMESPACES = ["portcullis-system", "ingress-edge"];

describe("golden infra objects on a real API server", { skip: clusterSkip }, () => {
  let cluster: TestCluster | undefined;
  let owner: InfraOwner;
  const kube = (): TestCluster => {
    assert.ok(cluster, "the cluster started");
    return cluster;
  };
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const result = await kube().kubectl(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `kubectl ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const apply = async (objects: KubernetesObject[]): Promise<Map<string, string>> => {
    const list = { apiVersion: "v1", kind: "List", items: objects };
    const result = await kube().kubectl(
      ["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "-o", "json", "-f", "-"],
      { input: JSON.stringify(list) },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "", "no warnings");
    const applied = JSON.parse(result.stdout) as { items: KubernetesObject[] };
    return new Map(
      applied.items.map((o) => [
        `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`,
        o.metadata?.resourceVersion ?? "",
      ]),
    );
  };

  before(
    async () => {
      cluster = await startCluster();
      for (const namespace of NAMESPACES) {
        await kubectl(["create", "namespace", namespace]);
        await kubectl([
          "label",
          "namespace",
          namespace,
          "pod-security.kubernetes.io/enforce=restricted",
          "pod-security.kubernetes.io/warn=restricted",
        ]);
      }
      const ingressClass = {
        apiVersion: "networking.k8s.io/v1",
        kind: "IngressClass",
        metadata: { name: "portcullis" },
        spec: { controller: "portcullis.dev/ingress-controller" },
      };
      const created = JSON.parse(
        await kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(ingressClass)),
      ) as KubernetesObject;
      owner = {
        apiVersion: "networking.k8s.io/v1",
        kind: "IngressClass",
        name: "portcullis",
        uid: created.metadata?.uid ?? "",
      };
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );
  after(() => cluster?.stop());

  test("every case applies server-side without warnings, and applying it again changes nothing", async () => {
    let applied = 0;
    for (const file of caseFiles()) {
      const result = runInfraCase(file, owner);
      if (!result.ok) continue;
      const objects = [...sortForApply(result.output.objects), result.sharedKeysSecret];
      const first = await apply(objects);
      const second = await apply(objects);
      assert.deepEqual(second, first, `${file}: the second apply changed objects`);
      applied += 1;
    }
    assert.ok(applied >= 8);
  });

  test("the proxy pod is admitted under the restricted Pod Security Standard", async () => {
    for (const file of ["certificates-ca-bundle-reencrypt.in.yaml", "settings-custom.in.yaml"]) {
      const result = runInfraCase(file, owner);
      assert.ok(result.ok);
      const deployment = result.output.objects.find(
        (o): o is V1Deployment => o.kind === "Deployment",
      );
      const template = deployment?.spec?.template;
      assert.ok(template?.spec);
      await apply(sortForApply(result.output.objects));
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          ...template.metadata,
          name: "proxy-admission-check",
          namespace: result.settings.namespace,
        },
        spec: template.spec,
      };
      const created = await kube().kubectl(["create", "--dry-run=server", "-f", "-"], {
        input: JSON.stringify(pod),
      });
      assert.equal(created.code, 0, `${file}: ${created.stderr}`);
      assert.equal(created.stderr, "", `${file}: no warnings`);
    }
  });

  test("the proxy's ServiceAccount reads its ConfigMap and nothing else", async () => {
    const result = runInfraCase("fleet-minimal.in.yaml", owner);
    assert.ok(result.ok);
    await apply(sortForApply(result.output.objects));
    const as = ["--as", "system:serviceaccount:portcullis-system:portcullis-proxy"];
    const can = async (...args: string[]): Promise<boolean> => {
      const out = await kube().kubectl([
        "auth",
        "can-i",
        ...args,
        "-n",
        "portcullis-system",
        ...as,
      ]);
      return out.stdout.trim() === "yes";
    };
    assert.equal(await can("get", "configmap/portcullis-proxy-config"), true);
    assert.equal(await can("watch", "configmap/portcullis-proxy-config"), true);
    assert.equal(await can("get", "configmap/other"), false);
    assert.equal(await can("list", "configmaps"), false);
    assert.equal(await can("update", "configmap/portcullis-proxy-config"), false);
    assert.equal(await can("get", "secrets"), false);
    assert.equal(await can("get", "secret/portcullis-shared-keys"), false);
    // What config-sync does: list (and watch) selecting the one name.
    const listed = await kube().kubectl([
      "get",
      "configmaps",
      "-n",
      "portcullis-system",
      "--field-selector",
      "metadata.name=portcullis-proxy-config",
      "-o",
      "name",
      ...as,
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.trim(), "configmap/portcullis-proxy-config");
  });
});
