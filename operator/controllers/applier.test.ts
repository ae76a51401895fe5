// The Applier over a fake KubeClient: the Applier is pure logic over `apply` (hash the body, compare
// with the live resourceVersion), so a fake that records calls and stamps an incrementing
// resourceVersion is enough. The live versions are a Map the tests set by hand, as the informers would.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KubeClient } from "../kube/client.ts";
import { Applier, type ApplyObject } from "./applier.ts";

interface ApplyCall {
  object: ApplyObject;
  subresource: "status" | undefined;
}

/** A KubeClient whose apply records the call and returns the body with resourceVersion "1", "2", … */
function fakeClient(): { client: KubeClient; calls: ApplyCall[] } {
  const calls: ApplyCall[] = [];
  let version = 0;
  const unused = (): never => {
    throw new Error("not used by the Applier");
  };
  const client: KubeClient = {
    async apply<T extends object>(object: T, options?: { subresource?: "status" | undefined }) {
      const body = object as unknown as ApplyObject;
      calls.push({ object: body, subresource: options?.subresource });
      version += 1;
      return { ...body, metadata: { ...body.metadata, resourceVersion: String(version) } } as T;
    },
    get: unused,
    create: unused,
    replace: unused,
    delete: unused,
    close: async () => {},
  };
  return { client, calls };
}

/** Live resourceVersions by "kind key", as the cache's informers would report them. */
function liveVersions(): {
  live: Map<string, string>;
  read: (kind: string, key: string) => string | undefined;
} {
  const live = new Map<string, string>();
  return { live, read: (kind, key) => live.get(`${kind} ${key}`) };
}

function configMap(data: Record<string, string> = { a: "1" }, name = "fleet"): ApplyObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "portcullis" },
    data,
  } as ApplyObject;
}

/** An Applier whose live object always has the resourceVersion its last apply returned. */
async function appliedOnce(object: ApplyObject = configMap()) {
  const { client, calls } = fakeClient();
  const { live, read } = liveVersions();
  const applier = new Applier(client, read);
  const first = await applier.apply(object);
  assert.equal(first.sent, true);
  live.set(
    `ConfigMap portcullis/${object.metadata.name}`,
    String(first.stored?.metadata?.resourceVersion),
  );
  return { applier, calls, live };
}

