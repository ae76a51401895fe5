// Helpers over object metadata that every compiler step needs in the same way.
import type { V1ObjectMeta } from "@kubernetes/client-node";
import { compareKeys, type ObjectKey } from "./keys.ts";

/** Something with Kubernetes metadata. */
export interface HasMetadata {
  metadata?: V1ObjectMeta | undefined;
}

export function keyOf(object: HasMetadata): ObjectKey {
  return { namespace: object.metadata?.namespace ?? "", name: object.metadata?.name ?? "" };
}

export function generationOf(object: HasMetadata): number {
  return object.metadata?.generation ?? 0;
}

/** Creation time in ms; objects without one (plain manifests) sort as if created together. */
function createdMs(object: HasMetadata): number {
  const created = object.metadata?.creationTimestamp as Date | string | undefined;
  if (created === undefined) return 0;
  // Sorting compares each object many times: parse each timestamp once.
  if (typeof created === "string") {
    const known = parsedTimestamps.get(created);
    if (known !== undefined) return known;
  }
  const parsed = new Date(created).getTime();
  const ms = Number.isNaN(parsed) ? 0 : parsed;
  if (typeof created === "string") {
    if (parsedTimestamps.size >= TIMESTAMP_MEMO_LIMIT) parsedTimestamps.clear();
    parsedTimestamps.set(created, ms);
  }
  return ms;
}

/** Parsed creation timestamps by text (bounded). */
const parsedTimestamps = new Map<string, number>();
const TIMESTAMP_MEMO_LIMIT = 65_536;

/**
 * Conflict order: the older object wins, then namespace/name. This is the rule Kubernetes
 * controllers commonly use, and it does not depend on the order objects arrive in.
 */
export function compareAge(a: HasMetadata, b: HasMetadata): number {
  return createdMs(a) - createdMs(b) || compareKeys(keyOf(a), keyOf(b));
}
