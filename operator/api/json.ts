// A deep copy of JSON data (objects, arrays, strings, numbers, booleans, null), the shape every
// Kubernetes object has once parsed. structuredClone handles far more (Maps, cycles, typed arrays) and
// pays for it: copying each of 10,000 Ingresses with it was a visible share of a compile (measured with
// scripts/bench-control/compile.ts). Dates, from client-node's typed objects, are copied as Dates.

/** A deep copy of a JSON value. */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value))
    copy[key] = cloneJson((value as Record<string, unknown>)[key]);
  return copy as T;
}
