// Offline admission (operator/admission, behind `portcullis check`) must refuse exactly what a real
// API server refuses, with the same words, and default exactly as it does. Every case below is
// applied with `kubectl apply -f -` (client-side apply, strict field validation by default) to a
// real kube-apiserver with our CRD installed, and what the server prints is compared with what
// admitPolicy / admitIngress return for the same object. Messages are compared as sets: the server's
// order is not stable, and kubectl drops repeated lines.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { admitIngress, admitPolicy } from "../../operator/admission/index.ts";
import {
  CLUSTER_START_TIMEOUT_MS,
  type CommandResult,
  clusterSkip,
  startCluster,
  type TestCluster,
} from "../support/cluster.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const POLICY_CRD = "loadbalancerpolicies.portcullis.dev";
const CERT_MANAGER = join(ROOT, "schemas", "cert-manager-v1.21.1");
const CERT_MANAGER_CRDS = ["certificates", "issuers", "clusterissuers"];
const NAMESPACE = "default";

type Json = Record<string, unknown>;

const TARGET = { kind: "Ingress", name: "web" };

/** A LoadBalancerPolicy named `name` targeting Ingress "web", unless `spec` sets targetRefs. */
function policy(name: string, spec: Json, extra: Json = {}): Json {
  return {
    apiVersion: "portcullis.dev/v1alpha1",
    kind: "LoadBalancerPolicy",
    metadata: { name, namespace: NAMESPACE },
    spec: { targetRefs: [TARGET], ...spec },
    ...extra,
  };
}

const BACKENDS = [
  { name: "a", port: { number: 80 } },
  { name: "b", port: { name: "http" } },
];

/** One backend split on `path` over BACKENDS (or `backends`). */
function split(path: string, backends: unknown[] = BACKENDS): Json {
  return { backendSplits: [{ path, backends }] };
}

/** An Ingress named `name` with one rule whose only path is `path` (merged over a valid one). */
function ingress(name: string, path: Json = {}, rule: Json = {}, spec: Json = {}): Json {
  const backend = { service: { name: "web", port: { number: 80 } } };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: NAMESPACE },
    spec: {
      rules: [
        {
          host: "shop.example.com",
          http: { paths: [{ path: "/", pathType: "Prefix", backend, ...path }] },
          ...rule,
        },
      ],
      ...spec,
    },
  };
}

interface Case {
  /** Also the object's name, so every case is its own object. */
  name: string;
  /** Exactly what is sent to the server (a JSON round trip, so undefined means absent). */
  object: Json;
}

/** Cases from [name, spec] pairs, each object built by `build(name, spec)`. */
function cases(build: (name: string, part: Json) => Json, list: [string, Json][]): Case[] {
  return list.map(([name, part]) => ({ name, object: roundTrip(build(name, part)) }));
}

function roundTrip(object: Json): Json {
  return JSON.parse(JSON.stringify(object)) as Json;
}

