import assert from "node:assert/strict";
import { test } from "node:test";
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1Secret,
} from "@kubernetes/client-node";
import {
  caBundle,
  certificate,
  config,
  fakeValue,
  input,
  OWNER,
  secret,
  settings,
} from "../../test/golden-infra/support.ts";
import { renderConfigJson } from "./configmap.ts";
import { ConfigTooLargeError } from "./errors.ts";
import {
  APPLY_ORDER,
  buildProxyInfrastructure,
  CERTIFICATES_ANNOTATION,
  CONFIG_VERSION_LABEL,
  type InfraInput,
  InvalidInfraConfigError,
  InvalidOwnerError,
  MissingSecretError,
  mirrorSecretSelector,
  sortForApply,
} from "./index.ts";

function find<T extends KubernetesObject>(
  objects: KubernetesObject[],
  kind: string,
  name?: string,
): T {
  const found = objects.find(
    (o) => o.kind === kind && (name === undefined || o.metadata?.name === name),
  );
  assert.ok(found, `${kind} ${name ?? ""} is built`);
  return found as T;
}

function deployment(parts: Partial<InfraInput>): V1Deployment {
  return find<V1Deployment>(buildProxyInfrastructure(input(parts)).objects, "Deployment");
}

function certificatesHash(parts: Partial<InfraInput>): string | undefined {
  return deployment(parts).spec?.template.metadata?.annotations?.[CERTIFICATES_ANNOTATION];
}

const A = "default/a";
const B = "shop/b";
const secrets = [secret(A), secret(B), secret("default/ca", ["ca.crt"])];

test("a config change leaves the pod template alone and changes only the ConfigMap", () => {
  const one = config({ certificates: [certificate(A)], marker: "one" });
  const two = config({ certificates: [certificate(A)], marker: "two" });
  assert.notEqual(one.version, two.version);
  const first = buildProxyInfrastructure(input({ config: one, secrets }));
  const second = buildProxyInfrastructure(input({ config: two, secrets }));
  assert.deepEqual(find(first.objects, "Deployment"), find(second.objects, "Deployment"));
  const changed = first.objects.filter(
    (o, i) => JSON.stringify(o) !== JSON.stringify(second.objects[i]),
  );
  assert.deepEqual(
    changed.map((o) => o.kind),
    ["ConfigMap"],
  );
  assert.equal(first.configHash, one.version);
  assert.equal(second.configHash, two.version);
  const configMap = find<V1ConfigMap>(second.objects, "ConfigMap");
  assert.equal(configMap.metadata?.labels?.[CONFIG_VERSION_LABEL], two.version.slice(0, 16));
  assert.deepEqual(JSON.parse(configMap.data?.["config.json"] ?? ""), two);
});

test("the certificate-set hash changes when the set changes, and only then", () => {
  const base = certificatesHash({ config: config({ certificates: [certificate(A)] }), secrets });
  assert.match(base ?? "", /^[0-9a-f]{64}$/);

  // Rotated contents: same pod template, new mirror data.
  const rotated = [secret(A, ["tls.crt", "tls.key"], 2), secret(B)];
  const before = buildProxyInfrastructure(
    input({ config: config({ certificates: [certificate(A)] }), secrets }),
  );
  const after = buildProxyInfrastructure(
    input({ config: config({ certificates: [certificate(A)] }), secrets: rotated }),
  );
  assert.deepEqual(find(after.objects, "Deployment"), find(before.objects, "Deployment"));
  assert.notDeepEqual(find(after.objects, "Secret"), find(before.objects, "Secret"));

  // Other config content, certificates listed in another order: same hash.
  const ab = certificatesHash({
    config: config({ certificates: [certificate(A), certificate(B)] }),
    secrets,
  });
  const ba = certificatesHash({
    config: config({ certificates: [certificate(B), certificate(A)], marker: "other" }),
    secrets,
  });
  assert.equal(ab, ba);

  // Added, removed, or needing other files: a different hash (and back again when undone).
  assert.notEqual(ab, base);
  assert.equal(
    certificatesHash({ config: config({ certificates: [certificate(A)] }), secrets }),
    base,
  );
  const emptyHash = certificatesHash({ config: config(), secrets });
  assert.notEqual(emptyHash, base);
  const withCa = certificatesHash({
    config: config({ certificates: [certificate(A)], caBundles: [caBundle("default/ca")] }),
    secrets,
  });
  assert.notEqual(withCa, base);
  const aAlsoCa = certificatesHash({
    config: config({ certificates: [certificate(A)], caBundles: [caBundle(A)] }),
    secrets: [secret(A, ["ca.crt", "tls.crt", "tls.key"])],
  });
  assert.notEqual(aAlsoCa, base);
});

