// The EventRecorder over a fake KubeClient whose create records the bodies it is given: what Events
// are created (once per signature and object), and what each one says.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KubeClient } from "../kube/client.ts";
import type { LogFields, Logger } from "../kube/logger.ts";
import { type EventIntent, EventRecorder, REPORTING_CONTROLLER } from "./events.ts";

/** The Event bodies the fake client was asked to create (loosely typed: the test reads them). */
type EventBody = Record<string, unknown> & {
  metadata: { name: string; namespace: string };
  regarding: Record<string, unknown>;
  note: string;
  reason: string;
};

/** A KubeClient whose create records the body; it rejects while `failing` is true. */
function fakeClient(): { client: KubeClient; created: EventBody[]; fail: (on: boolean) => void } {
  const created: EventBody[] = [];
  let failing = false;
  const unused = (): never => {
    throw new Error("not used by the EventRecorder");
  };
  const client: KubeClient = {
    async create<T extends object>(object: T) {
      if (failing) throw new Error("events is forbidden");
      created.push(object as unknown as EventBody);
      return object;
    },
    apply: unused,
    get: unused,
    replace: unused,
    delete: unused,
    close: async () => {},
  };
  return { client, created, fail: (on) => (failing = on) };
}

interface LogLine {
  level: keyof Logger;
  message: string;
  fields: LogFields | undefined;
}

function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record =
    (level: keyof Logger) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, fields });
    };
  return {
    lines,
    logger: {
      debug: record("debug"),
      info: record("info"),
      warn: record("warn"),
      error: record("error"),
    },
  };
}

function warning(overrides: Partial<EventIntent> = {}): EventIntent {
  return {
    subject: {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      namespace: "shop",
      name: "web",
      uid: "uid-web",
    },
    type: "Warning",
    reason: "SecretNotFound",
    action: "Compile",
    note: "Secret shop/web-tls not found",
    ...overrides,
  };
}

const signal = new AbortController().signal;

function setup() {
  const { client, created, fail } = fakeClient();
  const { logger, lines } = recordingLogger();
  const recorder = new EventRecorder(client, logger, "operator-7f9c-abcde");
  return { recorder, created, fail, lines };
}

describe("EventRecorder.record", () => {
  test("creates one Event per new signature and none when the same is recorded again", async () => {
    const { recorder, created } = setup();
    const events = [
      { intent: warning(), signature: "3/SecretNotFound/web-tls" },
      { intent: warning({ reason: "Invalid", note: "bad path" }), signature: "3/Invalid/path" },
    ];
    await recorder.record(events, signal);
    assert.deepEqual(
      created.map((e) => e.reason),
      ["SecretNotFound", "Invalid"],
    );
    await recorder.record(events, signal);
    assert.equal(created.length, 2);
  });

  test("the same signature on two objects is two Events", async () => {
    const { recorder, created } = setup();
    const other = warning({ subject: { ...warning().subject, name: "api", uid: "uid-api" } });
    await recorder.record(
      [
        { intent: warning(), signature: "3/SecretNotFound" },
        { intent: other, signature: "3/SecretNotFound" },
      ],
      signal,
    );
    assert.deepEqual(
      created.map((e) => e.regarding.name),
      ["web", "api"],
    );
  });

  test("a new object with the same name (another uid) is told again", async () => {
    const { recorder, created } = setup();
    await recorder.record([{ intent: warning(), signature: "1/SecretNotFound" }], signal);
    const recreated = warning({ subject: { ...warning().subject, uid: "uid-web-2" } });
    await recorder.record([{ intent: recreated, signature: "1/SecretNotFound" }], signal);
    assert.equal(created.length, 2);
  });

  test("a signature that goes away and comes back is recorded again", async () => {
    const { recorder, created } = setup();
    const event = { intent: warning(), signature: "3/SecretNotFound" };
    await recorder.record([event], signal);
    await recorder.record([], signal);
    await recorder.record([event], signal);
    assert.equal(created.length, 2);
  });

  test("a signature that goes away for its object only, while others stay, comes back new", async () => {
    const { recorder, created } = setup();
    const first = { intent: warning(), signature: "3/SecretNotFound" };
    const second = { intent: warning({ reason: "Invalid" }), signature: "3/Invalid" };
    await recorder.record([first, second], signal);
    await recorder.record([second], signal);
    await recorder.record([first, second], signal);
    assert.deepEqual(
      created.map((e) => e.reason),
      ["SecretNotFound", "Invalid", "SecretNotFound"],
    );
  });

  test("the same problem in a new generation (a new signature) is recorded again", async () => {
    const { recorder, created } = setup();
    await recorder.record([{ intent: warning(), signature: "3/SecretNotFound" }], signal);
    await recorder.record([{ intent: warning(), signature: "4/SecretNotFound" }], signal);
    assert.equal(created.length, 2);
  });

  test("a create that rejects is logged and does not reject record()", async () => {
    const { recorder, created, fail, lines } = setup();
    fail(true);
    await recorder.record([{ intent: warning(), signature: "3/SecretNotFound" }], signal);
    assert.equal(created.length, 0);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, "warn");
    assert.equal(lines[0]?.message, "Failed to record Event");
    assert.deepEqual(lines[0]?.fields, {
      kind: "Ingress",
      namespace: "shop",
      name: "web",
      reason: "SecretNotFound",
      error: "events is forbidden",
    });
  });

  test("an Event whose create failed is tried again on the next record()", async () => {
    const { recorder, created, fail } = setup();
    const events = [{ intent: warning(), signature: "3/SecretNotFound" }];
    fail(true);
    await recorder.record(events, signal);
    fail(false);
    await recorder.record(events, signal);
    await recorder.record(events, signal);
    assert.equal(created.length, 1, "recorded once it could be, then not again");
  });

  test("a subject name too long for an Event name is cut to keep the name within 253", async () => {
    const { recorder, created } = setup();
    const long = warning();
    long.subject = { ...long.subject, name: "n".repeat(253) };
    await recorder.record([{ intent: long, signature: "1/x" }], signal);
    assert.equal(created[0]?.metadata.name.length, 253);
  });

  test("a failed create does not stop the Events after it", async () => {
    const { client, created } = fakeClient();
    const { logger, lines } = recordingLogger();
    let calls = 0;
    const flaky: KubeClient = {
      ...client,
      async create<T extends object>(object: T) {
        calls += 1;
        if (calls === 1) throw new Error("conflict");
        return client.create(
          object as T & { apiVersion: string; kind: string; metadata: { name: string } },
        );
      },
    };
    const recorder = new EventRecorder(flaky, logger, "operator-0");
    await recorder.record(
      [
        { intent: warning(), signature: "3/SecretNotFound" },
        { intent: warning({ reason: "Invalid" }), signature: "3/Invalid" },
      ],
      signal,
    );
    assert.deepEqual(
      created.map((e) => e.reason),
      ["Invalid"],
    );
    assert.equal(lines.length, 1);
  });
});

