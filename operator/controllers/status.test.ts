import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1ManagedFieldsEntry, V1Service } from "@kubernetes/client-node";
import fc from "fast-check";
import type { ConfigSource } from "../../proxy/config/types.ts";
import { Reason } from "../compiler/reasons.ts";
import type { ConditionIntent, ConditionStatus, StatusIntent } from "../compiler/types.ts";
import {
  buildConditions,
  buildLoadBalancerIngress,
  buildPolicyStatus,
  buildProgrammedCondition,
  type Condition,
  formatTime,
  hasWrittenStatus,
  isSameStatus,
  type ProxyReport,
} from "./status.ts";

const T0 = new Date("2024-05-06T07:08:09.987Z");
const T1 = new Date("2024-05-06T08:00:00.001Z");

function accepted(status: ConditionStatus = "True", message = "ok"): ConditionIntent {
  return {
    type: "Accepted",
    status,
    reason: status === "True" ? Reason.Accepted : Reason.Invalid,
    message,
  };
}

function resolved(status: ConditionStatus = "True", message = "ok"): ConditionIntent {
  return {
    type: "ResolvedRefs",
    status,
    reason: status === "True" ? Reason.ResolvedRefs : Reason.SecretNotFound,
    message,
  };
}

function intent(overrides: Partial<StatusIntent> = {}): StatusIntent {
  return {
    kind: "LoadBalancerPolicy",
    namespace: "shop",
    name: "edge",
    generation: 3,
    conditions: [accepted(), resolved()],
    ...overrides,
  };
}

function source(overrides: Partial<ConfigSource> = {}): ConfigSource {
  return {
    kind: "LoadBalancerPolicy",
    namespace: "shop",
    name: "edge",
    generation: 3,
    ...overrides,
  };
}

/**
 * buildProgrammedCondition, typed as the ConditionIntent buildConditions/buildPolicyStatus take (its
 * declared return type, ConditionIntent & { type: "Programmed" }, reduces to never while
 * ConditionIntent.type leaves out "Programmed").
 */
function programmedCondition(
  ...args: Parameters<typeof buildProgrammedCondition>
): ConditionIntent {
  return buildProgrammedCondition(...args) as unknown as ConditionIntent;
}

function report(sources: ConfigSource[], version: string | null = "v-other"): ProxyReport {
  return { version, sources };
}

