// Object keys are "namespace/name" everywhere (queues, maps, config names, messages). This module is
// the one place that prints and parses them, so the format cannot drift.

/** A reference to a namespaced object. */
export interface ObjectKey {
  /** Namespace; "" for cluster-scoped objects. */
  namespace: string;
  /** metadata.name */
  name: string;
}

/** "namespace/name", or "name" for a cluster-scoped object. */
export function formatKey(key: ObjectKey): string {
  return key.namespace === "" ? key.name : `${key.namespace}/${key.name}`;
}

/** Inverse of formatKey. */
export function parseKey(text: string): ObjectKey {
  const slash = text.indexOf("/");
  if (slash === -1) return { namespace: "", name: text };
  return { namespace: text.slice(0, slash), name: text.slice(slash + 1) };
}

/** Compares two keys by namespace, then name (for deterministic sorting). */
export function compareKeys(a: ObjectKey, b: ObjectKey): number {
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
}

/** Locale-independent string order (what a byte-identical output needs; localeCompare is not). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