test("mirrors carry only the keys the config reads, typed by what they hold", () => {
  const { objects } = buildProxyInfrastructure(
    input({
      config: config({
        certificates: [certificate(A)],
        caBundles: [caBundle("default/ca"), caBundle(B)],
      }),
      secrets: [
        secret(A, ["ca.crt", "tls.crt", "tls.key"]),
        secret(B, ["ca.crt", "tls.crt", "tls.key"]),
        secret("default/ca", ["ca.crt"]),
        secret("default/unreferenced"),
      ],
    }),
  );
  const mirrors = objects.filter((o): o is V1Secret => o.kind === "Secret");
  const summary = mirrors
    .map((m) => ({
      source: m.metadata?.annotations?.["portcullis.dev/source"],
      name: m.metadata?.name,
      type: m.type,
      keys: Object.keys(m.data ?? {}),
    }))
    .sort((x, y) => String(x.source).localeCompare(String(y.source)));
  assert.equal(summary.length, 3);
  assert.deepEqual(summary[0], {
    source: "default/a",
    name: summary[0]?.name,
    type: "kubernetes.io/tls",
    keys: ["tls.crt", "tls.key"],
  });
  assert.match(summary[0]?.name ?? "", /^portcullis-tls-[0-9a-f]{12}$/);
  assert.equal(summary[1]?.type, "Opaque");
  assert.match(summary[1]?.name ?? "", /^portcullis-ca-[0-9a-f]{12}$/);
  assert.deepEqual(summary[1]?.keys, ["ca.crt"]);
  // shop/b is only a CA bundle here: its private key is not copied.
  assert.deepEqual(summary[2], {
    source: "shop/b",
    name: summary[2]?.name,
    type: "Opaque",
    keys: ["ca.crt"],
  });
  const a = mirrors.find((m) => m.metadata?.annotations?.["portcullis.dev/source"] === A);
  assert.equal(a?.data?.["tls.key"], fakeValue(A, "tls.key"));
  assert.equal(
    mirrorSecretSelector(settings()),
    "app.kubernetes.io/name=portcullis,app.kubernetes.io/instance=portcullis,app.kubernetes.io/component=certificate-mirror,app.kubernetes.io/managed-by=portcullis-operator",
  );
});

test("stringData is mirrored as data", () => {
  const source: V1Secret = {
    metadata: { namespace: "default", name: "a" },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": "CERT", "tls.key": "KEY" },
  };
  const { objects } = buildProxyInfrastructure(
    input({ config: config({ certificates: [certificate(A)] }), secrets: [source] }),
  );
  const mirror = find<V1Secret>(objects, "Secret");
  assert.deepEqual(mirror.data, {
    "tls.crt": Buffer.from("CERT").toString("base64"),
    "tls.key": Buffer.from("KEY").toString("base64"),
  });
  assert.equal(mirror.stringData, undefined);
});

