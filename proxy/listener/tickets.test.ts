import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { SecretBytes } from "../config/secret-bytes.ts";
import { ManualClock } from "./testing/manual-clock.ts";
import { deriveTicketKeys, TICKET_KEYS_BYTES, TicketKeyRing, ticketEpochAt } from "./tickets.ts";

const secret = new SecretBytes(Buffer.alloc(32, 7));

test("keys are 48 bytes, the same for the same secret and epoch, different otherwise", () => {
  const a = deriveTicketKeys(secret, 100, 3600);
  assert.equal(a.length, TICKET_KEYS_BYTES);
  assert.deepEqual(
    a.reveal(),
    deriveTicketKeys(new SecretBytes(Buffer.alloc(32, 7)), 100, 3600).reveal(),
  );
  assert.notDeepEqual(a.reveal(), deriveTicketKeys(secret, 101, 3600).reveal());
  assert.notDeepEqual(a.reveal(), deriveTicketKeys(secret, 100, 60).reveal());
  assert.notDeepEqual(
    a.reveal(),
    deriveTicketKeys(new SecretBytes(Buffer.alloc(32, 8)), 100, 3600).reveal(),
  );
  assert.equal(String(a), "[redacted]");
});

test("the epoch is the Unix time divided by the period", () => {
  assert.equal(ticketEpochAt(0, 60), 0);
  assert.equal(ticketEpochAt(59_999, 60), 0);
  assert.equal(ticketEpochAt(60_000, 60), 1);
  assert.equal(ticketEpochAt(1_700_000_000_000, 43_200), Math.floor(1_700_000_000 / 43_200));
});

test("a short secret is refused", () => {
  assert.throws(
    () => new TicketKeyRing({ secret: randomBytes(31), rotationSeconds: 60 }),
    /at least 32/,
  );
});

test("two rings with the same secret and clock agree; another secret does not", () => {
  const clock = new ManualClock(1_700_000_123_456);
  const a = new TicketKeyRing({ secret: Buffer.alloc(32, 7), rotationSeconds: 3600, clock });
  const b = new TicketKeyRing({ secret: secret, rotationSeconds: 3600, clock });
  const c = new TicketKeyRing({ secret: Buffer.alloc(32, 9), rotationSeconds: 3600, clock });
  assert.deepEqual(a.keys.reveal(), b.keys.reveal());
  assert.notDeepEqual(a.keys.reveal(), c.keys.reveal());
  for (const ring of [a, b, c]) ring.close();
});

test("the keys change exactly at the epoch boundary, and listeners hear it once", () => {
  const period = 60;
  const clock = new ManualClock(119_000); // epoch 1, boundary at 120 000 ms
  const ring = new TicketKeyRing({ secret, rotationSeconds: period, clock });
  assert.equal(ring.epoch, 1);
  assert.equal(clock.nextAt, 120_000);
  const heard: number[] = [];
  ring.onRotate((keys, epoch) => {
    heard.push(epoch);
    assert.deepEqual(keys.reveal(), deriveTicketKeys(secret, epoch, period).reveal());
  });
  const before = ring.keys.reveal();

  clock.advanceTo(119_999);
  assert.deepEqual(ring.keys.reveal(), before, "unchanged 1 ms before the boundary");
  assert.deepEqual(heard, []);

  clock.advanceTo(120_000);
  assert.equal(ring.epoch, 2);
  assert.deepEqual(heard, [2]);
  assert.deepEqual(ring.keys.reveal(), deriveTicketKeys(secret, 2, period).reveal());
  assert.equal(clock.nextAt, 180_000, "the next rotation is armed for the next boundary");

  clock.advanceTo(300_000);
  assert.deepEqual(heard, [2, 3, 4, 5]);
  ring.close();
});

test("a timer that fires early re-arms without rotating", () => {
  const clock = new ManualClock(10_000);
  const ring = new TicketKeyRing({ secret, rotationSeconds: 60, clock });
  let rotations = 0;
  ring.onRotate(() => rotations++);
  clock.time = 59_999;
  clock.fireEarly();
  assert.equal(rotations, 0);
  assert.equal(ring.epoch, 0);
  assert.equal(clock.nextAt, 60_000);
  clock.advanceTo(60_000);
  assert.equal(rotations, 1);
  ring.close();
});

test("a new period re-derives the keys at once and re-arms for its boundary", () => {
  const clock = new ManualClock(90_000);
  const ring = new TicketKeyRing({ secret, rotationSeconds: 60, clock });
  const heard: number[] = [];
  ring.onRotate((_, epoch) => heard.push(epoch));
  ring.setRotationSeconds(3600);
  assert.deepEqual(heard, [0]);
  assert.deepEqual(ring.keys.reveal(), deriveTicketKeys(secret, 0, 3600).reveal());
  assert.equal(clock.nextAt, 3_600_000);
  ring.setRotationSeconds(3600);
  assert.deepEqual(heard, [0], "same period: nothing happens");
  ring.close();
  clock.advanceTo(10_000_000);
  assert.deepEqual(heard, [0], "a closed ring no longer rotates");
});
