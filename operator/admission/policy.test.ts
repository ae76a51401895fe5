import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { admitPolicy, defaultPolicySection } from "./index.ts";

const NOT_CHECKED =
  "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

const target = { kind: "Ingress", name: "web" };

function policy(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: "portcullis.dev/v1alpha1",
    kind: "LoadBalancerPolicy",
    metadata: { name: "web", namespace: "shop" },
    spec: { targetRefs: [target], ...spec },
    ...extra,
  };
}

/** The messages admission gives for a spec (targetRefs filled in unless the spec sets it). */
function messages(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] {
  return admitPolicy(policy(spec, extra)).errors.map((error) => error.message);
}

/** Asserts that the spec is accepted. */
function accepts(spec: Record<string, unknown>): void {
  assert.deepEqual(messages(spec), []);
}

describe("defaults", () => {
  test("tls: {} gains every default, hsts and sessionResumption included", () => {
    const { object, errors } = admitPolicy(policy({ tls: {} }));
    assert.deepEqual(errors, []);
    assert.deepEqual(object.spec.tls, {
      mode: "Terminate",
      minVersion: "TLSv1.2",
      cipherPolicy: "Modern",
      hsts: { maxAgeSeconds: 31536000, includeSubDomains: false, preload: false },
      httpRedirect: true,
      sessionResumption: { tickets: true, rotationPeriod: "12h" },
    });
    assert.equal(object.spec.targetRefs[0]?.group, "networking.k8s.io");
  });

  test("sections that are absent stay absent", () => {
    const { object } = admitPolicy(policy({}));
    assert.deepEqual(Object.keys(object.spec), ["targetRefs"]);
  });

  test("a null with a default is defaulted; a null without one is dropped", () => {
    const { object, errors } = admitPolicy(policy({ tls: { mode: null }, certificate: null }));
    assert.deepEqual(errors, []);
    assert.equal(object.spec.tls?.mode, "Terminate");
    assert.equal("certificate" in object.spec, false);
  });

  test("items of arrays are defaulted", () => {
    const backends = [
      { name: "a", port: { number: 80 } },
      { name: "b", port: { number: 80 }, weight: 0 },
    ];
    const { object } = admitPolicy(policy({ backendSplits: [{ path: "/", backends }] }));
    assert.deepEqual(
      object.spec.backendSplits?.[0]?.backends.map((b) => b.weight),
      [1, 0],
    );
  });

  test("the input is never mutated", () => {
    const input = policy({ tls: {}, foo: 1 });
    const before = structuredClone(input);
    admitPolicy(input);
    assert.deepEqual(input, before);
  });

  test("defaultPolicySection applies the schema's defaults to an empty section", () => {
    assert.deepEqual(defaultPolicySection("healthCheck"), {
      passive: { consecutiveFailures: 5, ejectionTime: "30s", maxEjectionPercent: 50 },
    });
    assert.deepEqual(defaultPolicySection("timeouts"), {
      connect: "5s",
      response: "60s",
      upstreamIdle: "60s",
    });
    assert.deepEqual(defaultPolicySection("backendSplits"), []);
    assert.notEqual(defaultPolicySection("tls"), defaultPolicySection("tls"));
  });
});

describe("unknown fields (strict field validation)", () => {
  test("are the only errors, sorted, with array indices", () => {
    assert.deepEqual(
      messages(
        { foo: 1, targetRefs: [{ ...target, extra: true }], tls: { mode: "Nope" } },
        {
          metadata: { name: "web", colour: "red" },
        },
      ),
      [
        'unknown field "metadata.colour"',
        'unknown field "spec.foo"',
        'unknown field "spec.targetRefs[0].extra"',
      ],
    );
  });

  test("are pruned from the returned object", () => {
    const { object } = admitPolicy(policy({ foo: 1 }));
    assert.equal("foo" in object.spec, false);
  });
});