test("every object is labelled, owned, namespaced and sorted by kind then name", () => {
  const { objects } = buildProxyInfrastructure(
    input({ config: config({ certificates: [certificate(A), certificate(B)] }), secrets }),
  );
  assert.deepEqual(
    objects.map((o) => o.kind),
    [
      "ConfigMap",
      "Deployment",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Secret",
      "Secret",
      "Service",
      "Service",
      "ServiceAccount",
    ],
  );
  const keys = objects.map((o) => `${o.kind}/${o.metadata?.name}`);
  assert.deepEqual(keys, [...keys].sort());
  for (const object of objects) {
    const where = `${object.kind}/${object.metadata?.name}`;
    assert.equal(object.metadata?.namespace, "portcullis-system", where);
    assert.equal(object.metadata?.labels?.["app.kubernetes.io/name"], "portcullis", where);
    assert.equal(
      object.metadata?.labels?.["app.kubernetes.io/managed-by"],
      "portcullis-operator",
      where,
    );
    assert.ok(object.metadata?.labels?.["app.kubernetes.io/component"], where);
    assert.deepEqual(object.metadata?.ownerReferences, [{ ...OWNER, controller: true }], where);
  }
});

/** Paths of undefined values, empty objects or arrays, and status fields. */
function applyHazards(value: unknown, path: string): string[] {
  if (value === undefined) return [`${path}: undefined`];
  if (value === null || typeof value !== "object") return [];
  const entries = Object.entries(value);
  if (entries.length === 0) return [`${path}: empty`];
  return entries.flatMap(([key, child]) =>
    key === "status" && path.split(".").length === 1
      ? [`${path}.status`]
      : applyHazards(child, `${path}.${key}`),
  );
}

test("objects are server-side-apply friendly: no status, no undefined, no empty objects", () => {
  for (const custom of [
    settings(),
    settings({ replicas: null, podAntiAffinity: "None", service: { type: "ClusterIP" } }),
    settings({
      resources: { proxy: { requests: {}, limits: {} }, configSync: { requests: {}, limits: {} } },
    }),
  ]) {
    const { objects } = buildProxyInfrastructure(
      input({ config: config({ certificates: [certificate(A)] }), secrets, settings: custom }),
    );
    for (const object of objects) {
      assert.deepEqual(applyHazards(object, String(object.kind)), []);
      // Plain data: survives JSON unchanged (no class instances, no Dates, no functions).
      assert.deepEqual(JSON.parse(JSON.stringify(object)), object);
    }
  }
});

test("output does not depend on the order of Secrets and is the same when built twice", () => {
  const parts = { config: config({ certificates: [certificate(A), certificate(B)] }), secrets };
  const once = buildProxyInfrastructure(input(parts));
  assert.deepEqual(buildProxyInfrastructure(input(parts)), once);
  assert.deepEqual(
    buildProxyInfrastructure(input({ ...parts, secrets: [...secrets].reverse() })),
    once,
  );
});

test("sortForApply puts identity first and the Deployment last", () => {
  const { objects } = buildProxyInfrastructure(
    input({ config: config({ certificates: [certificate(A)] }), secrets }),
  );
  const kinds = sortForApply(objects).map((o) => o.kind);
  assert.equal(kinds[0], "ServiceAccount");
  assert.equal(kinds.at(-1), "Deployment");
  assert.ok(kinds.indexOf("Secret") < kinds.indexOf("Deployment"));
  assert.deepEqual([...new Set(kinds)], APPLY_ORDER);
});

test("a config whose version is not its content hash is refused", () => {
  const stale = { ...config({ marker: "x" }), version: config().version };
  assert.throws(() => buildProxyInfrastructure(input({ config: stale })), InvalidInfraConfigError);
});

