import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { admitIngress } from "./index.ts";

const SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

const backend = { service: { name: "web", port: { number: 80 } } };

function ingress(spec: unknown, metadata: Record<string, unknown> = { name: "web" }): unknown {
  return { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata, spec };
}

function messages(spec: unknown, metadata?: Record<string, unknown>): string[] {
  return admitIngress(ingress(spec, metadata)).errors.map((error) => error.message);
}

/** Messages for one HTTP path of one rule. */
function pathMessages(entry: Record<string, unknown>): string[] {
  return messages({ rules: [{ host: "shop.example.com", http: { paths: [entry] } }] });
}

describe("paths", () => {
  test("a valid Prefix path passes", () => {
    assert.deepEqual(pathMessages({ path: "/shop", pathType: "Prefix", backend }), []);
  });

  test("Exact and Prefix paths must not contain // (and the rest)", () => {
    assert.deepEqual(pathMessages({ path: "/a//b", pathType: "Prefix", backend }), [
      `spec.rules[0].http.paths[0].path: Invalid value: "/a//b": must not contain '//'`,
    ]);
    assert.deepEqual(pathMessages({ path: "/a/../b%2F", pathType: "Exact", backend }), [
      `spec.rules[0].http.paths[0].path: Invalid value: "/a/../b%2F": must not contain '/../'`,
      `spec.rules[0].http.paths[0].path: Invalid value: "/a/../b%2F": must not contain '%2F'`,
    ]);
    assert.deepEqual(pathMessages({ path: "/a/.", pathType: "Exact", backend }), [
      `spec.rules[0].http.paths[0].path: Invalid value: "/a/.": cannot end with '/.'`,
    ]);
    assert.deepEqual(pathMessages({ pathType: "Prefix", backend }), [
      `spec.rules[0].http.paths[0].path: Invalid value: "": must be an absolute path`,
    ]);
  });

  test("ImplementationSpecific only needs a leading / when a path is given", () => {
    assert.deepEqual(
      pathMessages({ path: "/a//b", pathType: "ImplementationSpecific", backend }),
      [],
    );
    assert.deepEqual(pathMessages({ pathType: "ImplementationSpecific", backend }), []);
    assert.deepEqual(pathMessages({ path: "a", pathType: "ImplementationSpecific", backend }), [
      `spec.rules[0].http.paths[0].path: Invalid value: "a": must be an absolute path`,
    ]);
  });

  test("pathType is required (and then the backend is not checked) and must be known", () => {
    assert.deepEqual(pathMessages({ path: "/", backend: {} }), [
      "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
    ]);
    assert.deepEqual(pathMessages({ path: "/", pathType: "Regex", backend }), [
      `spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"`,
    ]);
  });

  test("an http rule needs paths", () => {
    assert.deepEqual(messages({ rules: [{ http: { paths: [] } }] }), [
      "spec.rules[0].http.paths: Required value",
    ]);
  });
});

