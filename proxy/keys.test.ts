import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AFFINITY_PREVIOUS_FILE,
  AFFINITY_SECRET_FILE,
  loadSharedKeys,
  TICKET_SECRET_FILE,
  watchSharedKeys,
} from "./keys.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

/**
 * Writes `files` the way the kubelet updates a Secret volume: into a new directory, then one atomic
 * swap of the `..data` symlink the visible names point through. Two plain writes in a row would let
 * a poll see the half-rotated state in between.
 */
async function writeAtomically(dir: string, files: Record<string, Buffer>): Promise<void> {
  const version = join(dir, `..v${randomBytes(4).toString("hex")}`);
  await mkdir(version);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(version, name), content);
    // The visible name points through ..data; it exists already after the first write.
    await symlink(join("..data", name), join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
  await symlink(version, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
}

describe("watchSharedKeys", () => {
  test("reports a rotated affinity key (new first, previous after), once; keeps keys when the directory is unreadable", async () => {
    const dir = await mkdtemp(join(tmpdir(), "portcullis-keys-"));
    try {
      const first = randomBytes(32);
      const ticket = randomBytes(32);
      await writeAtomically(dir, {
        [TICKET_SECRET_FILE]: ticket,
        [AFFINITY_SECRET_FILE]: first,
        [AFFINITY_PREVIOUS_FILE]: first,
      });
      const initial = await loadSharedKeys(dir);
      assert.ok(initial);
      const seen: Buffer[][] = [];
      const errors: unknown[] = [];
      const watch = watchSharedKeys(
        dir,
        initial,
        (keys) => seen.push(keys),
        (e) => errors.push(e),
        10,
      );
      try {
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(seen.length, 0, "unchanged keys are not reported");

        const second = randomBytes(32);
        await writeAtomically(dir, {
          [TICKET_SECRET_FILE]: ticket,
          [AFFINITY_SECRET_FILE]: second,
          [AFFINITY_PREVIOUS_FILE]: first,
        });
        await until(() => seen.length > 0, "the rotation");
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(seen.length, 1);
        assert.deepEqual(seen[0], [second, first]);

        // A short key (a torn write) is an error: the keys in use stay.
        await writeAtomically(dir, {
          [TICKET_SECRET_FILE]: ticket,
          [AFFINITY_SECRET_FILE]: Buffer.alloc(3),
          [AFFINITY_PREVIOUS_FILE]: first,
        });
        await until(() => errors.length > 0, "the error");
        assert.equal(seen.length, 1);
      } finally {
        watch.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
