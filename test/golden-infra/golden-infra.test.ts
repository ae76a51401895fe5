// Golden tests of the pure infrastructure builder: each test/golden-infra/<feature>-<scenario>.in.yaml
// is run (see cases.ts: compiled, then built) and the objects, Secret data redacted, must equal
// <name>.out.yaml byte for byte. `UPDATE_GOLDEN=1 npm run test:unit` rewrites the outputs; review the
// diff. A case the builder refuses records the error's code and message instead.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";
import { redactSecretData } from "../../operator/infra/index.ts";
import { CASES_DIR, caseFiles, FIXTURES_DIR, runInfraCase } from "./cases.ts";

const update = process.env.UPDATE_GOLDEN === "1";
const cases = caseFiles();

test("there are golden infra cases", () => {
  assert.ok(cases.length >= 8);
});

for (const file of cases) {
  const name = file.slice(0, -".in.yaml".length);
  test(`golden-infra ${name}`, () => {
    const result = runInfraCase(file);
    const text = stringify(
      result.ok
        ? {
            description: result.description,
            diagnostics: result.diagnostics.map(
              (d) => `${d.severity} ${d.reason} ${d.kind} ${d.namespace}/${d.name} ${d.field}`,
            ),
            configHash: result.output.configHash,
            objects: result.output.objects.map(redactSecretData),
            sharedKeysSecret: redactSecretData(result.sharedKeysSecret),
          }
        : {
            description: result.description,
            error: { code: result.error.code, message: result.error.message },
          },
      { lineWidth: 0 },
    );
    const outFile = join(CASES_DIR, `${name}.out.yaml`);
    if (update) writeFileSync(outFile, text);
    assert.equal(
      text,
      readFileSync(outFile, "utf8"),
      `${name}: output differs (UPDATE_GOLDEN=1 to accept)`,
    );
    if (result.ok) {
      assert.deepEqual(result.rebuild(true), result.output, `${name}: depends on Secret order`);
    }
  });
}

/** Every base64 value of every fixture Secret, and the base64 lines inside their PEM blocks. */
function fixtureSecretMaterial(): string[] {
  const material = new Set<string>();
  for (const file of readdirSync(FIXTURES_DIR).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(FIXTURES_DIR, file), "utf8"))) {
      const secret = doc.toJS() as V1Secret | null;
      for (const value of Object.values(secret?.data ?? {})) {
        material.add(value.replace(/\s+/g, ""));
        for (const line of Buffer.from(value, "base64").toString("latin1").split("\n"))
          if (line.length >= 40) material.add(line.trim());
      }
    }
  }
  return [...material];
}

test("golden infra outputs never hold Secret data", () => {
  const material = fixtureSecretMaterial();
  assert.ok(material.length > 10, "the fixtures hold key material to look for");
  const outputs = readdirSync(CASES_DIR).filter((f) => f.endsWith(".out.yaml"));
  assert.equal(outputs.length, cases.length);
  for (const file of outputs) {
    const text = readFileSync(join(CASES_DIR, file), "utf8");
    assert.doesNotMatch(text, /-----BEGIN/, `${file} holds a PEM block`);
    for (const value of material) {
      assert.ok(!text.includes(value), `${file} holds Secret data (${value.slice(0, 12)}…)`);
    }
    const out = parse(text) as { objects?: V1Secret[]; sharedKeysSecret?: V1Secret };
    const secrets = [
      ...(out.objects ?? []),
      ...(out.sharedKeysSecret ? [out.sharedKeysSecret] : []),
    ].filter((o) => o.kind === "Secret");
    for (const secret of secrets) {
      for (const [key, value] of Object.entries(secret.data ?? {}))
        assert.match(
          value,
          /^<redacted sha256:[0-9a-f]{16}>$/,
          `${file}: ${secret.metadata?.name} ${key}`,
        );
    }
  }
});
