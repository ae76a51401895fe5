// Several informers of one resource type seen as one: the operator watches Secrets in a list of
// namespaces (so that it needs no cluster-wide Secret access), one informer per namespace, and the
// rest of the operator reads them through this as if they were one cache.
import { compareStrings } from "../api/keys.ts";
import type { ChangeHandler, Informer } from "../kube/informer.ts";

/** One Informer over `parts` (each covering distinct objects: distinct namespaces). */
export function combineInformers<T>(parts: readonly Informer<T>[]): Informer<T> {
  return {
    async start() {
      await Promise.all(parts.map((part) => part.start()));
    },
    async stop() {
      await Promise.all(parts.map((part) => part.stop()));
    },
    get(key) {
      for (const part of parts) {
        const found = part.get(key);
        if (found !== undefined) return found;
      }
      return undefined;
    },
    list() {
      const all: { key: string; object: T }[] = [];
      for (const part of parts) {
        for (const object of part.list()) all.push({ key: keyOf(object), object });
      }
      return all.sort((a, b) => compareStrings(a.key, b.key)).map((entry) => entry.object);
    },
    hasSynced() {
      return parts.every((part) => part.hasSynced());
    },
    onChange(handler: ChangeHandler<T>) {
      const unsubscribe = parts.map((part) => part.onChange(handler));
      return () => {
        for (const stop of unsubscribe) stop();
      };
    },
  };
}

function keyOf(object: unknown): string {
  const metadata = (object as { metadata?: { namespace?: string; name?: string } }).metadata;
  return `${metadata?.namespace ?? ""}/${metadata?.name ?? ""}`;
}
