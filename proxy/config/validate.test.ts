// The proxy config schema is the one source of truth for the config's shape (types are generated from
// it): it must compile under Ajv's strict mode, or every config the operator compiles is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { proxyConfig } from "../listener/testing/fixtures.ts";
import { computeConfigVersion, validateProxyConfig } from "./validate.ts";

test("a valid config passes, a wrong version and an unknown field are named", () => {
  const config = proxyConfig({});
  const valid = { ...config, version: computeConfigVersion(config) };
  assert.deepEqual(validateProxyConfig(valid), []);
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