describe("EventRecorder Event body", () => {
  async function recordOne(intent: EventIntent): Promise<EventBody> {
    const { recorder, created } = setup();
    await recorder.record([{ intent, signature: "1" }], signal);
    assert.equal(created.length, 1);
    return created[0] as EventBody;
  }

  test("an events.k8s.io/v1 Event from the operator, regarding the subject with its uid", async () => {
    const body = await recordOne(warning());
    assert.equal(body.apiVersion, "events.k8s.io/v1");
    assert.equal(body.kind, "Event");
    assert.equal(body.metadata.namespace, "shop");
    assert.match(body.metadata.name, /^web\.[0-9a-f]{16}$/);
    assert.equal(body.reportingController, REPORTING_CONTROLLER);
    assert.equal(body.reportingController, "portcullis.dev/operator");
    assert.equal(body.reportingInstance, "operator-7f9c-abcde");
    assert.equal(body.type, "Warning");
    assert.equal(body.reason, "SecretNotFound");
    assert.equal(body.action, "Compile");
    assert.equal(body.note, "Secret shop/web-tls not found");
    assert.deepEqual(body.regarding, {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      namespace: "shop",
      name: "web",
      uid: "uid-web",
    });
  });

  test("eventTime is a MicroTime: six fraction digits, UTC Z", async () => {
    const body = await recordOne(warning());
    assert.equal(typeof body.eventTime, "string");
    assert.match(String(body.eventTime), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.ok(!Number.isNaN(Date.parse(String(body.eventTime))));
  });

  test("a subject without uid: regarding has no uid field", async () => {
    const { uid: _uid, ...subject } = warning().subject;
    const body = await recordOne(warning({ subject }));
    assert.equal("uid" in body.regarding, false);
  });

  test("a cluster-scoped subject's Event goes to namespace default", async () => {
    const body = await recordOne(
      warning({
        subject: {
          apiVersion: "networking.k8s.io/v1",
          kind: "IngressClass",
          namespace: "",
          name: "portcullis",
        },
      }),
    );
    assert.equal(body.metadata.namespace, "default");
    assert.equal(body.regarding.namespace, "");
  });

  test("a note over 1024 characters is cut to 1024 ending with ...", async () => {
    const body = await recordOne(warning({ note: "x".repeat(2000) }));
    assert.equal(body.note.length, 1024);
    assert.equal(body.note, `${"x".repeat(1021)}...`);
  });

  test("a note of exactly 1024 characters is kept whole", async () => {
    const note = `${"y".repeat(1023)}z`;
    const body = await recordOne(warning({ note }));
    assert.equal(body.note, note);
  });

  test("each Event has its own name", async () => {
    const { recorder, created } = setup();
    await recorder.record(
      [
        { intent: warning(), signature: "a" },
        { intent: warning(), signature: "b" },
      ],
      signal,
    );
    assert.notEqual(created[0]?.metadata.name, created[1]?.metadata.name);
  });
});

describe("EventRecorder.emit", () => {
  test("creates an Event every time, without de-duplication", async () => {
    const { recorder, created } = setup();
    const served = warning({ type: "Normal", reason: "Programmed", action: "Program", note: "ok" });
    await recorder.emit(served, signal);
    await recorder.emit(served, signal);
    assert.equal(created.length, 2);
    assert.equal(created[0]?.type, "Normal");
  });
});
