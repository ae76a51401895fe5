import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { FixedContextHmac } from "./hmac.ts";

test("FixedContextHmac equals createHmac for keys shorter than, equal to and longer than a block", () => {
  const context = Buffer.from("portcullis-affinity\0default/app:80\0Endpoint\0");
  for (const keyLength of [1, 16, 32, 63, 64, 65, 200]) {
    const key = randomBytes(keyLength);
    const mac = new FixedContextHmac(key, context, 21);
    for (let i = 0; i < 5; i++) {
      const message = randomBytes(21);
      const expected = createHmac("sha256", key).update(context).update(message).digest();
      assert.deepEqual(mac.digest(message), expected, `key of ${keyLength} bytes`);
    }
  }
});

test("property: FixedContextHmac equals createHmac for any key, context and message", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 130 }),
      fc.uint8Array({ maxLength: 100 }),
      fc.uint8Array({ maxLength: 64 }),
      (key, context, message) => {
        const mac = new FixedContextHmac(Buffer.from(key), Buffer.from(context), message.length);
        const expected = createHmac("sha256", key).update(context).update(message).digest();
        assert.deepEqual(mac.digest(Buffer.from(message)), expected);
      },
    ),
  );
});

test("a message of the wrong length is refused", () => {
  const mac = new FixedContextHmac(Buffer.alloc(32), Buffer.alloc(0), 4);
  assert.throws(() => mac.digest(Buffer.alloc(5)));
});
