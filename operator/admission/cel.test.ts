import assert from "node:assert/strict";
import { test } from "node:test";
import { loadBalancerPolicySchema } from "../generated/loadbalancerpolicy-schema.ts";
import { rulesOf, toCel, validateRules } from "./cel.ts";
import type { SchemaNode } from "./structural.ts";

function* nodes(node: SchemaNode): Generator<SchemaNode> {
  yield node;
  for (const property of Object.values(node.properties ?? {})) yield* nodes(property);
  if (node.items) yield* nodes(node.items);
}

test("every x-kubernetes-validations rule of the CRD compiles with cel-js", () => {
  let count = 0;
  for (const node of nodes(loadBalancerPolicySchema)) {
    for (const compiled of rulesOf(node)) {
      count++;
      assert.equal(compiled.compileError, undefined, compiled.rule.rule);
    }
  }
  assert.ok(count >= 14, `found ${count} rules`);
});

test("rules are parsed once per schema node", () => {
  const node: SchemaNode = { type: "string", "x-kubernetes-validations": [{ rule: "self != ''" }] };
  assert.equal(rulesOf(node), rulesOf(node));
});

test("integers become CEL ints, so they compare with int literals", () => {
  const schema: SchemaNode = { type: "object", properties: { weight: { type: "integer" } } };
  assert.deepEqual(toCel({ weight: 3, other: 1.5 }, schema), { weight: 3n, other: 1.5 });
});

test("duration() reads its argument as cel-go does, literals included", () => {
  const node: SchemaNode = {
    type: "string",
    "x-kubernetes-validations": [
      { rule: "duration(self) > duration('0s') && duration(self) < duration('1h')", message: "m" },
    ],
  };
  assert.deepEqual(validateRules("0", node, "d"), [
    { field: "d", type: "FieldValueInvalid", message: 'd: Invalid value: "0": m' },
  ]);
  assert.deepEqual(validateRules("1.5m", node, "d"), []);
  assert.deepEqual(
    validateRules(".s", node, "d").map((error) => error.message),
    [
      `d: Invalid value: "string": type conversion error from 'string' to 'google.protobuf.Duration' evaluating rule: m`,
    ],
  );
});
