import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { AFFINITY_ROTATED_ANNOTATION, planSharedKeys } from "./shared-keys.ts";

const DAY = 24 * 3600;
const now = new Date("2026-11-24T12:00:00Z");

function secret(metadata: V1Secret["metadata"]): V1Secret {
  return {
    metadata: { name: "portcullis-shared-keys", namespace: "portcullis-system", ...metadata },
  };
}

describe("planSharedKeys", () => {
  test("creates the Secret when there is none, whatever the period", () => {
    assert.deepEqual(planSharedKeys(undefined, now, 7 * DAY), { action: "create" });
    assert.deepEqual(planSharedKeys(undefined, now, 0), { action: "create" });
  });

  test("keeps a Secret rotated less than a period ago, saying when the next rotation is due", () => {
    const current = secret({
      annotations: { [AFFINITY_ROTATED_ANNOTATION]: "2026-11-23T12:00:00Z" },
    });
    assert.deepEqual(planSharedKeys(current, now, 7 * DAY), {
      action: "keep",
      dueInMs: 6 * DAY * 1000,
    });
  });

  test("rotates once a period has passed since the annotation (not since creation)", () => {
    const current = secret({
      creationTimestamp: "2026-11-23T12:00:00Z" as unknown as Date,
      annotations: { [AFFINITY_ROTATED_ANNOTATION]: "2026-11-17T12:00:00Z" },
    });
    assert.deepEqual(planSharedKeys(current, now, 7 * DAY), { action: "rotate" });
  });

  test("without the annotation, counts from creation", () => {
    const young = secret({ creationTimestamp: "2026-11-24T11:00:00Z" as unknown as Date });
    assert.equal(planSharedKeys(young, now, 7 * DAY).action, "keep");
    const old = secret({ creationTimestamp: new Date("2026-11-01T00:00:00Z") });
    assert.equal(planSharedKeys(old, now, 7 * DAY).action, "rotate");
  });

  test("with neither annotation nor creation time (or an unreadable one), rotates: its age is unknown", () => {
    assert.equal(planSharedKeys(secret({}), now, 7 * DAY).action, "rotate");
    const garbled = secret({ annotations: { [AFFINITY_ROTATED_ANNOTATION]: "yesterday" } });
    assert.equal(planSharedKeys(garbled, now, 7 * DAY).action, "rotate");
  });

  test("a period of 0 (or less) never rotates", () => {
    const old = secret({ annotations: { [AFFINITY_ROTATED_ANNOTATION]: "2000-01-01T00:00:00Z" } });
    assert.deepEqual(planSharedKeys(old, now, 0), { action: "keep", dueInMs: undefined });
    assert.deepEqual(planSharedKeys(old, now, -5), { action: "keep", dueInMs: undefined });
  });
});
