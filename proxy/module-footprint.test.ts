// What the proxy's processes load, checked in a fresh process that imports their module graphs
// (supervisor.ts and worker.ts): each module kept out here is resident memory every proxy pod saves.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("..", import.meta.url));
const PROXY_GRAPHS = ["./supervisor.ts", "./worker.ts"];

/** Node's built-ins and the package files a fresh process has loaded after importing `modules`. */
async function loadedBy(
  modules: readonly string[],
): Promise<{ builtins: string[]; files: string[] }> {
  const urls = modules.map((path) =>
    path.startsWith(".") ? new URL(path, import.meta.url).href : path,
  );
  const script =
    'import { createRequire } from "node:module";' +
    `for (const url of ${JSON.stringify(urls)}) await import(url);` +
    "const files = Object.keys(createRequire(process.cwd() + '/').cache);" +
    "process.stdout.write(JSON.stringify({ builtins: process.moduleLoadList, files }));";
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", script], {
    cwd: REPO,
  });
  return JSON.parse(stdout) as { builtins: string[]; files: string[] };
}

const NODE_UNDICI = "NativeModule internal/deps/undici/undici";
const isAjv = (file: string): boolean => /[/\\]node_modules[/\\]ajv[/\\]/.test(file);
/** prom-client's package root, and the parts of it the proxy does not use (prom-client-parts.ts). */
const isUnusedPromClient = (file: string): boolean =>
  /[/\\]node_modules[/\\]prom-client[/\\](index|lib[/\\](pushgateway|summary))\.js$/.test(file);

describe("the proxy's module graphs", () => {
  test("load neither Node's bundled undici, Ajv nor prom-client's unused parts", async () => {
    const { builtins, files } = await loadedBy(PROXY_GRAPHS);
    assert.ok(builtins.includes("NativeModule http"), "the probe imported node:http");
    assert.ok(
      files.some((file) => file.includes("undici")),
      "the probe sees package files (undici)",
    );
    // An ES import of node:http anywhere would load Node's undici (proxy/http/node-http.ts).
    assert.ok(!builtins.includes(NODE_UNDICI), "Node's undici was loaded");
    // Configs are checked by the generated validator (proxy/config/validate.ts).
    assert.deepEqual(files.filter(isAjv), [], "Ajv was loaded");
    // Metrics come from prom-client's own modules (proxy/observability/prom-client-parts.ts).
    assert.ok(
      files.some((file) => /prom-client[/\\]lib[/\\]registry\.js$/.test(file)),
      "the probe sees prom-client's registry",
    );
    assert.deepEqual(files.filter(isUnusedPromClient), [], "prom-client's root was loaded");
  });

  test("the probe sees what it looks for: an ES import of node:http, Ajv, prom-client's root", async () => {
    const { builtins, files } = await loadedBy(["node:http", "ajv", "prom-client"]);
    assert.ok(builtins.includes(NODE_UNDICI));
    assert.ok(files.some(isAjv));
    assert.equal(files.filter(isUnusedPromClient).length, 3, "index, pushgateway and summary");
  });
});
