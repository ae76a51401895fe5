import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
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
import { writeAtomicVolume } from "./listener/testing/fixtures.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe("watchSharedKeys", () => {
  test("reports a rotated affinity key (new first, previous after), once; keeps keys when the directory is unreadable", async () => {
    const dir = await mkdtemp(join(tmpdir(), "portcullis-keys-"));
    try {
      const first = randomBytes(32);
      const ticket = randomBytes(32);
      await writeAtomicVolume(dir, {
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
        await writeAtomicVolume(dir, {
          [TICKET_SECRET_FILE]: ticket,
          [AFFINITY_SECRET_FILE]: second,
          [AFFINITY_PREVIOUS_FILE]: first,
        });
        await until(() => seen.length > 0, "the rotation");
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(seen.length, 1);
        assert.deepEqual(seen[0], [second, first]);

        // A short key (a torn write) is an error: the keys in use stay.
        await writeAtomicVolume(dir, {
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
