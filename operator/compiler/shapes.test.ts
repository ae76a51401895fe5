// The fast path of wellShapedInput: a Service or EndpointSlice is used as it is only when every field
// the compiler may read (those its copy keeps) is the same in the original as in the copy.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { REUSABLE_SHAPES } from "./shapes.ts";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

/** The fields the compiler may read (those the copy keeps): a leaf, a record of fields, or a list of one. */
type Fields = "leaf" | { readonly [name: string]: Fields } | readonly [Fields];

const METADATA: Fields = {
  name: "leaf",
  namespace: "leaf",
  uid: "leaf",
  generation: "leaf",
  resourceVersion: "leaf",
  creationTimestamp: "leaf",
  labels: "leaf",
  annotations: "leaf",
};
const SERVICE_FIELDS: Fields = {
  apiVersion: "leaf",
  kind: "leaf",
  metadata: METADATA,
  spec: {
    type: "leaf",
    externalName: "leaf",
    ipFamilies: ["leaf"],
    ports: [
      { port: "leaf", name: "leaf", protocol: "leaf", appProtocol: "leaf", targetPort: "leaf" },
    ],
  },
};
const SLICE_FIELDS: Fields = {
  apiVersion: "leaf",
  kind: "leaf",
  metadata: METADATA,
  addressType: "leaf",
  ports: [{ name: "leaf", port: "leaf", protocol: "leaf" }],
  endpoints: [
    {
      addresses: ["leaf"],
      conditions: { ready: "leaf", serving: "leaf", terminating: "leaf" },
      targetRef: { kind: "leaf", name: "leaf" },
    },
  ],
};

/**
 * What the compiler can read of `value`: its `fields`, absent ones left out, an absent list read as an
 * empty one (as the compiler reads it). Anything of the wrong kind where a record or list belongs
 * shows as a marker, so that it never equals a well-formed copy.
 */
function readable(value: unknown, fields: Fields): unknown {
  if (fields === "leaf") {
    // A string map (labels): compared by its entries, whatever its prototype (fast-check's
    // dictionaries have none, copies have Object's).
    const isMap = typeof value === "object" && value !== null && !Array.isArray(value);
    return isMap && !(value instanceof Date) ? { ...value } : value;
  }
  if (Array.isArray(fields)) {
    if (value === undefined) return [];
    if (!Array.isArray(value)) return { notAList: value };
    return value.map((item) => readable(item, fields[0] as Fields));
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { notARecord: value };
  }
  const out: Record<string, unknown> = {};
  for (const [name, sub] of Object.entries(fields)) {
    const item = (value as Record<string, unknown>)[name];
    if (item !== undefined || Array.isArray(sub)) out[name] = readable(item, sub);
  }
  return out;
}

/**
 * A value the API server would send, or (now and then) anything else, or nothing. Rarely enough that a
 * good share of whole objects comes out well shaped, with a score of fields each.
 */
function maybe<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<T | unknown> {
  return fc.oneof(
    { weight: 30, arbitrary: valid },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

/** A record whose every field may be left out. */
function partial(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc.record(fields, { requiredKeys: [] });
}

/** Maybe a list (up to `max` items), each item maybe well formed. */
function listOf<T>(item: fc.Arbitrary<T>, max: number): fc.Arbitrary<unknown> {
  return maybe(fc.array(maybe(item), { maxLength: max }));
}

const metadata = partial({
  name: maybe(fc.constantFrom("web", "api", "")),
  namespace: maybe(fc.constant("shop")),
  uid: maybe(fc.uuid()),
  generation: maybe(fc.nat()),
  resourceVersion: maybe(fc.constant("1234")),
  creationTimestamp: maybe(fc.constant("2026-01-01T00:00:00Z")),
  labels: maybe(fc.dictionary(fc.string(), maybe(fc.string()), { maxKeys: 3 })),
  annotations: maybe(fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 })),
  managedFields: listOf(fc.jsonValue({ maxDepth: 2 }), 2),
});

const servicePort = partial({
  name: maybe(fc.constantFrom("http", "https")),
  port: maybe(fc.integer({ min: -1, max: 70_000 })),
  protocol: maybe(fc.constant("TCP")),
  appProtocol: maybe(fc.constant("http")),
  targetPort: maybe(fc.oneof(fc.constant("http"), fc.nat())),
});

