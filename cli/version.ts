// The version printed by `portcullis --version`: package.json's, found by walking up from this
// module, so it is the same whether run from source (cli/) or from the build (dist/cli/).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "portcullis";

/** The version in Portcullis's package.json, or "unknown" when it cannot be found. */
export function readVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let directory = from; ; directory = dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (manifest.name === PACKAGE_NAME && typeof manifest.version === "string") {
        return manifest.version;
      }
    } catch {
      // No (readable) package.json here: keep walking up.
    }
    if (dirname(directory) === directory) return "unknown";
  }
}
