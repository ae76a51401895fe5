// Files that a watcher reads while we write them (the proxy's config, mounted-Secret stand-ins) are
// replaced atomically: write a temporary file beside it, then rename(2) over it, so a reader sees the
// old or the new content, never half of it.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Writes `content` to `path` atomically, unless the file already holds exactly that (so watchers see
 * no change). The file is private (0600), its directory 0700 when created. Resolves whether it wrote.
 */
export async function writeAtomically(path: string, content: Buffer | string): Promise<boolean> {
  const bytes = typeof content === "string" ? Buffer.from(content) : content;
  try {
    if ((await readFile(path)).equals(bytes)) return false;
  } catch {
    // Missing: write it.
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, bytes, { mode: 0o600 });
  await rename(temporary, path);
  return true;
}
