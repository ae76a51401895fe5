// PURE: what to do with the shared-keys Secret (ticket and affinity keys). It is created once and
// never overwritten (replacing the keys would end every TLS session and affinity pin at once); its
// affinity key is rotated every period, the previous one kept so that cookies signed with it still
// pin. The time of the last rotation is an annotation on the Secret, so any replica that becomes
// leader continues the same schedule.
import type { V1Secret } from "@kubernetes/client-node";

/** When the affinity key was last rotated (RFC 3339), on the shared-keys Secret. */
export const AFFINITY_ROTATED_ANNOTATION = "portcullis.dev/affinity-key-rotated-at";

/** What the operator should do with the shared-keys Secret now. */
export type SharedKeysPlan =
  /** The Secret does not exist: create it (only if still absent). */
  | { action: "create" }
  /** The affinity key is due: replace the Secret, conditional on the version read. */
  | { action: "rotate" }
  /** Nothing to do; `dueInMs`: when the next rotation is due (undefined: rotation is off). */
  | { action: "keep"; dueInMs: number | undefined };

/**
 * The plan for `current` at `now`, rotating every `periodSeconds` (0 or less: never). A Secret
 * without the annotation counts from its creation; one with neither is rotated at once (its age is
 * unknown, so it may be old).
 */
export function planSharedKeys(
  current: V1Secret | undefined,
  now: Date,
  periodSeconds: number,
): SharedKeysPlan {
  if (current === undefined) return { action: "create" };
  if (!(periodSeconds > 0)) return { action: "keep", dueInMs: undefined };
  const stamp =
    current.metadata?.annotations?.[AFFINITY_ROTATED_ANNOTATION] ??
    current.metadata?.creationTimestamp;
  const rotatedAt = stamp === undefined ? Number.NaN : new Date(stamp).getTime();
  if (!Number.isFinite(rotatedAt)) return { action: "rotate" };
  const dueInMs = rotatedAt + periodSeconds * 1000 - now.getTime();
  return dueInMs <= 0 ? { action: "rotate" } : { action: "keep", dueInMs };
}