/** Invalid LoadBalancerPolicies: the server must refuse each with admitPolicy's messages. */
const INVALID_POLICIES: Case[] = cases(policy, [
  ["samesite-none-without-secure", { affinity: { cookie: { sameSite: "None", secure: false } } }],
  ["tls-mode-unknown", { tls: { mode: "Foo" } }],
  ["weight-1001", split("/", [{ name: "a", port: { number: 80 }, weight: 1001 }, BACKENDS[1]])],
  ["split-path-double-slash", split("/a//b")],
  ["split-path-dot-dot", split("/a/../b")],
  ["split-path-dot", split("/a/./b")],
  ["split-path-ends-dot-dot", split("/a/..")],
  ["reencrypt-without-upstream", { tls: { mode: "Reencrypt" } }],
  ["upstream-without-reencrypt", { tls: { upstream: { caSecretName: "ca" } } }],
  ["drain-without-drain-timeout", { affinity: { cookie: {}, onEndpointLoss: "Drain" } }],
  ["drain-timeout-without-drain", { affinity: { cookie: {}, drainTimeout: "5m" } }],
  ["duplicate-target-refs", { targetRefs: [TARGET, { ...TARGET }] }],
  ["preload-without-include-subdomains", { tls: { hsts: { preload: true } } }],
  [
    "preload-short-max-age",
    { tls: { hsts: { preload: true, includeSubDomains: true, maxAgeSeconds: 600 } } },
  ],
  ["rotation-period-25h", { tls: { sessionResumption: { rotationPeriod: "25h" } } }],
  ["rotation-period-30s", { tls: { sessionResumption: { rotationPeriod: "30s" } } }],
  ["rotation-period-bad-pattern", { tls: { sessionResumption: { rotationPeriod: "1d" } } }],
  // Durations are parsed as Go parses them: "0" is zero, "s" and ".5" are no duration at all.
  ["max-age-zero", { affinity: { cookie: { maxAge: "0s" } } }],
  ["idle-timeout-zero-bare", { affinity: { cookie: { idleTimeout: "0" } } }],
  [
    "drain-timeout-zero",
    { affinity: { cookie: {}, onEndpointLoss: "Drain", drainTimeout: "0ms" } },
  ],
  ["ejection-time-unit-only", { healthCheck: { passive: { ejectionTime: "s" } } }],
  ["interval-zero-timeout-bad", { healthCheck: { active: { interval: "0m", timeout: ".5" } } }],
  ["timeouts-zero", { timeouts: { connect: "0s", response: "0h0m", upstreamIdle: "0ms" } }],
  ["rotation-period-fraction", { tls: { sessionResumption: { rotationPeriod: "1.5h" } } }],
  ["unknown-field", { foo: 1 }],
  ["unknown-fields-nested", { targetRefs: [{ ...TARGET, extra: true }], tls: { bar: "x" } }],
  [
    "port-number-and-name",
    split("/", [{ name: "a", port: { number: 80, name: "http" } }, BACKENDS[1]]),
  ],
  ["port-neither-number-nor-name", split("/", [{ name: "a", port: {} }, BACKENDS[1]])],
  ["cookie-name-too-long", { affinity: { cookie: { name: "x".repeat(65) } } }],
  ["cookie-name-not-a-token", { affinity: { cookie: { name: "a;b" } } }],
  ["passthrough-with-affinity", { tls: { mode: "Passthrough" }, affinity: { cookie: {} } }],
  ["passthrough-with-splits", { tls: { mode: "Passthrough" }, ...split("/") }],
  [
    "passthrough-with-certificate",
    { tls: { mode: "Passthrough" }, certificate: { secretName: "s" } },
  ],
  // The section moved from spec.tls.certificate to spec.certificate: the old place is unknown.
  ["certificate-under-tls", { tls: { certificate: { secretName: "s" } } }],
  ["dns-names-without-issuer", { certificate: { secretName: "s", dnsNames: ["a.example.com"] } }],
  [
    "dns-names-duplicate",
    {
      certificate: {
        secretName: "s",
        issuerRef: { name: "letsencrypt" },
        dnsNames: ["*.example.com", "example.com", "*.example.com"],
      },
    },
  ],
  ["active-timeout-not-shorter", { healthCheck: { active: { timeout: "5s" } } }],
  [
    "all-weights-zero",
    split(
      "/",
      BACKENDS.map((b) => ({ ...b, weight: 0 })),
    ),
  ],
  ["one-backend", split("/", [BACKENDS[0]])],
  ["attempts-9-and-reencrypt", { retry: { attempts: 9 }, tls: { mode: "Reencrypt" } }],
  ["attempts-negative", { retry: { attempts: -1 } }],
  ["attempts-string", { retry: { attempts: "2" } }],
  ["attempts-float", { retry: { attempts: 1.5 } }],
  ["attempts-bool", { retry: { attempts: true } }],
  ["attempts-array", { retry: { attempts: [1] } }],
  ["attempts-beyond-int32", { retry: { attempts: 3000000000 } }],
  // Within a relative 1e-9 of an integer: kube-openapi's type check takes it, its range check not.
  ["attempts-nearly-integer", { retry: { attempts: 5000000.001 } }],
  ["attempts-nearly-three", { retry: { attempts: 3.0000000001 } }],
  ["weight-float", split("/", [{ ...BACKENDS[0], weight: 0.5 }, BACKENDS[1]])],
  ["body-limit-too-big", { limits: { maxRequestBodyBytes: 17179869185 } }],
  ["body-limit-float", { limits: { maxRequestBodyBytes: 1.5 } }],
  ["body-limit-beyond-int64", { limits: { maxRequestBodyBytes: 1e19 } }],
  ["max-age-seconds-string", { tls: { hsts: { maxAgeSeconds: "600" } } }],
  ["target-refs-empty", { targetRefs: [] }],
  [
    "target-refs-17",
    { targetRefs: Array.from({ length: 17 }, (_, i) => ({ kind: "Ingress", name: `web-${i}` })) },
  ],
  ["target-refs-missing", { targetRefs: undefined }],
  ["target-ref-bad-kind", { targetRefs: [{ kind: "Service", name: "web" }] }],
  ["target-ref-null", { targetRefs: [null] }],
]);

