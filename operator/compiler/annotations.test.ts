// ingress-nginx annotations: what the golden cases (test/golden/migration-*) do not show one by one,
// and a property: whatever the values, nothing throws and every section made passes admission.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Ingress } from "@kubernetes/client-node";
import fc from "fast-check";
import { admitPolicy } from "../admission/index.ts";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import { compileNginxAnnotations, formatSeconds, NGINX_PREFIX } from "./annotations.ts";
import { resolveEffectivePolicy } from "./effective.ts";
import { Reporter } from "./reporter.ts";

function ingress(annotations: Record<string, string>): V1Ingress {
  const prefixed = Object.fromEntries(
    Object.entries(annotations).map(([k, v]) => [`${NGINX_PREFIX}${k}`, v]),
  );
  return {
    metadata: { name: "web", namespace: "shop", annotations: prefixed },
    spec: { ingressClassName: "portcullis" },
  };
}

/** A policy as written (before defaults), admitted as the API server would. */
function policy(
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
): LoadBalancerPolicy {
  const { object, errors } = admitPolicy({
    apiVersion: "portcullis.dev/v1alpha1",
    kind: "LoadBalancerPolicy",
    metadata: { name, namespace },
    spec: { targetRefs: [{ kind: "Ingress", name: "web" }], ...spec },
  });
  assert.deepEqual(errors, []);
  return object;
}

function run(
  annotations: Record<string, string>,
  ingressPolicy?: LoadBalancerPolicy,
  classPolicy?: LoadBalancerPolicy,
) {
  const reporter = new Reporter();
  const sections = compileNginxAnnotations(
    ingress(annotations),
    ingressPolicy,
    classPolicy,
    reporter,
  );
  const effective = resolveEffectivePolicy(ingressPolicy, classPolicy, sections);
  const diagnostics = reporter.diagnostics().map((d) => ({
    annotation: d.field.replace(`metadata.annotations["${NGINX_PREFIX}`, "").replace('"]', ""),
    severity: d.severity,
    reason: d.reason,
    message: d.message,
  }));
  return { sections, effective, diagnostics };
}

test("formatSeconds writes the policy duration syntax", () => {
  assert.equal(formatSeconds(172_800), "48h");
  assert.equal(formatSeconds(5_400), "1h30m");
  assert.equal(formatSeconds(90), "1m30s");
  assert.equal(formatSeconds(3_661), "1h1m1s");
  assert.equal(formatSeconds(0), "0s");
});

test("an Ingress without nginx annotations makes no section and no diagnostic", () => {
  const reporter = new Reporter();
  const noAnnotations: V1Ingress = { metadata: { name: "web", namespace: "shop" } };
  assert.deepEqual(compileNginxAnnotations(noAnnotations, undefined, undefined, reporter), {});
  assert.deepEqual(reporter.diagnostics(), []);
});

test('force-ssl-redirect "true" wins over ssl-redirect "false", as in ingress-nginx', () => {
  const { effective, diagnostics } = run({ "ssl-redirect": "false", "force-ssl-redirect": "true" });
  assert.equal(effective.tls.httpRedirect, true);
  const ssl = diagnostics.find((d) => d.annotation === "ssl-redirect");
  assert.equal(ssl?.reason, "Ignored");
  assert.match(ssl?.message ?? "", /overridden by .*force-ssl-redirect/);
});

test('force-ssl-redirect "false" changes nothing and says so', () => {
  const { effective, diagnostics } = run({ "force-ssl-redirect": "False" });
  assert.equal(effective.tls.httpRedirect, true);
  assert.equal(diagnostics[0]?.reason, "DeprecatedAnnotation");
  assert.match(diagnostics[0]?.message ?? "", /has no effect/);
});

test("change-on-failure true over a class policy that drains: Repin, and drainTimeout goes", () => {
  const classPolicy = policy("class", "portcullis-system", {
    affinity: { cookie: { name: "pin" }, onEndpointLoss: "Drain", drainTimeout: "5m" },
  });
  const { effective } = run(
    { affinity: "cookie", "session-cookie-change-on-failure": "true" },
    undefined,
    classPolicy,
  );
  assert.equal(effective.affinity?.onEndpointLoss, "Repin");
  assert.equal(effective.affinity?.drainTimeout, undefined);
  assert.equal(effective.affinity?.cookie.name, "pin");
});

test("change-on-failure false keeps the class policy's own drainTimeout", () => {
  const classPolicy = policy("class", "portcullis-system", {
    affinity: { cookie: {}, onEndpointLoss: "Drain", drainTimeout: "5m" },
  });
  const { effective } = run(
    { affinity: "cookie", "session-cookie-change-on-failure": "false" },
    undefined,
    classPolicy,
  );
  assert.equal(effective.affinity?.onEndpointLoss, "Drain");
  assert.equal(effective.affinity?.drainTimeout, "5m");
});

