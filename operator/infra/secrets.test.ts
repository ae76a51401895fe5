import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { inspect } from "node:util";
import {
  AFFINITY_PREVIOUS_FILE,
  AFFINITY_SECRET_FILE,
  SHARED_KEYS_LABEL,
  TICKET_SECRET_FILE,
} from "../../proxy/keys.ts";
import { OWNER, settings } from "../../test/golden-infra/support.ts";
import {
  buildRotatedSharedKeysSecret,
  buildSharedKeysSecret,
  MissingSecretError,
  redactSecretData,
} from "./index.ts";
import { mirrorSecretName, mirrorVolumeName } from "./names.ts";

/** randomBytes stand-in: 0x01…, then 0x02…, so each call is recognisable. */
function counting(): { random: (n: number) => Buffer; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    random: (n) => {
      sizes.push(n);
      return Buffer.alloc(n, sizes.length);
    },
  };
}

test("the shared-keys Secret holds 32 random bytes per key, ticket first", () => {
  const { random, sizes } = counting();
  const secret = buildSharedKeysSecret(settings(), random, OWNER);
  assert.deepEqual(sizes, [32, 32]);
  assert.equal(secret.metadata?.name, "portcullis-shared-keys");
  assert.equal(secret.metadata?.namespace, "portcullis-system");
  assert.equal(secret.metadata?.labels?.[SHARED_KEYS_LABEL], "true");
  assert.equal(secret.metadata?.labels?.["app.kubernetes.io/component"], "shared-keys");
  assert.equal(secret.metadata?.ownerReferences?.[0]?.uid, OWNER.uid);
  assert.equal(secret.type, "Opaque");
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), [
    AFFINITY_SECRET_FILE,
    TICKET_SECRET_FILE,
  ]);
  assert.deepEqual(
    Buffer.from(secret.data?.[TICKET_SECRET_FILE] ?? "", "base64"),
    Buffer.alloc(32, 1),
  );
  assert.deepEqual(
    Buffer.from(secret.data?.[AFFINITY_SECRET_FILE] ?? "", "base64"),
    Buffer.alloc(32, 2),
  );
  assert.throws(() => buildSharedKeysSecret(settings(), () => Buffer.alloc(16), OWNER), RangeError);
});

test("rotating the affinity key keeps the previous one and the ticket secret", () => {
  const current = buildSharedKeysSecret(settings(), counting().random, OWNER);
  const rotated = buildRotatedSharedKeysSecret(
    current,
    settings(),
    () => Buffer.alloc(32, 9),
    OWNER,
  );
  assert.equal(rotated.data?.[TICKET_SECRET_FILE], current.data?.[TICKET_SECRET_FILE]);
  assert.equal(rotated.data?.[AFFINITY_PREVIOUS_FILE], current.data?.[AFFINITY_SECRET_FILE]);
  assert.deepEqual(
    Buffer.from(rotated.data?.[AFFINITY_SECRET_FILE] ?? "", "base64"),
    Buffer.alloc(32, 9),
  );
  assert.deepEqual(rotated.metadata, current.metadata);
  // Rotating again drops the oldest key.
  const again = buildRotatedSharedKeysSecret(rotated, settings(), () => Buffer.alloc(32, 7), OWNER);
  assert.equal(again.data?.[AFFINITY_PREVIOUS_FILE], rotated.data?.[AFFINITY_SECRET_FILE]);
  assert.throws(
    () =>
      buildRotatedSharedKeysSecret(
        { metadata: { name: "x" }, data: {} },
        settings(),
        counting().random,
        OWNER,
      ),
    MissingSecretError,
  );
});

test("redaction replaces every Secret value by a digest of its bytes and leaves other kinds alone", () => {
  const secret = buildSharedKeysSecret(settings(), counting().random, OWNER);
  const redacted = redactSecretData({ ...secret, stringData: { note: "plain" } });
  const ticket = createHash("sha256").update(Buffer.alloc(32, 1)).digest("hex").slice(0, 16);
  assert.equal(redacted.data?.[TICKET_SECRET_FILE], `<redacted sha256:${ticket}>`);
  assert.match(redacted.stringData?.note ?? "", /^<redacted sha256:[0-9a-f]{16}>$/);
  assert.ok(!inspect(redacted, { depth: 9 }).includes(secret.data?.[TICKET_SECRET_FILE] ?? "?"));
  // The original is untouched.
  assert.equal(secret.data?.[TICKET_SECRET_FILE], Buffer.alloc(32, 1).toString("base64"));
  const configMap = { kind: "ConfigMap", data: { a: "b" } };
  assert.equal(redactSecretData(configMap), configMap);
});

test("mirror names: prefix, type, 12 hex of sha256(namespace/name); volumes without the prefix", () => {
  const digest = createHash("sha256").update("shop/wildcard").digest("hex").slice(0, 12);
  const source = { namespace: "shop", name: "wildcard" };
  assert.equal(mirrorSecretName("portcullis", "tls", source), `portcullis-tls-${digest}`);
  assert.equal(mirrorSecretName("edge", "ca", source), `edge-ca-${digest}`);
  assert.equal(mirrorVolumeName("tls", source), `tls-${digest}`);
  assert.notEqual(
    mirrorSecretName("p", "tls", { namespace: "a", name: "b-c" }),
    mirrorSecretName("p", "tls", { namespace: "a-b", name: "c" }),
  );
});
