import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createServer, STATUS_CODES } from "./node-http.ts";

const run = promisify(execFile);
const UNDICI = "NativeModule internal/deps/undici/undici";

/** Which of Node's built-in modules a fresh process has loaded after importing `modules`. */
async function builtinsLoadedBy(modules: readonly string[]): Promise<string[]> {
  const urls = modules.map((path) => new URL(path, import.meta.url).href);
  const script =
    `for (const url of ${JSON.stringify(urls)}) await import(url);` +
    "process.stdout.write(JSON.stringify(process.moduleLoadList));";
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", script], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
  });
  return JSON.parse(stdout) as string[];
}

describe("node-http", () => {
  test("hands on node:http's own values", () => {
    assert.equal(createServer, http.createServer);
    assert.equal(STATUS_CODES, http.STATUS_CODES);
  });

  test("the proxy's processes do not load Node's bundled undici", async () => {
    // The supervisor's and the worker's module graphs: an ES import of node:http anywhere in them
    // would load it (see node-http.ts).
    const loaded = await builtinsLoadedBy(["../supervisor.ts", "../worker.ts"]);
    assert.ok(loaded.includes("NativeModule http"), "the probe imported node:http");
    assert.ok(!loaded.includes(UNDICI), "Node's undici was loaded");
  });

  test("an ES import of node:http would load it (what the test above guards against)", async () => {
    const loaded = await builtinsLoadedBy(["node:http"]);
    assert.ok(loaded.includes(UNDICI));
  });
});