test("cookie affinity under a Passthrough policy is refused as admission refuses it", () => {
  const ingressPolicy = policy("web", "shop", { tls: { mode: "Passthrough" } });
  const { sections, effective, diagnostics } = run(
    { affinity: "cookie", "session-cookie-name": "route" },
    ingressPolicy,
  );
  assert.equal(sections.affinity, undefined);
  assert.equal(effective.affinity, undefined);
  assert.deepEqual(
    diagnostics.map((d) => [d.annotation, d.reason]),
    [
      ["affinity", "Invalid"],
      ["session-cookie-name", "Ignored"],
    ],
  );
  assert.match(diagnostics[0]?.message ?? "", /not available with tls.mode Passthrough/);
});

test("a policy targeting the Ingress wins its sections; the others still come from annotations", () => {
  const ingressPolicy = policy("web", "shop", { tls: { minVersion: "TLSv1.3" } });
  const { effective, diagnostics } = run(
    { "ssl-redirect": "false", affinity: "cookie", "session-cookie-name": "route" },
    ingressPolicy,
  );
  assert.equal(effective.tls.httpRedirect, true);
  assert.equal(effective.tlsFrom, ingressPolicy);
  assert.equal(effective.affinity?.cookie.name, "route");
  const ssl = diagnostics.find((d) => d.annotation === "ssl-redirect");
  assert.equal(ssl?.reason, "Ignored");
});

test("an annotation tls section keeps the class policy's other fields and its origin", () => {
  const classPolicy = policy("class", "portcullis-system", {
    tls: { minVersion: "TLSv1.3", cipherPolicy: "Strict" },
  });
  const { effective } = run({ "ssl-redirect": "false" }, undefined, classPolicy);
  assert.equal(effective.tls.httpRedirect, false);
  assert.equal(effective.tls.minVersion, "TLSv1.3");
  assert.equal(effective.tls.cipherPolicy, "Strict");
  assert.equal(effective.tlsFrom, classPolicy);
});

test("backend-protocol HTTPS without a CA fails closed: Reencrypt with no upstream, and an error", () => {
  const { effective, diagnostics } = run({ "backend-protocol": "https" });
  assert.equal(effective.tls.mode, "Reencrypt");
  assert.equal(effective.tls.upstream, undefined);
  assert.equal(effective.tlsFrom, undefined);
  assert.deepEqual(
    diagnostics.map((d) => [d.severity, d.reason]),
    [["Error", "BackendNotVerifiable"]],
  );
});

test("every unsupported backend protocol is a warning that changes nothing", () => {
  for (const protocol of ["GRPC", "grpcs", "AJP", "FCGI", "AUTO_HTTP"]) {
    const { sections, diagnostics } = run({ "backend-protocol": protocol });
    assert.deepEqual(sections, {});
    assert.equal(diagnostics[0]?.reason, "UnsupportedAnnotation", protocol);
    assert.match(diagnostics[0]?.message ?? "", new RegExp(protocol.toUpperCase()));
  }
});

test("unknown nginx annotations are listed once, sorted", () => {
  const { diagnostics } = run({ "proxy-body-size": "8m", "auth-url": "http://auth" });
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0]?.reason, "UnsupportedAnnotation");
  assert.match(
    diagnostics[0]?.message ?? "",
    /"nginx.ingress.kubernetes.io\/auth-url", "nginx.ingress.kubernetes.io\/proxy-body-size"$/,
  );
});

const NAMES = [
  "affinity",
  "affinity-mode",
  "session-cookie-name",
  "session-cookie-path",
  "session-cookie-domain",
  "session-cookie-max-age",
  "session-cookie-expires",
  "session-cookie-samesite",
  "session-cookie-secure",
  "session-cookie-change-on-failure",
  "ssl-redirect",
  "force-ssl-redirect",
  "backend-protocol",
];

/** Values near the valid ones, and garbage. */
const value = fc.oneof(
  fc.constantFrom(
    "cookie",
    "true",
    "false",
    "0",
    "60",
    "99999999999",
    "None",
    "lax",
    "/",
    "/a;b",
    ".example.com",
    "HTTPS",
    "HTTP",
    "GRPC",
    "persistent",
  ),
  fc.string(),
);

test("property: any annotation values give sections that admission accepts, and never throw", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...NAMES), value), (annotations) => {
      const { sections } = run(annotations);
      const tls = sections.tls?.spec;
      // The fail-closed section (Reencrypt without a CA) is the one admission would refuse.
      const admissible = tls?.mode === "Reencrypt" && !tls.upstream ? undefined : tls;
      const { errors } = admitPolicy({
        apiVersion: "portcullis.dev/v1alpha1",
        kind: "LoadBalancerPolicy",
        metadata: { name: "web", namespace: "shop" },
        spec: {
          targetRefs: [{ kind: "Ingress", name: "web" }],
          ...(admissible ? { tls: admissible } : {}),
          ...(sections.affinity ? { affinity: sections.affinity } : {}),
        },
      });
      assert.deepEqual(errors, []);
    }),
    { numRuns: 300 },
  );
});