describe("buildProgrammedCondition", () => {
  test("True when every report's sources name this exact generation", () => {
    const reports = [report([source()]), report([source({ name: "other" }), source()])];
    const condition = programmedCondition(intent(), reports, "v-applied");
    assert.equal(condition.type, "Programmed");
    assert.equal(condition.status, "True");
    assert.equal(condition.reason, Reason.Programmed);
    assert.match(condition.message, /2 ready proxies/);
  });

  test("True when every report serves the applied version, even without a matching source", () => {
    const reports = [report([], "v-applied"), report([source({ generation: 2 })], "v-applied")];
    const condition = programmedCondition(intent(), reports, "v-applied");
    assert.equal(condition.status, "True");
    assert.match(condition.message, /2 ready proxies/);
    assert.match(
      programmedCondition(intent(), [report([], "v-applied")], "v-applied").message,
      /1 ready proxy\b/,
    );
  });

  test("without an appliedVersion only sources count", () => {
    const matching = programmedCondition(intent(), [report([source()], "v1")], undefined);
    assert.equal(matching.status, "True");
    const other = programmedCondition(intent(), [report([], "v1"), report([], null)], undefined);
    assert.equal(other.status, "False");
    assert.equal(other.reason, Reason.Pending);
  });

  for (const [field, mismatch] of [
    ["kind", source({ kind: "Ingress" })],
    ["namespace", source({ namespace: "other" })],
    ["name", source({ name: "other" })],
    ["generation", source({ generation: 2 })],
  ] as const) {
    test(`a source differing in ${field} does not count`, () => {
      const condition = programmedCondition(intent(), [report([mismatch])], "v-applied");
      assert.equal(condition.status, "False");
      assert.equal(condition.reason, Reason.Pending);
      assert.equal(
        condition.message,
        "0 of 1 ready proxies serve generation 3; the others are being updated.",
      );
    });
  }

  test("an older generation on some proxies: Pending with k of N", () => {
    const reports = [
      report([source()]),
      report([source({ generation: 2 })]),
      report([], "v-applied"),
      report([source({ generation: 2 })], null),
    ];
    const condition = programmedCondition(intent(), reports, "v-applied");
    assert.equal(condition.status, "False");
    assert.equal(condition.reason, Reason.Pending);
    assert.match(condition.message, /^2 of 4 ready proxies serve generation 3;/);
  });

  test("no reports: Pending", () => {
    const condition = programmedCondition(intent(), [], "v-applied");
    assert.equal(condition.status, "False");
    assert.equal(condition.reason, Reason.Pending);
  });

  test("not accepted: NotAccepted whatever the reports", () => {
    const serving = [report([source()], "v-applied")];
    for (const conditions of [
      [accepted("False"), resolved()],
      [accepted("Unknown"), resolved()],
      [resolved()],
      [],
    ]) {
      for (const reports of [serving, []]) {
        const condition = programmedCondition(intent({ conditions }), reports, "v-applied");
        assert.equal(condition.status, "False");
        assert.equal(condition.reason, Reason.NotAccepted);
        assert.match(condition.message, /^LoadBalancerPolicy is not accepted/);
      }
    }
  });
});

describe("buildConditions", () => {
  const previous: Condition[] = [
    {
      type: "Accepted",
      status: "True",
      observedGeneration: 2,
      lastTransitionTime: "2024-01-01T00:00:00Z",
      reason: Reason.Accepted,
      message: "old",
    },
    {
      type: "ResolvedRefs",
      status: "True",
      observedGeneration: 2,
      lastTransitionTime: "2024-01-02T00:00:00Z",
      reason: Reason.ResolvedRefs,
      message: "old",
    },
  ];

  test("keeps lastTransitionTime while the status is unchanged, even if reason or message change", () => {
    const intents: ConditionIntent[] = [
      { type: "Accepted", status: "True", reason: Reason.Ignored, message: "new message" },
      resolved("True", "also new"),
    ];
    const conditions = buildConditions(intents, previous, 3, T0);
    assert.deepEqual(conditions, [
      {
        type: "Accepted",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: "2024-01-01T00:00:00Z",
        reason: Reason.Ignored,
        message: "new message",
      },
      {
        type: "ResolvedRefs",
        status: "True",
        observedGeneration: 3,
        lastTransitionTime: "2024-01-02T00:00:00Z",
        reason: Reason.ResolvedRefs,
        message: "also new",
      },
    ]);
  });

  test("sets now (whole seconds, Z) when the status flips or the condition is new", () => {
    const programmed: ConditionIntent = {
      type: "ResolvedRefs",
      status: "False",
      reason: Reason.SecretNotFound,
      message: "gone",
    };
    const conditions = buildConditions([accepted(), programmed], previous, 4, T0);
    assert.deepEqual(
      conditions.map((c) => c.lastTransitionTime),
      ["2024-01-01T00:00:00Z", "2024-05-06T07:08:09Z"],
    );
    const fresh = buildConditions([accepted(), resolved()], undefined, 1, T0);
    for (const condition of fresh) {
      assert.equal(condition.lastTransitionTime, "2024-05-06T07:08:09Z");
      assert.equal(condition.observedGeneration, 1);
    }
  });

  test("a current condition without a string lastTransitionTime gets now", () => {
    const broken = previous.map((c) => ({ ...c, lastTransitionTime: null as unknown as string }));
    const [condition] = buildConditions([accepted()], broken, 3, T0);
    assert.equal(condition?.lastTransitionTime, "2024-05-06T07:08:09Z");
  });

  test("observedGeneration is the given generation, 0 included", () => {
    for (const generation of [0, 1, 7]) {
      const conditions = buildConditions([accepted(), resolved()], previous, generation, T0);
      assert.deepEqual(
        conditions.map((c) => c.observedGeneration),
        [generation, generation],
      );
    }
  });

  test("orders Accepted, ResolvedRefs, Programmed whatever the input order", () => {
    const programmed = programmedCondition(intent(), [], undefined);
    const inputs = [
      [programmed, resolved(), accepted()],
      [resolved(), programmed, accepted()],
      [accepted(), programmed, resolved()],
    ];
    for (const input of inputs) {
      const types = buildConditions(input, undefined, 1, T0).map((c) => c.type);
      assert.deepEqual(types, ["Accepted", "ResolvedRefs", "Programmed"]);
    }
  });

  test("does not reorder or mutate its inputs", () => {
    const input = [resolved(), accepted()];
    const snapshot = structuredClone(input);
    const current = structuredClone(previous);
    buildConditions(input, current, 5, T1);
    assert.deepEqual(input, snapshot);
    assert.deepEqual(current, previous);
  });
});