describe("hosts", () => {
  test("DNS names, with an optional leading *.", () => {
    assert.deepEqual(messages({ rules: [{ host: "*.example.com" }, { host: "example.com" }] }), []);
    assert.deepEqual(messages({ rules: [{ host: "Shop.example.com" }] }), [
      `spec.rules[0].host: Invalid value: "Shop.example.com": ${SUBDOMAIN}`,
    ]);
    assert.deepEqual(messages({ rules: [{ host: "shop.*.com" }] }), [
      `spec.rules[0].host: Invalid value: "shop.*.com": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ]);
  });

  test("not an IP address", () => {
    assert.deepEqual(messages({ rules: [{ host: "10.0.0.1" }] }), [
      `spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address`,
    ]);
  });

  test("TLS hosts and Secret names", () => {
    const tls = [{ hosts: ["*.example.com", "Bad"], secretName: "Web_TLS" }];
    assert.deepEqual(messages({ defaultBackend: backend, tls }), [
      `spec.tls[0].hosts[1]: Invalid value: "Bad": ${SUBDOMAIN}`,
      `spec.tls[0].secretName: Invalid value: "Web_TLS": ${SUBDOMAIN}`,
    ]);
  });
});

describe("backends", () => {
  test("a service backend with a port number or name passes", () => {
    assert.deepEqual(messages({ defaultBackend: backend }), []);
    assert.deepEqual(
      messages({ defaultBackend: { service: { name: "web", port: { name: "http" } } } }),
      [],
    );
  });

  test("exactly one of service and resource", () => {
    assert.deepEqual(messages({ defaultBackend: {} }), [
      'spec.defaultBackend: Invalid value: "": resource or service backend is required',
    ]);
    const both = { ...backend, resource: { kind: "Bucket", name: "static" } };
    assert.deepEqual(messages({ defaultBackend: both }), [
      'spec.defaultBackend: Invalid value: "": cannot set both resource and service backends',
    ]);
    assert.deepEqual(messages({ defaultBackend: { resource: { kind: "Bucket" } } }), [
      "spec.defaultBackend.resource.name: Required value: name is required",
    ]);
  });

  test("the service name is an RFC 1123 label (RelaxedServiceNameValidation)", () => {
    const name = (value: string) =>
      messages({ defaultBackend: { service: { name: value, port: { number: 80 } } } });
    assert.deepEqual(name("1web"), []);
    assert.deepEqual(name("Web"), [
      `spec.defaultBackend.service.name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ]);
    assert.deepEqual(name("web.x"), [
      'spec.defaultBackend.service.name: Invalid value: "web.x": must not contain dots',
    ]);
    assert.deepEqual(name("w".repeat(64)), [
      `spec.defaultBackend.service.name: Invalid value: "${"w".repeat(64)}": must be no more than 63 characters`,
    ]);
    assert.deepEqual(messages({ defaultBackend: { service: { port: { number: 80 } } } }), [
      "spec.defaultBackend.service.name: Required value",
    ]);
  });

  test("exactly one of port name and number; numbers 1 to 65535", () => {
    const port = (p: unknown) =>
      messages({ defaultBackend: { service: { name: "web", port: p } } });
    assert.deepEqual(port({ name: "http", number: 80 }), [
      'spec.defaultBackend: Invalid value: "": cannot set both port name & port number',
    ]);
    assert.deepEqual(port({}), [
      "spec.defaultBackend: Required value: port name or number is required",
    ]);
    assert.deepEqual(port({ number: 65536 }), [
      "spec.defaultBackend.service.port.number: Invalid value: 65536: must be between 1 and 65535, inclusive",
    ]);
    assert.deepEqual(port({ name: "8080" }), [
      'spec.defaultBackend.service.port.name: Invalid value: "8080": must contain at least one letter (a-z)',
    ]);
  });
});

describe("spec and metadata", () => {
  test("an Ingress needs a defaultBackend or rules", () => {
    assert.deepEqual(messages({}), [
      "spec: Invalid value: null: either `defaultBackend` or `rules` must be specified",
    ]);
  });

  test("the name is a DNS-1123 subdomain, the class too", () => {
    assert.deepEqual(
      messages({ defaultBackend: backend, ingressClassName: "Portcullis" }, { name: "Web" }),
      [
        `metadata.name: Invalid value: "Web": ${SUBDOMAIN}`,
        `spec.ingressClassName: Invalid value: "Portcullis": ${SUBDOMAIN}`,
      ],
    );
  });

  test("the class annotation and field exclude each other", () => {
    const metadata = { name: "web", annotations: { "kubernetes.io/ingress.class": "portcullis" } };
    assert.deepEqual(
      messages({ defaultBackend: backend, ingressClassName: "portcullis" }, metadata),
      [
        'annotations.kubernetes.io/ingress.class: Invalid value: "portcullis": can not be set when the class field is also set',
      ],
    );
  });
});

describe("decoding", () => {
  test("unknown fields are reported alone, in document order", () => {
    assert.deepEqual(
      messages({ rules: [{ http: { paths: [{ path: "/", regex: true }] } }], weight: 1 }),
      ['unknown field "spec.rules[0].http.paths[0].regex"', 'unknown field "spec.weight"'],
    );
  });

  test("a value of the wrong type stops decoding", () => {
    assert.deepEqual(
      messages({ defaultBackend: { service: { name: "web", port: { number: "80" } } } }),
      [
        "json: cannot unmarshal string into Go struct field ServiceBackendPort.spec.defaultBackend.service.port.number of type int32",
      ],
    );
  });

  test("the object is a deep copy", () => {
    const input = ingress({ defaultBackend: backend });
    const { object } = admitIngress(input);
    assert.deepEqual(object, input);
    assert.notEqual(object, input);
  });
});