describe("Applier", () => {
  test("sends the first apply and returns the stored object", async () => {
    const { client, calls } = fakeClient();
    const applier = new Applier(client, () => undefined);
    const result = await applier.apply(configMap());
    assert.equal(result.sent, true);
    assert.equal(result.stored?.metadata?.resourceVersion, "1");
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]?.object, configMap());
    assert.equal(calls[0]?.subresource, undefined);
  });

  test("skips the same body while the live resourceVersion is the one returned", async () => {
    const { applier, calls } = await appliedOnce();
    const second = await applier.apply(configMap());
    const third = await applier.apply(configMap());
    assert.deepEqual(second, { sent: false });
    assert.deepEqual(third, { sent: false });
    assert.equal(calls.length, 1);
  });

  test("sends when the body changed", async () => {
    const { applier, calls } = await appliedOnce();
    const result = await applier.apply(configMap({ a: "2" }));
    assert.equal(result.sent, true);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1]?.object, configMap({ a: "2" }));
  });

  test("sends the same body when the live resourceVersion changed (someone edited it)", async () => {
    const { applier, calls, live } = await appliedOnce();
    live.set("ConfigMap portcullis/fleet", "99");
    const result = await applier.apply(configMap());
    assert.equal(result.sent, true);
    assert.equal(calls.length, 2);
  });

  test("after re-applying over an edit, skips again once the live version is the new one", async () => {
    const { applier, calls, live } = await appliedOnce();
    live.set("ConfigMap portcullis/fleet", "99");
    const restored = await applier.apply(configMap());
    live.set("ConfigMap portcullis/fleet", String(restored.stored?.metadata?.resourceVersion));
    assert.deepEqual(await applier.apply(configMap()), { sent: false });
    assert.equal(calls.length, 2);
  });

  test("sends the same body when nothing is live (not watched, or deleted)", async () => {
    const { applier, calls, live } = await appliedOnce();
    live.delete("ConfigMap portcullis/fleet");
    assert.equal((await applier.apply(configMap())).sent, true);
    assert.equal((await applier.apply(configMap())).sent, true);
    assert.equal(calls.length, 3);
  });

  test("remembers each object separately", async () => {
    const { applier, calls, live } = await appliedOnce(configMap({ a: "1" }, "one"));
    const other = await applier.apply(configMap({ a: "1" }, "two"));
    assert.equal(other.sent, true);
    live.set("ConfigMap portcullis/two", String(other.stored?.metadata?.resourceVersion));
    assert.equal((await applier.apply(configMap({ a: "1" }, "one"))).sent, false);
    assert.equal((await applier.apply(configMap({ a: "1" }, "two"))).sent, false);
    assert.equal(calls.length, 2);
  });

  test("forget makes the next apply of that object send, and only of that object", async () => {
    const { applier, calls, live } = await appliedOnce(configMap({ a: "1" }, "one"));
    const other = await applier.apply(configMap({ a: "1" }, "two"));
    live.set("ConfigMap portcullis/two", String(other.stored?.metadata?.resourceVersion));
    applier.forget("ConfigMap", "portcullis/one");
    assert.equal((await applier.apply(configMap({ a: "1" }, "one"))).sent, true);
    assert.equal((await applier.apply(configMap({ a: "1" }, "two"))).sent, false);
    assert.equal(calls.length, 3);
  });

  test("forget of another kind with the same key keeps the memo", async () => {
    const { applier, calls } = await appliedOnce();
    applier.forget("Secret", "portcullis/fleet");
    assert.equal((await applier.apply(configMap())).sent, false);
    assert.equal(calls.length, 1);
  });

  test("reset makes the next apply of every object send", async () => {
    const { applier, calls } = await appliedOnce();
    applier.reset();
    assert.equal((await applier.apply(configMap())).sent, true);
    assert.equal(calls.length, 2);
  });

  test("the status subresource has its own memo, and its option reaches the client", async () => {
    const { applier, calls, live } = await appliedOnce();
    const status = await applier.apply(configMap(), { subresource: "status" });
    assert.equal(status.sent, true, "an object apply does not count as a status apply");
    assert.equal(calls[1]?.subresource, "status");
    live.set("ConfigMap portcullis/fleet", String(status.stored?.metadata?.resourceVersion));
    assert.deepEqual(await applier.apply(configMap(), { subresource: "status" }), { sent: false });
    assert.equal(calls.length, 2);
  });

  test("forget clears the status memo too", async () => {
    const { client, calls } = fakeClient();
    const { live, read } = liveVersions();
    const applier = new Applier(client, read);
    const status = await applier.apply(configMap(), { subresource: "status" });
    live.set("ConfigMap portcullis/fleet", String(status.stored?.metadata?.resourceVersion));
    applier.forget("ConfigMap", "portcullis/fleet");
    assert.equal((await applier.apply(configMap(), { subresource: "status" })).sent, true);
    assert.equal(calls.length, 2);
  });

  test("a stored object without a resourceVersion is not remembered", async () => {
    const calls: ApplyObject[] = [];
    const { client } = fakeClient();
    const bare: KubeClient = {
      ...client,
      async apply<T extends object>(object: T) {
        calls.push(object as unknown as ApplyObject);
        return { ...object, metadata: { name: "fleet" } } as T;
      },
    };
    const applier = new Applier(bare, () => undefined);
    await applier.apply(configMap());
    // Even a live version of "undefined" (as a string) must not match a missing one.
    const matching = new Applier(bare, () => "undefined");
    await matching.apply(configMap());
    assert.equal((await matching.apply(configMap())).sent, true);
    assert.equal(calls.length, 3);
  });

  test("a rejected apply is not remembered and rejects to the caller", async () => {
    const { client } = fakeClient();
    let fail = true;
    let sent = 0;
    const flaky: KubeClient = {
      ...client,
      async apply<T extends object>(object: T) {
        sent += 1;
        if (fail) throw new Error("conflict");
        return client.apply(object as T & ApplyObject);
      },
    };
    const applier = new Applier(flaky, () => "1");
    await assert.rejects(applier.apply(configMap()), /conflict/);
    fail = false;
    assert.equal((await applier.apply(configMap())).sent, true);
    assert.equal(sent, 2);
  });
});
