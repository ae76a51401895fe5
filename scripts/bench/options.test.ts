import assert from "node:assert/strict";
import { test } from "node:test";
import { parseBenchOptions, reproduceCommand } from "./options.ts";

test("defaults: 3 reps × 10 s, every measurement, every proxy", () => {
  const options = parseBenchOptions([]);
  assert.equal(options.reps, 3);
  assert.equal(options.seconds, 10);
  assert.equal(options.measurements.length, 8);
  assert.deepEqual(options.proxies, ["nginx", "haproxy", "portcullis"]);
  assert.equal(options.fixedRate, 2000);
  assert.equal(options.install, true);
});

test("--quick is 1 rep × 3 s; explicit values win", () => {
  const quick = parseBenchOptions(["--quick"]);
  assert.equal(quick.reps, 1);
  assert.equal(quick.seconds, 3);
  assert.equal(parseBenchOptions(["--quick", "--reps", "2"]).reps, 2);
});

test("--only takes names, repeated or comma-separated, in canonical order", () => {
  const options = parseBenchOptions(["--only", "crypto,h1", "--only", "full-rsa"]);
  assert.deepEqual(options.measurements, ["h1", "full-rsa", "crypto"]);
});

test("unknown names, bad numbers and unknown options are usage errors", () => {
  assert.throws(() => parseBenchOptions(["--only", "h3"]), /unknown "h3"/);
  assert.throws(() => parseBenchOptions(["--proxies", "envoy"]), /unknown "envoy"/);
  assert.throws(() => parseBenchOptions(["--reps", "0"]), /positive integer/);
  assert.throws(() => parseBenchOptions(["--duration", "1.5"]), /positive integer/);
  assert.throws(() => parseBenchOptions(["--fast"]), /Unknown option/);
});

test("the reproduce command quotes what the shell would split", () => {
  assert.equal(reproduceCommand([]), "npm run bench");
  assert.equal(
    reproduceCommand(["--only", "h1", "--out", "/tmp/a b"]),
    "npm run bench -- --only h1 --out '/tmp/a b'",
  );
});
