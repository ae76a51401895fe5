import assert from "node:assert/strict";
import { test } from "node:test";
import { LeastRequestPicker, RoundRobinPicker, WeightedBackendPicker } from "./balancer.ts";
import { EndpointState } from "./endpoint.ts";

function endpoints(count: number): EndpointState[] {
  return Array.from(
    { length: count },
    (_, i) =>
      new EndpointState(
        {
          id: i.toString(16).padStart(16, "0"),
          address: `10.0.0.${i + 1}`,
          port: 8080,
          ready: true,
          serving: true,
          terminating: false,
        },
        "default/app",
        0,
        undefined,
        0,
      ),
  );
}

const all = (): boolean => true;

test("smooth weighted round robin: 1:3 interleaves and is exact over every cycle", () => {
  const picker = new WeightedBackendPicker([1, 3]);
  const picks = Array.from({ length: 8 }, () => picker.pick(all));
  assert.deepEqual(picks, [1, 0, 1, 1, 1, 0, 1, 1]);
});

test("smooth weighted round robin: distribution over 4,000 picks is exactly 1:3", () => {
  const picker = new WeightedBackendPicker([1, 3]);
  const counts = [0, 0];
  for (let i = 0; i < 4000; i++) {
    const index = picker.pick(all);
    counts[index] = (counts[index] as number) + 1;
  }
  assert.deepEqual(counts, [1000, 3000]);
});

test("smooth weighted round robin: weight 0 is never picked, even when it is the only usable one", () => {
  const picker = new WeightedBackendPicker([0, 5, 0]);
  for (let i = 0; i < 100; i++) assert.equal(picker.pick(all), 1);
  assert.equal(
    picker.pick((i) => i !== 1),
    -1,
  );
  assert.equal(new WeightedBackendPicker([0, 0]).pick(all), -1);
  assert.equal(new WeightedBackendPicker([]).pick(all), -1);
});

test("smooth weighted round robin: an unusable backend's share goes to the others", () => {
  const picker = new WeightedBackendPicker([1, 3, 2]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) {
    const index = picker.pick((b) => b !== 1);
    counts[index] = (counts[index] as number) + 1;
  }
  assert.deepEqual(counts, [100, 0, 200]);
});

test("round robin: cycles through usable endpoints and skips the others", () => {
  const list = endpoints(3);
  const picker = new RoundRobinPicker();
  const addresses = Array.from({ length: 4 }, () => picker.pick(list, all)?.address);
  assert.deepEqual(addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"]);
  // The cursor is now after 10.0.0.1.
  const ids = Array.from({ length: 4 }, () => picker.pick(list, (e) => e !== list[1])?.address);
  assert.deepEqual(ids, ["10.0.0.3", "10.0.0.1", "10.0.0.3", "10.0.0.1"]);
  assert.equal(
    picker.pick(list, () => false),
    undefined,
  );
  assert.equal(picker.pick([], all), undefined);
});

test("round robin: every endpoint gets an equal share", () => {
  const list = endpoints(3);
  const picker = new RoundRobinPicker(2);
  const seen = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const id = picker.pick(list, all)?.id ?? "none";
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...seen.values()], [100, 100, 100]);
});

/** A deterministic sequence of "random" numbers. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

test("least request: of the two drawn, the less loaded wins", () => {
  const list = endpoints(4);
  (list[0] as EndpointState).health.inFlight = 5;
  (list[2] as EndpointState).health.inFlight = 1;
  // Draws index 0 (0.1 × 4), then 2 (0.5 × 3 = 1 → skips 0 → 2).
  const picker = new LeastRequestPicker(sequence([0.1, 0.5]));
  assert.equal(picker.pick(list, all), list[2]);
});

test("least request: prefers the less loaded endpoint over many picks", () => {
  const list = endpoints(2);
  (list[0] as EndpointState).health.inFlight = 10;
  let state = 42;
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const picker = new LeastRequestPicker(random);
  for (let i = 0; i < 100; i++) assert.equal(picker.pick(list, all), list[1]);
});

test("least request: with three endpoints the most loaded is never picked", () => {
  const list = endpoints(3);
  (list[1] as EndpointState).health.inFlight = 3;
  (list[2] as EndpointState).health.inFlight = 1;
  const picker = new LeastRequestPicker(sequence([0, 0.34, 0.67, 0.99, 0.5, 0.1, 0.9]));
  for (let i = 0; i < 50; i++) assert.notEqual(picker.pick(list, all), list[1]);
});

test("least request: only usable endpoints are drawn", () => {
  const list = endpoints(3);
  const picker = new LeastRequestPicker(sequence([0.99, 0.99]));
  for (let i = 0; i < 10; i++)
    assert.equal(
      picker.pick(list, (e) => e === list[1]),
      list[1],
    );
  assert.equal(
    picker.pick(list, () => false),
    undefined,
  );
});
