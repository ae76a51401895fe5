import assert from "node:assert/strict";
import { test } from "node:test";
import { WORKER_SEMI_SPACE_MIB, workerExecArgv } from "./supervisor.ts";

test("workers get a small young generation unless the operator of the process chose one", () => {
  const flag = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;
  assert.deepEqual(workerExecArgv([]), [flag]);
  assert.deepEqual(workerExecArgv(["--enable-source-maps"]), ["--enable-source-maps", flag]);
  assert.deepEqual(workerExecArgv(["--max-semi-space-size=16"]), ["--max-semi-space-size=16"]);
  assert.deepEqual(workerExecArgv([], "--max_semi_space_size=8 --trace-gc"), []);
});
