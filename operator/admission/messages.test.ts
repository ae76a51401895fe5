import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatBadValue,
  goFloat,
  goJSON,
  goQuote,
  invalid,
  notSupported,
  tooMany,
} from "./messages.ts";

test("goQuote quotes like strconv.Quote", () => {
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote("tab\there\n"), '"tab\\there\\n"');
  assert.equal(goQuote("\x00\x7f"), '"\\x00\\x7f"');
  assert.equal(goQuote("héllo ☃"), '"héllo ☃"');
  assert.equal(goQuote("\u200b"), '"\\u200b"');
});

test("goFloat prints like Go's %v", () => {
  assert.equal(goFloat(1.5), "1.5");
  assert.equal(goFloat(100000), "100000");
  assert.equal(goFloat(63072000), "6.3072e+07");
  assert.equal(goFloat(0.00001), "1e-05");
  assert.equal(goFloat(0.0001), "0.0001");
});

test("goJSON sorts keys and escapes HTML like encoding/json", () => {
  assert.equal(goJSON({ b: 1, a: ["<x>"] }), '{"a":["\\u003cx\\u003e"],"b":1}');
  assert.equal(goJSON(null), "null");
});

test("bad values: %v for numbers and booleans, %q for strings, JSON otherwise", () => {
  assert.equal(formatBadValue(1001), "1001");
  assert.equal(formatBadValue(2.5), "2.5");
  assert.equal(formatBadValue(true), "true");
  assert.equal(formatBadValue("x"), '"x"');
  assert.equal(formatBadValue({ a: 1 }), '{"a":1}');
});

test("error bodies", () => {
  assert.equal(invalid("", null, "boom").message, "<nil>: Invalid value: null: boom");
  assert.equal(
    notSupported("spec.mode", 5, ["A", "B"]).message,
    'spec.mode: Unsupported value: 5: supported values: "A", "B"',
  );
  assert.equal(
    tooMany("spec.items", 2, 1).message,
    "spec.items: Too many: 2: must have at most 1 item",
  );
});