const service = partial({
  apiVersion: maybe(fc.constant("v1")),
  kind: maybe(fc.constant("Service")),
  metadata: maybe(metadata),
  spec: maybe(
    partial({
      type: maybe(fc.constantFrom("ClusterIP", "ExternalName")),
      externalName: maybe(fc.constant("example.org")),
      ipFamilies: listOf(fc.constantFrom("IPv4", "IPv6"), 2),
      clusterIP: maybe(fc.constant("10.0.0.1")),
      ports: listOf(servicePort, 3),
    }),
  ),
  status: maybe(fc.jsonValue({ maxDepth: 2 })),
});

const slicePort = partial({
  name: maybe(fc.constantFrom("http", "")),
  port: maybe(fc.integer({ min: -1, max: 70_000 })),
  protocol: maybe(fc.constantFrom("TCP", "UDP")),
});

const endpoint = partial({
  addresses: listOf(fc.constant("10.0.0.7"), 2),
  conditions: maybe(
    partial({
      ready: maybe(fc.boolean()),
      serving: maybe(fc.boolean()),
      terminating: maybe(fc.boolean()),
    }),
  ),
  targetRef: maybe(partial({ kind: maybe(fc.constant("Pod")), name: maybe(fc.constant("web-1")) })),
  nodeName: maybe(fc.constant("node-1")),
  zone: maybe(fc.constant("a")),
});

const endpointSlice = partial({
  apiVersion: maybe(fc.constant("discovery.k8s.io/v1")),
  kind: maybe(fc.constant("EndpointSlice")),
  metadata: maybe(metadata),
  addressType: maybe(fc.constantFrom("IPv4", "IPv6")),
  ports: listOf(slicePort, 2),
  endpoints: listOf(endpoint, 3),
});

for (const [kind, arbitrary] of [
  ["Service", service],
  ["EndpointSlice", endpointSlice],
] as const) {
  const { shape, copy } =
    kind === "Service" ? REUSABLE_SHAPES.service : REUSABLE_SHAPES.endpointSlice;
  const fields = kind === "Service" ? SERVICE_FIELDS : SLICE_FIELDS;

  test(`a ${kind} is used as it is only when the compiler would read the same of it as of its copy`, () => {
    let reused = 0;
    fc.assert(
      fc.property(arbitrary, (value) => {
        const shaped = shape(value);
        const copied = copy(value);
        if (shaped === value) {
          reused++;
          assert.ok(copied !== undefined, "an object the copy drops must not be reused");
          assert.deepEqual(readable(value, fields), readable(copied, fields));
        } else {
          assert.deepEqual(shaped, copied);
        }
      }),
      {
        numRuns: RUNS * 10,
        // JSON.parse makes an own "__proto__" label like any other key; the generator makes one only
        // now and then, so it is tried every run.
        examples: [
          [
            JSON.parse(
              '{"metadata":{"name":"web","labels":{"__proto__":""}},"addressType":"IPv4"}',
            ),
          ],
        ],
      },
    );
    // The generator makes both kinds of object; a fast path never taken would prove nothing.
    assert.ok(reused >= RUNS / 10, `only ${reused} of ${RUNS * 10} reused`);
  });
}

test("objects as the API server sends them (status, managedFields, zone and nodeName) are reused", () => {
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "9f1c",
      resourceVersion: "81",
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { app: "web" },
      managedFields: [{ manager: "kubectl", operation: "Apply" }],
    },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      ipFamilies: ["IPv4"],
      ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
    },
    status: { loadBalancer: {} },
  };
  const slice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["10.0.0.7"],
        conditions: { ready: true, serving: true, terminating: false },
        targetRef: { kind: "Pod", name: "web-1", namespace: "shop", uid: "77" },
        nodeName: "node-1",
        zone: "a",
      },
    ],
  };
  assert.equal(REUSABLE_SHAPES.service.shape(service), service);
  assert.equal(REUSABLE_SHAPES.endpointSlice.shape(slice), slice);
  // One wrong type anywhere and the copy is used instead.
  const badPort = { ...slice, ports: [{ name: "http", port: "8080" }] };
  assert.notEqual(REUSABLE_SHAPES.endpointSlice.shape(badPort), badPort);
  const nullNamespace = { ...service, metadata: { ...service.metadata, namespace: null } };
  assert.notEqual(REUSABLE_SHAPES.service.shape(nullNamespace), nullNamespace);
});
