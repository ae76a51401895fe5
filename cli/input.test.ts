import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCompilerInput, objectKey } from "./input.ts";
import type { LoadedObject } from "./manifests.ts";

function loaded(object: Record<string, unknown>, line = 1): LoadedObject {
  return { object, origin: { file: "m.yaml", line } };
}

const service = (name: string, namespace?: string): LoadedObject =>
  loaded({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec: { ports: [{ port: 80 }] },
  });

test("sorts each list by namespace/name and defaults the namespace", () => {
  const built = buildCompilerInput([service("b"), service("a", "z"), service("a")], {
    defaultNamespace: "shop",
  });
  assert.deepEqual(
    built.input.services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
    ["shop/a", "shop/b", "z/a"],
  );
  assert.deepEqual(built.problems, []);
  assert.deepEqual(built.origins.get("Service/shop/b"), { file: "m.yaml", line: 1 });
});

test("cluster-scoped kinds lose a namespace and are keyed by name", () => {
  const built = buildCompilerInput([
    loaded({
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "portcullis", namespace: "ignored" },
      spec: { controller: "portcullis.dev/ingress-controller" },
    }),
  ]);
  assert.equal(built.input.ingressClasses[0]?.metadata?.namespace, undefined);
  assert.ok(
    built.origins.has(objectKey({ kind: "IngressClass", namespace: "", name: "portcullis" })),
  );
});

test("folds a Secret's stringData into data, as the API server does, and defaults its type", () => {
  const built = buildCompilerInput([
    loaded({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data: { a: Buffer.from("x").toString("base64") },
      stringData: { b: "hello" },
    }),
  ]);
  const secret = built.input.secrets[0];
  assert.deepEqual(secret?.data, { a: "eA==", b: "aGVsbG8=" });
  assert.equal(secret?.type, "Opaque");
  assert.equal("stringData" in (secret ?? {}), false);
});

test("refuses a Secret whose data is not base64", () => {
  const built = buildCompilerInput([
    loaded({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data: { "tls.crt": "not base64!" },
    }),
  ]);
  assert.equal(built.input.secrets.length, 0);
  assert.equal(built.problems[0]?.message, "data[tls.crt]: Invalid value: illegal base64 data");
});

test("refuses objects without apiVersion, kind or name, and counts kinds it does not read", () => {
  const built = buildCompilerInput([
    loaded({ kind: "Service", metadata: { name: "a" } }, 1),
    loaded({ apiVersion: "v1", metadata: { name: "a" } }, 5),
    loaded({ apiVersion: "v1", kind: "Service", metadata: {} }, 9),
    loaded({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" } }),
    loaded({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "e" } }),
    loaded({ apiVersion: "serving.knative.dev/v1", kind: "Service", metadata: { name: "k" } }),
  ]);
  assert.deepEqual(
    built.problems.map((p) => [p.line, p.field]),
    [
      [1, "apiVersion"],
      [5, "kind"],
      [9, "metadata.name"],
    ],
  );
  assert.deepEqual(
    [...built.ignored],
    [
      ["apps/v1 Deployment", 2],
      ["serving.knative.dev/v1 Service", 1],
    ],
  );
});

test("a duplicate is refused and names where the first one is", () => {
  const built = buildCompilerInput([
    { object: service("a").object, origin: { file: "one.yaml", line: 3 } },
    { object: service("a").object, origin: { file: "two.yaml", line: 7 } },
  ]);
  assert.equal(built.input.services.length, 1);
  assert.equal(built.problems.length, 1);
  assert.equal(built.problems[0]?.file, "two.yaml");
  assert.equal(built.problems[0]?.source, "manifest");
  assert.match(built.problems[0]?.message ?? "", /already defined at one\.yaml:3$/);
});

test("an object refused by admission is left out, with the API server's message", () => {
  const built = buildCompilerInput([
    loaded({
      apiVersion: "portcullis.dev/v1alpha1",
      kind: "LoadBalancerPolicy",
      metadata: { name: "p" },
      spec: { targetRefs: [{ kind: "Ingress", name: "shop" }], tls: { mode: "Foo" } },
    }),
  ]);
  assert.equal(built.input.policies.length, 0);
  assert.equal(built.problems[0]?.field, "spec.tls.mode");
  assert.match(built.problems[0]?.message ?? "", /^spec\.tls\.mode: Unsupported value: "Foo"/);
});

test("admitted objects carry the schema's defaults; creationTimestamp becomes a Date", () => {
  const built = buildCompilerInput([
    loaded({
      apiVersion: "portcullis.dev/v1alpha1",
      kind: "LoadBalancerPolicy",
      metadata: { name: "p", creationTimestamp: "2025-06-01T00:00:00Z" },
      spec: { targetRefs: [{ kind: "Ingress", name: "shop" }], tls: {} },
    }),
  ]);
  const policy = built.input.policies[0];
  assert.equal(policy?.spec.tls?.mode, "Terminate");
  assert.ok(policy?.metadata.creationTimestamp instanceof Date);
});
