// Property-based tests of the compiler against hostile input: every golden input, mutated at random
// (fields deleted, replaced by values of the wrong type, strings made empty, huge or strange, list
// items duplicated), is compiled — directly, as the operator feeds it objects, and through the CLI's
// admission path. The compiler must never throw, and what it emits must be a config the proxy takes:
// valid against the schema (with its content-hash version) and accepted by the proxy's router and
// cluster registry, which throw on anything they cannot serve.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { buildCompilerInput } from "../../cli/input.ts";
import { type LoadedObject, parseManifests } from "../../cli/manifests.ts";
import { compile, defaultCompilerOptions } from "../../operator/compiler/compile.ts";
import type { CompilerInput } from "../../operator/compiler/types.ts";
import { ClusterRegistry } from "../../proxy/cluster/registry.ts";
import { validateProxyConfig } from "../../proxy/config/validate.ts";
import { noopMetrics } from "../../proxy/observability/ports.ts";
import { Router } from "../../proxy/router/router.ts";

const GOLDEN = fileURLToPath(new URL("../golden/", import.meta.url));
const NOW = new Date("2026-01-01T00:00:00Z");
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every object of every golden input and fixture: the seeds the mutations start from. */
function seeds(): Json[] {
  const files = [
    ...readdirSync(GOLDEN)
      .filter((f) => f.endsWith(".in.yaml"))
      .map((f) => join(GOLDEN, f)),
    ...readdirSync(join(GOLDEN, "fixtures")).map((f) => join(GOLDEN, "fixtures", f)),
  ];
  return files.flatMap((file) =>
    parseManifests(readFileSync(file, "utf8"), file)
      .objects.map((o) => o.object as Json)
      .filter((o) => (o as { kind?: string }).kind !== "GoldenCase"),
  );
}

const strange = fc.constantFrom<Json>(
  "",
  "*",
  "*.*",
  "/",
  "//",
  "/../",
  "%2e%2e",
  "a".repeat(300),
  "é.example.com",
  "0",
  "-1s",
  "99999999999h",
  "Prefix",
  "Exact",
  "ImplementationSpecific",
  "kubernetes.io/tls",
  "portcullis",
  -1,
  0,
  65536,
  1.5,
  Number.MAX_SAFE_INTEGER,
  true,
  null,
  [],
  {},
);
const anyJson: fc.Arbitrary<Json> = fc.oneof(
  strange,
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** All paths (property names and indices) inside a JSON value. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push([...prefix, i], ...paths(item, [...prefix, i]));
    });
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      out.push([...prefix, key], ...paths(item, [...prefix, key]));
    }
  }
  return out;
}

type Mutation = { path: number; kind: "delete" | "set" | "duplicate"; value: Json };

function mutate(seed: Json, mutations: readonly Mutation[]): Json {
  const copy = structuredClone(seed);
  for (const mutation of mutations) {
    const all = paths(copy);
    const path = all[mutation.path % Math.max(1, all.length)];
    if (!path || path.length === 0) continue;
    let parent: Json = copy;
    for (const step of path.slice(0, -1)) parent = (parent as Record<string, Json>)[step] as Json;
    const last = path.at(-1) as string | number;
    if (Array.isArray(parent)) {
      const index = last as number;
      if (mutation.kind === "delete") parent.splice(index, 1);
      else if (mutation.kind === "duplicate")
        parent.splice(index, 0, structuredClone(parent[index] ?? null));
      else parent[index] = structuredClone(mutation.value);
    } else if (parent !== null && typeof parent === "object") {
      if (mutation.kind === "delete") delete parent[last as string];
      else parent[last as string] = structuredClone(mutation.value);
    }
  }
  return copy;
}

const mutationArb = fc.record({
  path: fc.nat(),
  kind: fc.constantFrom("delete" as const, "set" as const, "duplicate" as const),
  value: anyJson,
});

/** The operator's way in: objects straight into CompilerInput by kind (the API server admitted them). */
function byKind(objects: readonly Json[]): CompilerInput {
  const input: CompilerInput = {
    ingressClasses: [],
    ingresses: [],
    policies: [],
    services: [],
    endpointSlices: [],
    secrets: [],
    issuers: [],
    clusterIssuers: [],
  };
  const lists: Record<string, unknown[]> = {
    IngressClass: input.ingressClasses,
    Ingress: input.ingresses,
    LoadBalancerPolicy: input.policies,
    Service: input.services,
    EndpointSlice: input.endpointSlices,
    Secret: input.secrets,
    Issuer: input.issuers,
    ClusterIssuer: input.clusterIssuers,
  };
  for (const object of objects) {
    const kind = (object as { kind?: unknown } | null)?.kind;
    if (typeof kind === "string") lists[kind]?.push(object);
  }
  return input;
}

function assertProxyAccepts(input: CompilerInput): void {
  const output = compile(input, defaultCompilerOptions(NOW));
  assert.deepEqual(validateProxyConfig(output.config), []);
  new Router(output.config);
  const registry = new ClusterRegistry({
    now: () => NOW.getTime(),
    affinityKeys: [Buffer.alloc(32, 7)],
    metrics: noopMetrics,
  });
  registry.apply(output.config);
  registry.stop();
}

test("mutated objects, admitted through the CLI's path: never a throw, always a config the proxy takes", () => {
  const all = seeds();
  fc.assert(
    fc.property(
      fc.array(fc.nat(all.length - 1), { minLength: 1, maxLength: 12 }),
      fc.array(mutationArb, { maxLength: 6 }),
      (picks, mutations) => {
        const objects = picks.map((i, n) => mutate(all[i] as Json, n === 0 ? mutations : []));
        const loaded: LoadedObject[] = objects.map((object, i) => ({
          object: object as LoadedObject["object"],
          origin: { file: "property", line: i + 1 },
        }));
        assertProxyAccepts(buildCompilerInput(loaded).input);
      },
    ),
    { numRuns: RUNS },
  );
});

test("mutated objects fed straight to the compiler (no admission): never a throw, always a config the proxy takes", () => {
  const all = seeds();
  fc.assert(
    fc.property(
      fc.array(fc.nat(all.length - 1), { minLength: 1, maxLength: 12 }),
      fc.array(fc.array(mutationArb, { maxLength: 4 }), { maxLength: 12 }),
      (picks, mutationsPerObject) => {
        const objects = picks.map((i, n) => mutate(all[i] as Json, mutationsPerObject[n] ?? []));
        assertProxyAccepts(byKind(objects));
      },
    ),
    { numRuns: RUNS },
  );
});
