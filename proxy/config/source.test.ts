// watchConfigFile against real files: the poll skips a file that has not changed, so what matters is
// that every kind of change is still seen: an edit in place of the same size, an atomic rename over
// the file (how `portcullis serve` writes it), and Kubernetes' symlink swap of a mounted volume.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { eventually, proxyConfig, RecordingLogger } from "../listener/testing/fixtures.ts";
import { watchConfigFile } from "./source.ts";
import type { ProxyConfig } from "./types.ts";
import { computeConfigVersion } from "./validate.ts";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Retries `check` (assertions) until it passes, for at most 5 s (the poll is 500 ms). */
async function settles(check: () => void): Promise<void> {
  let last: unknown;
  const passed = await eventually(() => {
    try {
      check();
      return true;
    } catch (error) {
      last = error;
      return false;
    }
  }, 5000);
  if (!passed) throw last;
}

/** A valid config (its version the content hash), distinct from every other one made here. */
function versioned(): ProxyConfig {
  const config = proxyConfig({ sessionTicketRotationSeconds: 3600 + serial++ });
  return { ...config, version: computeConfigVersion(config) };
}
let serial = 0;

const INVALID_JSON = "{ not json";
/** What JSON.parse says of INVALID_JSON, in this Node's words. */
const INVALID_JSON_MESSAGE = ((): string => {
  try {
    JSON.parse(INVALID_JSON);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("INVALID_JSON parsed");
})();

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-source-"));
  dirs.push(dir);
  return dir;
}

function watch(path: string) {
  const applied: string[] = [];
  const rejected: string[][] = [];
  const handle = watchConfigFile(
    path,
    {
      onConfig: (config: ProxyConfig) => {
        applied.push(config.version);
      },
      onRejected: (problems) => {
        rejected.push(problems);
      },
    },
    new RecordingLogger(),
  );
  return { applied, rejected, close: () => handle.close() };
}

test("edits in place (same size), atomic renames and invalid files are all seen; an unchanged file is applied once", async () => {
  const dir = await scratch();
  const path = join(dir, "config.json");
  const first = versioned();
  await writeFile(path, JSON.stringify(first));
  const watcher = watch(path);
  try {
    await settles(() => assert.deepEqual(watcher.applied, [first.version]));
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.deepEqual(watcher.applied, [first.version], "polls of an unchanged file apply nothing");

    // Same length, different version: only the file's times say it changed.
    const second = versioned();
    assert.equal(JSON.stringify(second).length, JSON.stringify(first).length);
    await writeFile(path, JSON.stringify(second));
    await settles(() => assert.deepEqual(watcher.applied, [first.version, second.version]));

    // An edit in place can be read half-done (writeFile truncates first), so an empty file may be
    // reported on the way: what must hold is that the file as written ends up reported, once.
    await writeFile(path, INVALID_JSON);
    await settles(() =>
      assert.deepEqual(watcher.rejected.at(-1), [`${path}: not JSON: ${INVALID_JSON_MESSAGE}`]),
    );
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal(
      watcher.rejected.filter((problems) => problems[0]?.endsWith(INVALID_JSON_MESSAGE)).length,
      1,
      "polls of an unchanged invalid file report nothing new",
    );

    const third = versioned();
    await writeFile(join(dir, "next.json"), JSON.stringify(third));
    await rename(join(dir, "next.json"), path);
    await settles(() => assert.equal(watcher.applied.at(-1), third.version));
  } finally {
    watcher.close();
  }
});

test("a Kubernetes volume's symlink swap is seen", async () => {
  // kubelet's atomic writer: config.json -> ..data/config.json, ..data -> ..<timestamp> (swapped).
  const dir = await scratch();
  const write = async (name: string, config: ProxyConfig): Promise<void> => {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, "config.json"), JSON.stringify(config));
  };
  const first = versioned();
  await write("..v1", first);
  await symlink("..v1", join(dir, "..data"));
  await symlink("..data/config.json", join(dir, "config.json"));
  const watcher = watch(join(dir, "config.json"));
  try {
    await settles(() => assert.deepEqual(watcher.applied, [first.version]));
    const second = versioned();
    await write("..v2", second);
    await symlink("..v2", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await settles(() => assert.deepEqual(watcher.applied, [first.version, second.version]));
  } finally {
    watcher.close();
  }
});