describe("formatTime", () => {
  test("RFC 3339 UTC with whole seconds, no fraction", () => {
    assert.equal(formatTime(T0), "2024-05-06T07:08:09Z");
    assert.equal(formatTime(new Date(Date.UTC(2030, 0, 2, 3, 4, 5))), "2030-01-02T03:04:05Z");
    assert.match(formatTime(new Date()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe("buildPolicyStatus", () => {
  const certificate = {
    secretName: "edge-tls",
    dnsNames: ["a.example.com", "b.example.com"],
    notAfter: "2025-01-01T00:00:00Z",
    uncoveredHosts: ["c.example.com"],
  };
  const programmed = programmedCondition(intent(), [report([source()])], undefined);

  test("no certificate when the intent has none, even with a renewalTime", () => {
    const status = buildPolicyStatus(intent(), programmed, undefined, T0, "2024-12-01T00:00:00Z");
    assert.equal("certificate" in status, false);
    assert.equal(status.observedGeneration, 3);
    assert.deepEqual(
      status.conditions.map((c) => [c.type, c.status, c.observedGeneration]),
      [
        ["Accepted", "True", 3],
        ["ResolvedRefs", "True", 3],
        ["Programmed", "True", 3],
      ],
    );
  });

  test("certificate from the intent; renewalTime only when given", () => {
    const withCert = intent({ certificate });
    const without = buildPolicyStatus(withCert, programmed, undefined, T0, undefined);
    assert.deepEqual(without.certificate, certificate);
    assert.equal("renewalTime" in (without.certificate ?? {}), false);
    const withRenewal = buildPolicyStatus(
      withCert,
      programmed,
      undefined,
      T0,
      "2024-12-01T00:00:00Z",
    );
    assert.deepEqual(withRenewal.certificate, {
      ...certificate,
      renewalTime: "2024-12-01T00:00:00Z",
    });
    assert.equal("renewalTime" in certificate, false, "the intent is not mutated");
  });

  test("rebuilt from the same inputs and the previous output: isSameStatus (resync writes nothing)", () => {
    const withCert = intent({ certificate });
    const first = buildPolicyStatus(withCert, programmed, undefined, T0, "2024-12-01T00:00:00Z");
    const again = buildPolicyStatus(withCert, programmed, first, T1, "2024-12-01T00:00:00Z");
    assert.ok(isSameStatus(again, first));
    // As read back from the API server: JSON round trip.
    const readBack = JSON.parse(JSON.stringify(first));
    assert.ok(
      isSameStatus(
        buildPolicyStatus(withCert, programmed, readBack, T1, "2024-12-01T00:00:00Z"),
        readBack,
      ),
    );
    // A flip is a change.
    const pending = programmedCondition(withCert, [], undefined);
    const flipped = buildPolicyStatus(withCert, pending, first, T1, "2024-12-01T00:00:00Z");
    assert.ok(!isSameStatus(flipped, first));
    assert.deepEqual(
      flipped.conditions.map((c) => c.lastTransitionTime),
      [formatTime(T0), formatTime(T0), formatTime(T1)],
    );
  });

  test("property: rounds of random flips; a rebuild at another now is the same unless something flipped", () => {
    const statusArb = fc.constantFrom<ConditionStatus>("True", "False", "Unknown");
    const roundArb = fc.record({
      accepted: statusArb,
      resolved: statusArb,
      reorder: fc.boolean(),
      serving: fc.nat({ max: 3 }),
      lagging: fc.nat({ max: 2 }),
      withCert: fc.boolean(),
      renewal: fc.option(fc.constant("2024-12-01T00:00:00Z"), { nil: undefined }),
      message: fc.constantFrom("a", "b"),
    });
    fc.assert(
      fc.property(
        fc.array(roundArb, { minLength: 1, maxLength: 8 }),
        fc.nat({ max: 3 }),
        (rounds, generationSeed) => {
          let current: ReturnType<typeof buildPolicyStatus> | undefined;
          let clock = Date.UTC(2024, 0, 1);
          for (const round of rounds) {
            clock += 61_500;
            const now = new Date(clock);
            const later = new Date(clock + 3_600_000);
            const conditions = [accepted(round.accepted, round.message), resolved(round.resolved)];
            const theIntent = intent({
              generation: generationSeed + 1,
              conditions: round.reorder ? conditions.reverse() : conditions,
              ...(round.withCert ? { certificate } : {}),
            });
            const src = source({ generation: generationSeed + 1 });
            const reports = [
              ...Array.from({ length: round.serving }, () => report([src])),
              ...Array.from({ length: round.lagging }, () =>
                report([{ ...src, generation: generationSeed }]),
              ),
            ];
            const programmed = programmedCondition(theIntent, reports, undefined);
            const built = buildPolicyStatus(theIntent, programmed, current, now, round.renewal);
            // Each condition keeps its time iff its status did not flip.
            for (const condition of built.conditions) {
              const before = current?.conditions.find((c) => c.type === condition.type);
              const expected =
                before && before.status === condition.status
                  ? before.lastTransitionTime
                  : formatTime(now);
              assert.equal(condition.lastTransitionTime, expected);
            }
            assert.deepEqual(
              built.conditions.map((c) => c.type),
              ["Accepted", "ResolvedRefs", "Programmed"],
            );
            // Resync: same inputs, previous output, another now → nothing to write.
            const rebuilt = buildPolicyStatus(theIntent, programmed, built, later, round.renewal);
            assert.ok(isSameStatus(rebuilt, built));
            const readBack = JSON.parse(JSON.stringify(built));
            assert.ok(
              isSameStatus(
                buildPolicyStatus(theIntent, programmed, readBack, later, round.renewal),
                built,
              ),
            );
            // Against the previous round: equal exactly when nothing at all changed.
            if (current !== undefined) {
              const flipped = built.conditions.some(
                (c, i) => current?.conditions[i]?.status !== c.status,
              );
              if (flipped) assert.ok(!isSameStatus(built, current));
            }
            current = built;
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("isSameStatus", () => {
  test("ignores object key order, including nested", () => {
    assert.ok(
      isSameStatus(
        { a: 1, b: { c: [1, { d: 2, e: 3 }], f: "x" } },
        { b: { f: "x", c: [1, { e: 3, d: 2 }] }, a: 1 },
      ),
    );
  });

  test("ignores undefined fields", () => {
    assert.ok(isSameStatus({ a: 1, b: undefined }, { a: 1 }));
    assert.ok(isSameStatus({ x: { certificate: undefined, y: 2 } }, { x: { y: 2 } }));
  });

  test("does not ignore array order, values, types or null", () => {
    assert.ok(!isSameStatus({ a: [1, 2] }, { a: [2, 1] }));
    assert.ok(!isSameStatus({ a: 1 }, { a: 2 }));
    assert.ok(!isSameStatus({ a: 1 }, { a: "1" }));
    assert.ok(!isSameStatus({ a: null }, { a: undefined }));
    assert.ok(!isSameStatus({ a: 1 }, { a: 1, b: 0 }));
  });

  test("property: equal to a key-shuffled copy of itself", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const shuffled = JSON.parse(JSON.stringify(value), (_key, item: unknown) =>
          item !== null && typeof item === "object" && !Array.isArray(item)
            ? Object.fromEntries(Object.entries(item).reverse())
            : item,
        );
        assert.ok(isSameStatus(value, shuffled));
      }),
    );
  });
});

describe("buildLoadBalancerIngress", () => {
  test("[] for an undefined Service or one without addresses", () => {
    assert.deepEqual(buildLoadBalancerIngress(undefined), []);
    assert.deepEqual(buildLoadBalancerIngress({}), []);
    assert.deepEqual(buildLoadBalancerIngress({ spec: {}, status: { loadBalancer: {} } }), []);
  });

  test("takes ip and hostname from status.loadBalancer.ingress, drops ipMode, ports and empty entries", () => {
    const service: V1Service = {
      spec: { externalIPs: ["192.0.2.9"] },
      status: {
        loadBalancer: {
          ingress: [
            { ip: "203.0.113.1", ipMode: "VIP", ports: [{ port: 443, protocol: "TCP" }] },
            { hostname: "lb.example.com" },
            {},
            { ipMode: "Proxy", ports: [{ port: 80, protocol: "TCP" }] },
            { ip: "", hostname: "" },
            { ip: "203.0.113.2", hostname: "both.example.com" },
          ],
        },
      },
    };
    assert.deepEqual(buildLoadBalancerIngress(service), [
      { ip: "203.0.113.1" },
      { hostname: "lb.example.com" },
      { ip: "203.0.113.2", hostname: "both.example.com" },
    ]);
  });

  test("falls back to spec.externalIPs when the load balancer has no usable entry", () => {
    const service: V1Service = {
      spec: { externalIPs: ["192.0.2.9", "192.0.2.10"] },
      status: { loadBalancer: { ingress: [{}, { ipMode: "VIP" }] } },
    };
    assert.deepEqual(buildLoadBalancerIngress(service), [
      { ip: "192.0.2.9" },
      { ip: "192.0.2.10" },
    ]);
    assert.deepEqual(buildLoadBalancerIngress({ spec: { externalIPs: ["192.0.2.9"] } }), [
      { ip: "192.0.2.9" },
    ]);
  });
});

describe("hasWrittenStatus", () => {
  const ours = "portcullis-operator";

  test("only for our manager on the status subresource", () => {
    const entry = (manager: string, subresource?: string): V1ManagedFieldsEntry => ({
      manager,
      operation: "Apply",
      ...(subresource === undefined ? {} : { subresource }),
    });
    assert.equal(hasWrittenStatus([entry(ours, "status")], ours), true);
    assert.equal(hasWrittenStatus([entry("kubectl"), entry(ours, "status")], ours), true);
    assert.equal(hasWrittenStatus([entry(ours)], ours), false, "our spec fields are not status");
    assert.equal(hasWrittenStatus([entry(ours, "scale")], ours), false);
    assert.equal(hasWrittenStatus([entry("other-controller", "status")], ours), false);
    assert.equal(hasWrittenStatus([entry(`${ours}-2`, "status")], ours), false);
    assert.equal(hasWrittenStatus([], ours), false);
    assert.equal(hasWrittenStatus(undefined, ours), false);
  });
});