INVALID_POLICIES.push(
  { name: "metadata-name-invalid", object: roundTrip(policy("Web_1", {})) },
  ...cases(
    (name, extra) => policy(name, {}, extra),
    [
      [
        "metadata-unknown-field",
        { metadata: { name: "metadata-unknown-field", namespace: NAMESPACE, colour: "red" } },
      ],
      ["spec-missing", { spec: undefined }],
    ],
  ),
);

/** Invalid Ingresses: the server must refuse each with admitIngress's messages. */
const INVALID_INGRESSES: Case[] = cases(
  (name, path) => ingress(name, path),
  [
    ["prefix-path-double-slash", { path: "/a//b" }],
    ["exact-path-dot-dot", { path: "/a/../b", pathType: "Exact" }],
    ["prefix-path-encoded-slash", { path: "/a%2Fb" }],
    ["prefix-path-ends-dot", { path: "/a/." }],
    ["exact-path-relative", { path: "api", pathType: "Exact" }],
    ["implementation-specific-relative", { path: "api", pathType: "ImplementationSpecific" }],
    ["path-type-missing", { pathType: undefined }],
    ["path-type-unknown", { pathType: "Regex" }],
    [
      "port-name-and-number",
      { backend: { service: { name: "web", port: { number: 80, name: "http" } } } },
    ],
    ["port-missing", { backend: { service: { name: "web" } } }],
    ["service-name-uppercase", { backend: { service: { name: "Web", port: { number: 80 } } } }],
    ["service-name-with-dot", { backend: { service: { name: "web.x", port: { number: 80 } } } }],
    [
      "service-name-ends-with-dash",
      { backend: { service: { name: "web-", port: { number: 80 } } } },
    ],
    [
      "service-name-too-long",
      { backend: { service: { name: "w".repeat(64), port: { number: 80 } } } },
    ],
    ["port-name-invalid", { backend: { service: { name: "web", port: { name: "HTTP_1" } } } }],
    ["backend-missing", { backend: {} }],
    ["unknown-field-in-path", { colour: "red" }],
  ],
);

INVALID_INGRESSES.push(
  ...cases(
    (name, rule) => ingress(name, {}, rule),
    [
      ["host-invalid", { host: "Bad_Host.example.com" }],
      ["host-ip", { host: "10.0.0.1" }],
      ["host-wildcard-twice", { host: "*.*.example.com" }],
      ["http-paths-empty", { http: { paths: [] } }],
    ],
  ),
  ...cases(
    (name, spec) => ingress(name, {}, {}, spec),
    [
      ["no-rules-no-default", { rules: [] }],
      [
        "tls-secret-and-host-invalid",
        { tls: [{ hosts: ["Shop.example.com"], secretName: "Bad_Secret" }] },
      ],
      ["class-name-invalid", { ingressClassName: "Portcullis_1" }],
      ["unknown-field-in-spec", { colour: "red" }],
    ],
  ),
);