describe("metadata", () => {
  test("name must be a DNS-1123 subdomain", () => {
    assert.deepEqual(messages({}, { metadata: { name: "Web_1" } }), [
      `metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ]);
  });

  test("a missing name is required, which blocks the CEL rules", () => {
    assert.deepEqual(messages({}, { metadata: {} }), [
      "metadata.name: Required value: name or generateName is required",
      NOT_CHECKED,
    ]);
  });

  test("namespace is optional", () => {
    assert.deepEqual(messages({}, { metadata: { name: "web" } }), []);
  });

  test("kind and apiVersion must be this CRD's", () => {
    assert.deepEqual(messages({}, { apiVersion: "portcullis.dev/v1" }), [
      'apiVersion: Invalid value: "portcullis.dev/v1": must be portcullis.dev/v1alpha1',
    ]);
  });
});

describe("OpenAPI schema", () => {
  test("an unknown tls.mode is an unsupported value, and CEL is not run", () => {
    assert.deepEqual(messages({ tls: { mode: "Foo" } }), [
      'spec.tls.mode: Unsupported value: "Foo": supported values: "Terminate", "Reencrypt", "Passthrough"',
      NOT_CHECKED,
    ]);
  });

  test("a weight of 1001 is above the maximum; CEL still runs", () => {
    const backends = [
      { name: "a", port: { number: 80 }, weight: 1001 },
      { name: "b", port: { number: 80 } },
    ];
    assert.deepEqual(messages({ backendSplits: [{ path: "/", backends }] }), [
      "spec.backendSplits[0].backends[0].weight: Invalid value: 1001: spec.backendSplits[0].backends[0].weight in body should be less than or equal to 1000",
    ]);
  });

  test("minimum", () => {
    assert.deepEqual(messages({ retry: { attempts: -1 } }), [
      "spec.retry.attempts: Invalid value: -1: spec.retry.attempts in body should be greater than or equal to 0",
    ]);
  });

  test("required fields", () => {
    assert.deepEqual(messages({ targetRefs: undefined }), [
      "spec.targetRefs: Required value",
      NOT_CHECKED,
    ]);
    assert.deepEqual(messages({ targetRefs: [{ kind: "Ingress" }] }), [
      "spec.targetRefs[0].name: Required value",
      NOT_CHECKED,
    ]);
    assert.deepEqual(messages({}, { spec: undefined }), ["spec: Required value", NOT_CHECKED]);
  });

  test("minItems and maxItems", () => {
    assert.deepEqual(messages({ targetRefs: [] }), [
      "spec.targetRefs: Invalid value: 0: spec.targetRefs in body should have at least 1 items",
    ]);
    const many = Array.from({ length: 17 }, (_, i) => ({ kind: "Ingress", name: `web-${i}` }));
    assert.deepEqual(messages({ targetRefs: many }), [
      "spec.targetRefs: Too many: 17: must have at most 16 items",
      NOT_CHECKED,
    ]);
  });

  test("minLength, maxLength and pattern (one error per string, in that order)", () => {
    assert.deepEqual(messages({ targetRefs: [{ kind: "Ingress", name: "" }] }), [
      'spec.targetRefs[0].name: Invalid value: "": spec.targetRefs[0].name in body should be at least 1 chars long',
    ]);
    assert.deepEqual(messages({ affinity: { cookie: { name: "x".repeat(65) } } }), [
      "spec.affinity.cookie.name: Too long: may not be more than 64 bytes",
      NOT_CHECKED,
    ]);
    assert.deepEqual(messages({ affinity: { cookie: { name: "a;b" } } }), [
      "spec.affinity.cookie.name: Invalid value: \"a;b\": spec.affinity.cookie.name in body should match '^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$'",
    ]);
  });

  test("wrong types", () => {
    assert.deepEqual(messages({ retry: { attempts: "2" } }), [
      'spec.retry.attempts: Invalid value: "string": spec.retry.attempts in body must be of type integer: "string"',
      NOT_CHECKED,
    ]);
    assert.deepEqual(messages({ targetRefs: [null] }), [
      'spec.targetRefs[0]: Invalid value: "null": spec.targetRefs[0] in body must be of type object: "null"',
      NOT_CHECKED,
    ]);
  });

  test("integers: the type and range checks of the field's format", () => {
    // A fraction is a float64, refused by the type validator and by the range check.
    assert.deepEqual(messages({ retry: { attempts: 1.5 } }), [
      'spec.retry.attempts: Invalid value: "float64": spec.retry.attempts in body must be of type int32: "float64"',
      '<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.retry.attempts',
      NOT_CHECKED,
    ]);
    assert.deepEqual(messages({ limits: { maxRequestBodyBytes: 1.5 } }), [
      'spec.limits.maxRequestBodyBytes: Invalid value: "float64": spec.limits.maxRequestBodyBytes in body must be of type int64: "float64"',
      '<nil>: Invalid value: "": Checked value must be of type integer with format int64 in spec.limits.maxRequestBodyBytes',
      NOT_CHECKED,
    ]);
    // Neither a number, a string nor an array: held to the format, which it has none of.
    assert.deepEqual(messages({ retry: { attempts: true } }), [
      'spec.retry.attempts: Invalid value: "": spec.retry.attempts in body must be of type int32: ""',
      NOT_CHECKED,
    ]);
    // An int64 out of int32's range passes the type validator, not the range check.
    assert.deepEqual(messages({ retry: { attempts: 3000000000 } }), [
      "spec.retry.attempts: Invalid value: 3000000000: spec.retry.attempts in body should be less than or equal to 5",
      '<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.retry.attempts',
    ]);
    // kube-openapi counts a float within a relative 1e-9 of an integer as one.
    assert.deepEqual(messages({ retry: { attempts: 5000000.001 } }), [
      "spec.retry.attempts: Invalid value: 5.000000001e+06: spec.retry.attempts in body should be less than or equal to 5",
      '<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.retry.attempts',
    ]);
    // Beyond int64, a JSON integer decodes as a float64.
    assert.deepEqual(messages({ limits: { maxRequestBodyBytes: 1e19 } }), [
      "spec.limits.maxRequestBodyBytes: Invalid value: 1e+19: spec.limits.maxRequestBodyBytes in body should be less than or equal to 1.7179869184e+10",
      'spec.limits.maxRequestBodyBytes: Invalid value: "float64": spec.limits.maxRequestBodyBytes in body must be of type int64: "float64"',
      '<nil>: Invalid value: "": Checked value must be of type integer with format int64 in spec.limits.maxRequestBodyBytes',
      NOT_CHECKED,
    ]);
    accepts({ retry: { attempts: 5.0 }, limits: { maxRequestBodyBytes: 17179869184 } });
  });

  test("set lists must not repeat an item", () => {
    const certificate = {
      secretName: "wildcard",
      issuerRef: { name: "letsencrypt" },
      dnsNames: ["*.example.com", "example.com", "*.example.com", "*.example.com"],
    };
    assert.deepEqual(messages({ certificate }), [
      'spec.certificate.dnsNames[2]: Duplicate value: "*.example.com"',
    ]);
  });
});

describe("x-kubernetes-validations", () => {
  test("cookie affinity is not available with Passthrough", () => {
    accepts({ tls: { mode: "Terminate" }, affinity: { cookie: {} } });
    assert.deepEqual(messages({ tls: { mode: "Passthrough" }, affinity: { cookie: {} } }), [
      "spec.affinity: Invalid value: cookie affinity needs HTTP and is not available with tls.mode Passthrough",
    ]);
  });

  test("backendSplits are not available with Passthrough", () => {
    const backendSplits = [
      {
        path: "/",
        backends: [
          { name: "a", port: { number: 80 } },
          { name: "b", port: { number: 80 } },
        ],
      },
    ];
    accepts({ backendSplits });
    assert.deepEqual(messages({ tls: { mode: "Passthrough" }, backendSplits }), [
      "spec.backendSplits: Invalid value: backendSplits route by path and are not available with tls.mode Passthrough",
    ]);
  });

  test("each target may be listed once", () => {
    accepts({ targetRefs: [target, { kind: "IngressClass", name: "web" }] });
    assert.deepEqual(messages({ targetRefs: [target, { ...target }] }), [
      "spec.targetRefs: Invalid value: each target may be listed only once",
    ]);
  });

  test("Reencrypt needs upstream, and only Reencrypt allows it", () => {
    accepts({ tls: { mode: "Reencrypt", upstream: { caSecretName: "ca" } } });
    const message =
      "spec.tls.upstream: Invalid value: upstream is required when mode is Reencrypt and allowed only then";
    assert.deepEqual(messages({ tls: { mode: "Reencrypt" } }), [message]);
    assert.deepEqual(messages({ tls: { upstream: { caSecretName: "ca" } } }), [message]);
  });

  test("Passthrough keeps its certificate on the backend", () => {
    accepts({ tls: { mode: "Terminate" }, certificate: { secretName: "s" } });
    assert.deepEqual(messages({ tls: { mode: "Passthrough" }, certificate: { secretName: "s" } }), [
      "spec.certificate: Invalid value: a Passthrough host keeps its certificate on the backend; certificate must not be set",
    ]);
  });

  test("dnsNames requires issuerRef", () => {
    accepts({ certificate: { secretName: "s" } });
    assert.deepEqual(messages({ certificate: { secretName: "s", dnsNames: ["a.example.com"] } }), [
      "spec.certificate.dnsNames: Invalid value: dnsNames is used only for issuance and requires issuerRef",
    ]);
  });

  test("hsts preload needs includeSubDomains and a year", () => {
    accepts({ tls: { hsts: { preload: true, includeSubDomains: true } } });
    assert.deepEqual(
      messages({ tls: { hsts: { preload: true, includeSubDomains: true, maxAgeSeconds: 600 } } }),
      [
        "spec.tls.hsts.preload: Invalid value: preload requires includeSubDomains and maxAgeSeconds of at least 31536000",
      ],
    );
  });

  test("rotationPeriod is between 1m and 24h (a scalar: the value is shown)", () => {
    accepts({ tls: { sessionResumption: { rotationPeriod: "1h30m" } } });
    assert.deepEqual(messages({ tls: { sessionResumption: { rotationPeriod: "25h" } } }), [
      'spec.tls.sessionResumption.rotationPeriod: Invalid value: "25h": rotationPeriod must be between 1m and 24h',
    ]);
  });

  test("durations are read as Go reads them; one that is not is a conversion error", () => {
    const pattern = "in body should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'";
    assert.deepEqual(messages({ tls: { sessionResumption: { rotationPeriod: "1d" } } }), [
      `spec.tls.sessionResumption.rotationPeriod: Invalid value: "1d": spec.tls.sessionResumption.rotationPeriod ${pattern}`,
      `spec.tls.sessionResumption.rotationPeriod: Invalid value: "string": type conversion error from 'string' to 'google.protobuf.Duration' evaluating rule: rotationPeriod must be between 1m and 24h`,
    ]);
    // A rule on an object names the object's type.
    assert.deepEqual(messages({ healthCheck: { active: { interval: "5x" } } }), [
      `spec.healthCheck.active.interval: Invalid value: "5x": spec.healthCheck.active.interval ${pattern}`,
      `spec.healthCheck.active: Invalid value: "object": type conversion error from 'string' to 'google.protobuf.Duration' evaluating rule: timeout must be shorter than interval`,
      `spec.healthCheck.active.interval: Invalid value: "string": type conversion error from 'string' to 'google.protobuf.Duration' evaluating rule: must be longer than 0s`,
    ]);
    // Go reads a bare "0" as zero, which the rule then refuses.
    assert.deepEqual(messages({ timeouts: { connect: "0" } }), [
      `spec.timeouts.connect: Invalid value: "0": spec.timeouts.connect ${pattern}`,
      'spec.timeouts.connect: Invalid value: "0": must be longer than 0s',
    ]);
  });

  test("every duration must be longer than 0s", () => {
    accepts({ affinity: { cookie: { maxAge: "1ms", idleTimeout: "1s" } } });
    assert.deepEqual(messages({ affinity: { cookie: { maxAge: "0s", idleTimeout: "0m0s" } } }), [
      'spec.affinity.cookie.maxAge: Invalid value: "0s": must be longer than 0s',
      'spec.affinity.cookie.idleTimeout: Invalid value: "0m0s": must be longer than 0s',
    ]);
    assert.deepEqual(messages({ healthCheck: { passive: { ejectionTime: "0ms" } } }), [
      'spec.healthCheck.passive.ejectionTime: Invalid value: "0ms": must be longer than 0s',
    ]);
  });

  test("Drain needs drainTimeout, and only Drain allows it", () => {
    accepts({ affinity: { cookie: {}, onEndpointLoss: "Drain", drainTimeout: "5m" } });
    const message =
      "spec.affinity.drainTimeout: Invalid value: drainTimeout is required when onEndpointLoss is Drain and allowed only then";
    assert.deepEqual(messages({ affinity: { cookie: {}, onEndpointLoss: "Drain" } }), [message]);
    assert.deepEqual(messages({ affinity: { cookie: {}, drainTimeout: "5m" } }), [message]);
  });

  test("SameSite=None needs Secure", () => {
    accepts({ affinity: { cookie: { sameSite: "None" } } });
    assert.deepEqual(messages({ affinity: { cookie: { sameSite: "None", secure: false } } }), [
      "spec.affinity.cookie.secure: Invalid value: sameSite None requires secure true (browsers drop such cookies otherwise)",
    ]);
  });

  describe("backendSplits", () => {
    const backends = [
      { name: "a", port: { number: 80 } },
      { name: "b", port: { name: "http" } },
    ];
    const pathMessage = (path: string): string =>
      `spec.backendSplits[0].path: Invalid value: "${path}": path must not contain '//', '/./' or '/../' segments`;

    test("paths must be clean", () => {
      accepts({ backendSplits: [{ path: "/shop/cart", backends }] });
      for (const path of ["/a//b", "/a/../b", "/a/./b", "/a/..", "/a/."]) {
        assert.deepEqual(
          messages({ backendSplits: [{ path, backends }] }),
          [pathMessage(path)],
          path,
        );
      }
    });

    test("at least one backend needs a weight", () => {
      const idle = backends.map((b) => ({ ...b, weight: 0 }));
      assert.deepEqual(messages({ backendSplits: [{ path: "/", backends: idle }] }), [
        "spec.backendSplits[0].backends: Invalid value: at least one backend needs a weight above 0",
      ]);
    });

    test("a port is a number or a name, not both", () => {
      const both = [{ name: "a", port: { number: 80, name: "http" } }, backends[1]];
      const neither = [{ name: "a", port: {} }, backends[1]];
      const message =
        "spec.backendSplits[0].backends[0].port: Invalid value: exactly one of number or name is required";
      assert.deepEqual(messages({ backendSplits: [{ path: "/", backends: both }] }), [message]);
      assert.deepEqual(messages({ backendSplits: [{ path: "/", backends: neither }] }), [message]);
    });
  });

  test("an active check's timeout is shorter than its interval", () => {
    accepts({ healthCheck: { active: {} } });
    assert.deepEqual(messages({ healthCheck: { active: { timeout: "5s" } } }), [
      "spec.healthCheck.active.timeout: Invalid value: timeout must be shorter than interval",
    ]);
  });

  test("rules still run next to non-blocking schema errors", () => {
    assert.deepEqual(messages({ retry: { attempts: 9 }, tls: { mode: "Reencrypt" } }), [
      "spec.retry.attempts: Invalid value: 9: spec.retry.attempts in body should be less than or equal to 5",
      "spec.tls.upstream: Invalid value: upstream is required when mode is Reencrypt and allowed only then",
    ]);
  });
});

test("status is neither validated nor dropped from the returned object", () => {
  const { object, errors } = admitPolicy(policy({}, { status: { conditions: "broken" } }));
  assert.deepEqual(errors, []);
  assert.deepEqual(object.status, { conditions: "broken" });
});

test("the error's field is the path the message starts with", () => {
  const { errors } = admitPolicy(policy({ tls: { mode: "Reencrypt" } }));
  assert.deepEqual(errors[0]?.field, "spec.tls.upstream");
});
