import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChangeHandler, Informer } from "../kube/informer.ts";
import { combineInformers } from "./combined-informer.ts";

interface Item {
  metadata: { namespace: string; name: string };
}

function fake(items: Item[]): Informer<Item> & { emit(item: Item): void; started: boolean } {
  const handlers = new Set<ChangeHandler<Item>>();
  const part = {
    started: false,
    async start() {
      part.started = true;
    },
    async stop() {},
    get: (key: string) => items.find((i) => `${i.metadata.namespace}/${i.metadata.name}` === key),
    list: () => [...items],
    hasSynced: () => part.started,
    onChange(handler: ChangeHandler<Item>) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    emit(item: Item) {
      for (const handler of handlers)
        handler({
          type: "ADDED",
          key: `${item.metadata.namespace}/${item.metadata.name}`,
          object: item,
        });
    },
  };
  return part;
}

const item = (namespace: string, name: string): Item => ({ metadata: { namespace, name } });

describe("combineInformers", () => {
  test("reads across the parts: get by key, list sorted by key, synced only when all are", async () => {
    const shop = fake([item("shop", "tls"), item("shop", "a")]);
    const system = fake([item("portcullis-system", "keys")]);
    const combined = combineInformers([shop, system]);
    assert.equal(combined.hasSynced(), false);
    await combined.start();
    assert.equal(combined.hasSynced(), true);
    assert.deepEqual(combined.get("shop/tls"), item("shop", "tls"));
    assert.deepEqual(combined.get("portcullis-system/keys"), item("portcullis-system", "keys"));
    assert.equal(combined.get("other/tls"), undefined);
    assert.deepEqual(
      combined.list().map((i) => `${i.metadata.namespace}/${i.metadata.name}`),
      ["portcullis-system/keys", "shop/a", "shop/tls"],
    );
  });

  test("one subscription hears every part's changes until unsubscribed", () => {
    const a = fake([]);
    const b = fake([]);
    const combined = combineInformers([a, b]);
    const heard: string[] = [];
    const unsubscribe = combined.onChange((event) => heard.push(event.key));
    a.emit(item("a", "x"));
    b.emit(item("b", "y"));
    unsubscribe();
    a.emit(item("a", "z"));
    assert.deepEqual(heard, ["a/x", "b/y"]);
  });
});
