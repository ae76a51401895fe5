// The proxy config schema is the one source of truth for the config's shape (types are generated from
// it). Its validator is Ajv's standalone code generated from it (`npm run generate`, checked for being
// up to date by `npm test`); these tests hold it to what Ajv compiling the schema decides.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { parse } from "yaml";
import { proxyConfig } from "../listener/testing/fixtures.ts";
import { proxyConfigSchema } from "./generated/proxy-config-schema.ts";
import { validate as generatedValidator } from "./generated/proxy-config-validator.ts";
import type { ProxyConfig } from "./types.ts";
import { computeConfigVersion, validateProxyConfig } from "./validate.ts";

/** A config with every part filled in: the mission's case from the golden files. */
function fullConfig(): ProxyConfig {
  const golden = new URL("../../test/golden/affinity-two-backends.out.yaml", import.meta.url);
  return (parse(readFileSync(golden, "utf8")) as { config: ProxyConfig }).config;
}

test("a valid config passes, a wrong version and an unknown field are named", () => {
  const config = proxyConfig({});
  const valid = { ...config, version: computeConfigVersion(config) };
  assert.deepEqual(validateProxyConfig(valid), []);
  assert.deepEqual(validateProxyConfig(fullConfig()), []);
  assert.deepEqual(validateProxyConfig({ ...valid, version: "0".repeat(64) }), [
    "version: is not the content hash of the config",
  ]);
  const extra = { ...valid, surprise: true };
  const problems = validateProxyConfig({ ...extra, version: computeConfigVersion(extra) });
  assert.ok(
    problems.some((p) => p.includes("surprise")),
    problems.join("\n"),
  );
});

test("formats are checked: a certificate's notAfter must be a date-time", () => {
  const config = fullConfig();
  const [certificate] = config.certificates;
  assert.ok(certificate);
  certificate.notAfter = "next Tuesday";
  assert.deepEqual(validateProxyConfig({ ...config, version: computeConfigVersion(config) }), [
    '/certificates/0/notAfter: must match format "date-time"',
  ]);
});

/** Every path to a value inside `value`, objects and arrays included. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [prefix];
  const keys: (string | number)[] = Array.isArray(value)
    ? value.map((_, i) => i)
    : Object.keys(value);
  return [
    prefix,
    ...keys.flatMap((key) => pathsOf((value as Record<string, unknown>)[key], [...prefix, key])),
  ];
}

test("the generated validator decides and reports exactly as Ajv compiling the schema", () => {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats.default(ajv);
  const compiled = ajv.compile(proxyConfigSchema);
  const generated = generatedValidator as unknown as typeof compiled;
  const base = fullConfig();
  const paths = pathsOf(base).filter((path) => path.length > 0);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 })), {
        minLength: 1,
        maxLength: 3,
      }),
      (edits) => {
        const candidate = structuredClone(base);
        for (const [path, replacement] of edits) {
          let parent = candidate as Record<string | number, unknown>;
          for (const key of path.slice(0, -1)) {
            const next = parent[key];
            if (typeof next !== "object" || next === null) return;
            parent = next as Record<string | number, unknown>;
          }
          parent[path.at(-1) as string | number] = replacement;
        }
        assert.equal(generated(candidate), compiled(candidate));
        assert.deepEqual(generated.errors ?? null, compiled.errors ?? null);
      },
    ),
    { numRuns: 1_000 },
  );
});