/** Valid Ingresses: the server must accept each, and admitIngress too. */
const VALID_INGRESSES: Case[] = cases(
  (name, path) => ingress(name, path),
  [
    ["prefix-root", {}],
    // v1.36 validates Service names as RFC 1123 labels (RelaxedServiceNameValidation, beta, on).
    [
      "service-name-starts-with-digit",
      { backend: { service: { name: "1web", port: { number: 80 } } } },
    ],
    ["port-by-name", { backend: { service: { name: "web", port: { name: "http" } } } }],
    [
      "implementation-specific-anything",
      { path: "/a//b/../c", pathType: "ImplementationSpecific" },
    ],
    [
      "resource-backend",
      {
        backend: {
          resource: { apiGroup: "k8s.example.com", kind: "StorageBucket", name: "static" },
        },
      },
    ],
  ],
);
VALID_INGRESSES.push(
  ...cases((name, rule) => ingress(name, {}, rule), [["wildcard-host", { host: "*.example.com" }]]),
);

/** Valid policies: the server must store each with exactly the defaults admitPolicy applies. */
const VALID_POLICIES: Case[] = cases(policy, [
  ["minimal", {}],
  [
    "every-section",
    {
      tls: {},
      certificate: { secretName: "wildcard", issuerRef: { name: "letsencrypt" } },
      balancer: {},
      affinity: { cookie: {} },
      ...split("/shop", [
        { name: "a", port: { number: 80 } },
        { name: "b", port: { name: "http" }, weight: 0 },
      ]),
      healthCheck: { active: {} },
      timeouts: {},
      limits: {},
      retry: {},
    },
  ],
  ["reencrypt", { tls: { mode: "Reencrypt", upstream: { caSecretName: "ca" } } }],
  ["passthrough", { tls: { mode: "Passthrough" } }],
  [
    "drain",
    { affinity: { cookie: { sameSite: "None" }, onEndpointLoss: "Drain", drainTimeout: "5m" } },
  ],
  ["preload", { tls: { hsts: { preload: true, includeSubDomains: true } } }],
  ["nulls", { tls: { mode: null }, certificate: null, retry: { attempts: null } }],
  [
    "durations-go-syntax",
    {
      tls: { sessionResumption: { rotationPeriod: "1h30m" } },
      affinity: { cookie: { maxAge: "1ms", idleTimeout: "90m" } },
      healthCheck: { active: { interval: "1m", timeout: "59s999ms" } },
    },
  ],

  ["class-target", { targetRefs: [TARGET, { kind: "IngressClass", name: "web" }] }],
]);

/**
 * The error lines kubectl printed for a refused `apply -f -` of one object, one per error: either
 *   The <Kind> "<name>" is invalid: <field>: <message>
 * or that header followed by "* <field>: <message>" lines, or a strict decoding error (unknown
 * fields), which the server returns before validating:
 *   Error from server (BadRequest): error when creating "STDIN": … strict decoding error: unknown field "a", unknown field "b"
 * Anything else (warnings included) is not a refusal we can compare, and throws.
 */
