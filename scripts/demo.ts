// `npm start`: shows the compiler at work on the examples without a cluster: `check` over every example,
// then the proxy configuration compiled from the two-backend affinity example.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "bin", "portcullis.ts");

function run(title: string, args: string[]): number {
  console.log(`\n$ portcullis ${args.join(" ")}    # ${title}`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: "inherit" });
  return result.status ?? 1;
}

const checked = run("validate every example as admission + the compiler would", [
  "check",
  "examples/",
]);
const compiled = run(
  "the proxy configuration for shop.example.com (/app-1, /app-2, cookie affinity)",
  ["compile", "examples/two-backends-affinity/", "--output", "yaml"],
);
process.exitCode = checked === 0 && compiled === 0 ? 0 : 1;