test("config paths must lie under the secrets directory, with the files a Secret volume provides", () => {
  const outside = config({ certificates: [certificate(A, "/srv/certs")] });
  assert.throws(() => buildProxyInfrastructure(input({ config: outside, secrets })), {
    code: "PORTCULLIS_INFRA_INVALID_CONFIG",
    message: /not under the secrets directory \/etc\/portcullis\/secrets/,
  });
  const sneaky = config({
    certificates: [
      {
        ...certificate(A),
        certFile: "/etc/portcullis/secrets/../keys/tls.crt",
        keyFile: "/etc/portcullis/secrets/../keys/tls.key",
      },
    ],
  });
  assert.throws(
    () => buildProxyInfrastructure(input({ config: sneaky, secrets })),
    InvalidInfraConfigError,
  );
  const renamed = config({
    certificates: [{ ...certificate(A), certFile: "/etc/portcullis/secrets/default/a/cert.pem" }],
  });
  assert.throws(() => buildProxyInfrastructure(input({ config: renamed, secrets })), {
    message: /must name the file "tls.crt"/,
  });
  const split = config({
    certificates: [{ ...certificate(A), keyFile: "/etc/portcullis/secrets/default/other/tls.key" }],
  });
  assert.throws(() => buildProxyInfrastructure(input({ config: split, secrets })), {
    message: /in two directories/,
  });
  const nested = config({
    certificates: [
      certificate(A),
      {
        ...certificate(B),
        certFile: "/etc/portcullis/secrets/default/a/b/tls.crt",
        keyFile: "/etc/portcullis/secrets/default/a/b/tls.key",
      },
    ],
  });
  assert.throws(() => buildProxyInfrastructure(input({ config: nested, secrets })), {
    message: /would be mounted inside "default\/a"/,
  });
  const same = config({
    certificates: [
      certificate(A),
      { ...certificate(B), certFile: certificate(A).certFile, keyFile: certificate(A).keyFile },
    ],
  });
  assert.throws(() => buildProxyInfrastructure(input({ config: same, secrets })), {
    message: '"default/a" and "shop/b" would both be mounted at /etc/portcullis/secrets/default/a',
  });
  const custom = settings({ secretsDir: "/var/run/tls" });
  const moved = config({ certificates: [certificate(A, "/var/run/tls")] });
  const built = buildProxyInfrastructure(input({ config: moved, secrets, settings: custom }));
  const mounts = find<V1Deployment>(built.objects, "Deployment").spec?.template.spec?.containers[0]
    ?.volumeMounts;
  assert.ok(mounts?.some((m) => m.mountPath === "/var/run/tls/default/a"));
});

test("a referenced Secret that is missing, or lacks a key, is an error that shows no data", () => {
  const withCa = config({ certificates: [certificate(A)], caBundles: [caBundle(B)] });
  assert.throws(() => buildProxyInfrastructure(input({ config: withCa, secrets: [secret(A)] })), {
    name: "MissingSecretError",
    message: 'Secret "shop/b" is referenced by the config but not given',
  });
  try {
    buildProxyInfrastructure(input({ config: withCa, secrets: [secret(A), secret(B)] }));
    assert.fail("expected MissingSecretError");
  } catch (error) {
    assert.ok(error instanceof MissingSecretError);
    assert.equal(error.message, 'Secret "shop/b" has no "ca.crt" key, which the config reads');
    for (const file of ["tls.crt", "tls.key"])
      assert.ok(!error.message.includes(fakeValue(B, file)));
  }
});

test("an owner in another namespace is refused", () => {
  assert.throws(
    () =>
      buildProxyInfrastructure(
        input({ owner: { ...OWNER, kind: "Thing", namespace: "elsewhere" } }),
      ),
    InvalidOwnerError,
  );
  assert.doesNotThrow(() =>
    buildProxyInfrastructure(input({ owner: { ...OWNER, namespace: "portcullis-system" } })),
  );
  assert.throws(() => buildProxyInfrastructure(input({ owner: { ...OWNER, uid: "" } })), {
    message: "owner.uid must be a non-empty string",
  });
});

test("config.json is indented, compact when that would not fit, refused when nothing fits", () => {
  const small = config({ marker: "small" });
  assert.equal(renderConfigJson(small), `${JSON.stringify(small, null, 2)}\n`);
  const many = (count: number) =>
    config({ certificates: Array.from({ length: count }, (_, i) => certificate(`ns/s${i}`)) });
  // Indented, this config exceeds 1 MiB; compact, it fits.
  const big = many(4000);
  assert.ok(JSON.stringify(big, null, 2).length > 1024 * 1024);
  assert.ok(JSON.stringify(big).length < 1024 * 1024);
  assert.equal(renderConfigJson(big), `${JSON.stringify(big)}\n`);
  assert.throws(() => renderConfigJson(many(6000)), ConfigTooLargeError);
});