function parseRefusal(result: CommandResult, kind: string, name: string): string[] {
  const lines = result.stderr.replace(/\n$/, "").split("\n");
  const header = `The ${kind} ${JSON.stringify(name)} is invalid: `;
  const [first = "", ...rest] = lines;
  if (first.startsWith(header)) {
    const single = first.slice(header.length);
    if (single !== "" && rest.length === 0) return [single];
    if (single === "" && rest.length > 0 && rest.every((line) => line.startsWith("* "))) {
      return rest.map((line) => line.slice(2));
    }
  }
  const strict =
    /^Error from server \(BadRequest\): error when creating "STDIN": .* strict decoding error: (.*)$/.exec(
      first,
    );
  if (strict?.[1] !== undefined && rest.length === 0) {
    return strict[1].split(/, (?=(?:unknown|duplicate) field ")/);
  }
  throw new Error(
    `unexpected kubectl output (exit ${result.code}):\n${result.stderr}${result.stdout}`,
  );
}

function asSet(lines: readonly string[]): string[] {
  return [...new Set(lines)].sort();
}

/**
 * Server and admission side by side, for a failure message (node's diff that follows reads
 * "actual" as admission and "expected" as the API server).
 */
function sideBySide(server: readonly string[], offline: readonly string[]): string {
  const list = (lines: readonly string[], none: string) =>
    lines.length === 0 ? [`  (${none})`] : asSet(lines).map((line) => `  ${line}`);
  const only = (a: readonly string[], b: readonly string[]) =>
    a.filter((line) => !b.includes(line));
  return [
    "API server:",
    ...list(server, "accepted: no errors"),
    "offline admission:",
    ...list(offline, "accepted: no errors"),
    "only the API server:",
    ...list(only(server, offline), "none"),
    "only offline admission:",
    ...list(only(offline, server), "none"),
  ].join("\n");
}

describe("offline admission equals a real API server (v1.36)", { skip: clusterSkip }, () => {
  let cluster: TestCluster | undefined;
  /** Why the LoadBalancerPolicy CRD is not installed; undefined once it is. */
  let crdMissing: string | undefined = "the CRD test did not run";

  before(
    async () => {
      cluster = await startCluster();
    },
    { timeout: CLUSTER_START_TIMEOUT_MS },
  );
  after(() => cluster?.stop());

  function kube(): TestCluster {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  }

  function requirePolicyCrd(): void {
    if (crdMissing !== undefined) {
      throw new Error(`the LoadBalancerPolicy CRD is not installed: ${crdMissing}`);
    }
  }

  async function apply(object: Json): Promise<CommandResult> {
    return kube().kubectl(["apply", "-f", "-"], { input: JSON.stringify(object) });
  }

  /**
   * Applies an object meant to be invalid and asserts that the server's errors are admission's
   * (as sets; none if the server accepted it), then that the server did refuse it.
   */
  async function assertSameRefusal(object: Json, kind: string, offline: string[]): Promise<void> {
    const result = await apply(object);
    const name = String((object.metadata as Json).name);
    const server = result.code === 0 ? [] : parseRefusal(result, kind, name);
    assert.deepEqual(asSet(offline), asSet(server), sideBySide(server, offline));
    assert.notEqual(result.code, 0, "the API server and admission both accepted it");
  }

  test("our CRD is accepted with no warning (structural, CEL within budget) and is Established", async () => {
    const result = await kube().kubectl(["apply", "-f", join(ROOT, "crds")]);
    crdMissing =
      result.stderr === "" ? "the CRD test failed" : `the API server said: ${result.stderr.trim()}`;
    // Any stderr output — a refusal or a warning — fails the test with the server's own words.
    assert.equal(
      result.stderr,
      "",
      `kubectl apply -f crds/ (exit ${result.code}) printed:\n${result.stderr}`,
    );
    assert.equal(result.code, 0);
    assert.match(
      result.stdout,
      /customresourcedefinition\.apiextensions\.k8s\.io\/loadbalancerpolicies\.portcullis\.dev (created|configured|unchanged)/,
    );

    const wait = await kube().kubectl([
      "wait",
      "--for",
      "condition=established",
      "--timeout",
      "60s",
      `crd/${POLICY_CRD}`,
    ]);
    assert.equal(wait.code, 0, wait.stderr);
    const crd = JSON.parse(
      (await kube().kubectl(["get", "crd", POLICY_CRD, "-o", "json"])).stdout,
    ) as {
      status: { conditions: { type: string; status: string; message: string }[] };
    };
    const conditions = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
    assert.deepEqual(
      { Established: conditions.Established, NamesAccepted: conditions.NamesAccepted },
      { Established: "True", NamesAccepted: "True" },
    );
    assert.equal(conditions.NonStructuralSchema, undefined, JSON.stringify(crd.status.conditions));
    crdMissing = undefined;
  });

  test("the cert-manager v1.21.1 CRDs (Certificate, Issuer, ClusterIssuer) are accepted and Established", async () => {
    const files = CERT_MANAGER_CRDS.map((plural) => [
      "-f",
      join(CERT_MANAGER, `cert-manager.io_${plural}.yaml`),
    ]);
    const result = await kube().kubectl(["apply", ...files.flat()]);
    assert.equal(result.code, 0, result.stderr);
    const names = CERT_MANAGER_CRDS.map((plural) => `crd/${plural}.cert-manager.io`);
    const wait = await kube().kubectl([
      "wait",
      "--for",
      "condition=established",
      "--timeout",
      "60s",
      ...names,
    ]);
    assert.equal(wait.code, 0, wait.stderr);
  });

  describe("invalid LoadBalancerPolicies: refused with admitPolicy's messages", () => {
    for (const { name, object } of INVALID_POLICIES) {
      test(name, async () => {
        requirePolicyCrd();
        const offline = admitPolicy(object).errors.map((error) => error.message);
        await assertSameRefusal(object, "LoadBalancerPolicy", offline);
      });
    }
  });

  describe("invalid Ingresses: refused with admitIngress's messages", () => {
    for (const { name, object } of INVALID_INGRESSES) {
      test(name, async () => {
        const offline = admitIngress(object).errors.map((error) => error.message);
        await assertSameRefusal(object, "Ingress", offline);
      });
    }
  });

  describe("valid Ingresses: accepted by both", () => {
    for (const { name, object } of VALID_INGRESSES) {
      test(name, async () => {
        const offline = admitIngress(object).errors.map((error) => error.message);
        const result = await apply(object);
        const server = result.code === 0 ? [] : parseRefusal(result, "Ingress", name);
        assert.deepEqual(asSet(offline), asSet(server), sideBySide(server, offline));
        assert.equal(result.stderr, "", `kubectl apply printed:\n${result.stderr}`);
      });
    }
  });

  describe("valid LoadBalancerPolicies: stored with the defaults admitPolicy applies", () => {
    for (const { name, object } of VALID_POLICIES) {
      test(name, async () => {
        requirePolicyCrd();
        const admitted = admitPolicy(object);
        const offline = admitted.errors.map((error) => error.message);
        const result = await apply(object);
        const server = result.code === 0 ? [] : parseRefusal(result, "LoadBalancerPolicy", name);
        assert.deepEqual(asSet(offline), asSet(server), sideBySide(server, offline));
        assert.equal(result.stderr, "", `kubectl apply printed:\n${result.stderr}`);
        const stored = await kube().kubectl(["get", "lbp", name, "-n", NAMESPACE, "-o", "json"]);
        assert.equal(stored.code, 0, stored.stderr);
        assert.deepEqual((JSON.parse(stored.stdout) as Json).spec, admitted.object.spec);
      });
    }
  });

  test("kubectl get lbp prints the TLS, Affinity, Accepted, Programmed and Age columns", async () => {
    requirePolicyCrd();
    const name = "printer-columns";
    const created = await apply(
      policy(name, {
        tls: { mode: "Reencrypt", upstream: { caSecretName: "ca" } },
        affinity: { cookie: { name: "pin" } },
      }),
    );
    assert.equal(created.code, 0, created.stderr);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const condition = (type: string, status: string) => ({
      type,
      status,
      reason: "Test",
      message: "Set by the test.",
      lastTransitionTime: now,
    });
    const patched = await kube().kubectl([
      "patch",
      "lbp",
      name,
      "-n",
      NAMESPACE,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: { conditions: [condition("Accepted", "True"), condition("Programmed", "False")] },
      }),
    ]);
    assert.equal(patched.code, 0, patched.stderr);

    const table = await kube().kubectl(["get", "lbp", name, "-n", NAMESPACE]);
    assert.equal(table.code, 0, table.stderr);
    const [header = "", row = ""] = table.stdout.trimEnd().split("\n");
    assert.deepEqual(header.split(/\s+/), [
      "NAME",
      "TLS",
      "AFFINITY",
      "ACCEPTED",
      "PROGRAMMED",
      "AGE",
    ]);
    const cells = row.split(/\s+/);
    assert.deepEqual(cells.slice(0, 5), [name, "Reencrypt", "pin", "True", "False"]);
    assert.match(cells[5] ?? "", /^\d+s$/);
  });
});
