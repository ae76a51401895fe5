// The work queue under node:test's mock clock (setTimeout and Date), so debounce, delays and backoff are
// checked to the millisecond without waiting for them. Handlers are scripted per test; the diagnostics
// channel shows what the queue did.
import assert from "node:assert/strict";
import diagnosticsChannel from "node:diagnostics_channel";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { KubeApiError } from "./errors.ts";
import type { LogFields, Logger } from "./logger.ts";
import {
  createWorkQueue,
  PermanentError,
  WORK_QUEUE_CHANNEL,
  type WorkHandler,
  type WorkQueue,
  type WorkQueueDiagnostic,
  type WorkQueueOptions,
} from "./work-queue.ts";

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

/** Lets every pending promise callback run (setImmediate is not mocked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the mock clock on by ms, then lets the runs it started proceed. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await settle();
}

/** A promise to resolve or reject by hand. */
function deferred(): {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
} {
  let resolve = (): void => {};
  let reject = (_error: Error): void => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** "event key attempt" (+ " delayMs" for retries) of each diagnostic of one queue. */
function summary(diagnostics: WorkQueueDiagnostic[]): string[] {
  return diagnostics.map(
    (d) => `${d.event} ${d.key} ${d.attempt}${d.delayMs === undefined ? "" : ` ${d.delayMs}`}`,
  );
}

describe("work queue", () => {
  let queue: WorkQueue | undefined;
  let diagnostics: WorkQueueDiagnostic[] = [];
  let counter = 0;
  let name = "";
  const listener = (message: unknown): void => {
    const diagnostic = message as WorkQueueDiagnostic;
    if (diagnostic.queue === name) diagnostics.push(diagnostic);
  };

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
    name = `test-${++counter}`;
    diagnostics = [];
    diagnosticsChannel.subscribe(WORK_QUEUE_CHANNEL, listener);
  });
  afterEach(async () => {
    await queue?.stop();
    queue = undefined;
    diagnosticsChannel.unsubscribe(WORK_QUEUE_CHANNEL, listener);
    mock.timers.reset();
  });

  /** A queue with deterministic backoff (100, 200, 400 … ms) that records the keys it ran, in order. */
  function create(
    handler: WorkHandler = async () => {},
    overrides: Partial<WorkQueueOptions> = {},
  ): { queue: WorkQueue; runs: string[]; lines: LogLine[] } {
    const { logger, lines } = recordingLogger();
    const runs: string[] = [];
    const created = createWorkQueue({
      name,
      logger,
      backoff: { initialMs: 100, maxMs: 1000, random: () => 0 },
      ...overrides,
    });
    created.start((key, signal) => {
      runs.push(key);
      return handler(key, signal);
    });
    queue = created;
    return { queue: created, runs, lines };
  }

  describe("de-duplication and one run per key", () => {
    test("a key added 100 times while it waits runs once; keys added before start wait for it", async () => {
      const { logger } = recordingLogger();
      const runs: string[] = [];
      queue = createWorkQueue({ name, logger });
      for (let i = 0; i < 100; i++) queue.add("ns/a");
      queue.add("ns/b");
      await settle();
      assert.equal(queue.size, 2);
      assert.equal(runs.length, 0, "nothing runs before start");
      queue.start(async (key) => {
        runs.push(key);
      });
      await queue.onIdle();
      assert.deepEqual(runs, ["ns/a", "ns/b"]);
      assert.equal(queue.size, 0);
    });

    test("an add during a run makes exactly one more run, after the current one", async () => {
      const first = deferred();
      let running = 0;
      let mostAtOnce = 0;
      const { queue, runs } = create(
        async () => {
          running += 1;
          mostAtOnce = Math.max(mostAtOnce, running);
          if (runs.length === 1) await first.promise;
          running -= 1;
        },
        { concurrency: 4 },
      );
      queue.add("ns/a");
      await settle();
      assert.deepEqual(runs, ["ns/a"]);
      for (let i = 0; i < 10; i++) queue.add("ns/a");
      await settle();
      assert.deepEqual(runs, ["ns/a"], "the key does not run twice at once");
      assert.equal(queue.size, 1);
      first.resolve();
      await queue.onIdle();
      assert.deepEqual(runs, ["ns/a", "ns/a"]);
      assert.equal(mostAtOnce, 1);
    });

    test("runs different keys at once up to the concurrency limit", async () => {
      const gates = new Map([
        ["a", deferred()],
        ["b", deferred()],
        ["c", deferred()],
      ]);
      const { queue, runs } = create(async (key) => gates.get(key)?.promise, { concurrency: 2 });
      for (const key of gates.keys()) queue.add(key);
      await settle();
      assert.deepEqual(runs, ["a", "b"]);
      gates.get("b")?.resolve();
      await settle();
      assert.deepEqual(runs, ["a", "b", "c"]);
      gates.get("a")?.resolve();
      gates.get("c")?.resolve();
      await queue.onIdle();
      assert.equal(queue.size, 0);
    });

    test("start may be called only once", () => {
      const { queue } = create();
      assert.throws(() => queue.start(async () => {}), /already started/);
    });
  });

  describe("failures", () => {
    test("retries after the key's own backoff, logs the message and attempt, and a success resets it", async () => {
      const failing = new Set(["a"]);
      let failuresLeft = 2;
      const { queue, lines } = create(async (key) => {
        if (failing.has(key) && failuresLeft-- > 0) throw new Error(`cannot reconcile ${key}`);
      });
      queue.add("a");
      queue.add("b");
      await settle();
      await tick(99);
      assert.deepEqual(summary(diagnostics), ["run a 1", "retry a 1 100", "run b 1", "done b 1"]);
      await tick(1);
      assert.deepEqual(summary(diagnostics).slice(4), ["run a 2", "retry a 2 200"]);
      await tick(200);
      assert.deepEqual(summary(diagnostics).slice(6), ["run a 3", "done a 3"]);
      await queue.onIdle();

      const warnings = lines.filter((line) => line.level === "warn");
      assert.equal(warnings.length, 2);
      assert.deepEqual(warnings[0]?.fields, {
        queue: name,
        key: "a",
        attempt: 1,
        delayMs: 100,
        error: "cannot reconcile a",
      });
      assert.equal(warnings[1]?.fields?.attempt, 2);

      failuresLeft = 1; // after the success, the next failure starts from initialMs again
      queue.add("a");
      await settle();
      assert.deepEqual(summary(diagnostics).slice(8), ["run a 1", "retry a 1 100"]);
      await tick(100);
      await queue.onIdle();
    });

    test("an add while a key waits for its retry keeps the retry's delay", async () => {
      let failuresLeft = 1;
      const { queue, runs } = create(async () => {
        if (failuresLeft-- > 0) throw new Error("boom");
      });
      queue.add("a");
      await settle();
      await tick(50);
      for (let i = 0; i < 10; i++) queue.add("a");
      queue.add("a", { delayMs: 1 });
      await tick(49);
      assert.deepEqual(runs, ["a"], "still waiting out the backoff");
      await tick(1);
      assert.deepEqual(runs, ["a", "a"]);
      await queue.onIdle();
      assert.deepEqual(runs, ["a", "a"], "the adds were covered by the retry");
    });

    test("a permanent error is logged, not retried, resets the backoff, and a later add runs the key", async () => {
      const errors: Error[] = [
        new Error("flaky"),
        new PermanentError("bad spec"),
        new Error("flaky"),
      ];
      const { queue, runs, lines } = create(async () => {
        const error = errors.shift();
        if (error !== undefined) throw error;
      });
      queue.add("a");
      await settle();
      await tick(100);
      assert.deepEqual(summary(diagnostics), [
        "run a 1",
        "retry a 1 100",
        "run a 2",
        "permanent a 2",
      ]);
      await queue.onIdle();
      await tick(60_000);
      assert.deepEqual(runs, ["a", "a"], "not retried");
      const warning = lines.at(-1);
      assert.equal(warning?.level, "warn");
      assert.deepEqual(warning?.fields, { queue: name, key: "a", attempt: 2, error: "bad spec" });

      queue.add("a");
      await settle();
      assert.deepEqual(
        summary(diagnostics).slice(4),
        ["run a 1", "retry a 1 100"],
        "backoff reset",
      );
      await tick(100);
      await queue.onIdle();
    });

    test("isPermanent decides which errors are permanent", async () => {
      const { queue } = create(
        async () => {
          throw new KubeApiError(422, "Invalid", "spec.rules: Invalid value");
        },
        { isPermanent: (error) => error instanceof KubeApiError && error.statusCode === 422 },
      );
      queue.add("a");
      await queue.onIdle();
      assert.deepEqual(summary(diagnostics), ["run a 1", "permanent a 1"]);
    });

    test("a 429 waits at least its Retry-After; one without it waits the backoff", async () => {
      const errors = [
        Object.assign(new KubeApiError(429, "TooManyRequests", "slow down"), {
          retryAfterSeconds: 5,
        }),
        new KubeApiError(429, "TooManyRequests", "slow down"),
      ];
      const { queue } = create(async () => {
        const error = errors.shift();
        if (error !== undefined) throw error;
      });
      queue.add("a");
      await settle();
      await tick(4999);
      assert.deepEqual(summary(diagnostics), ["run a 1", "retry a 1 5000"]);
      await tick(1);
      assert.deepEqual(summary(diagnostics).slice(2), ["run a 2", "retry a 2 200"]);
      await tick(200);
      await queue.onIdle();
      assert.deepEqual(summary(diagnostics).slice(4), ["run a 3", "done a 3"]);
    });

    test("a synchronous throw is a failure, and nothing is left as an unhandled rejection", async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on("unhandledRejection", onUnhandled);
      try {
        let throws = true;
        const { queue } = create((() => {
          if (throws) {
            throws = false;
            throw new Error("thrown synchronously");
          }
          return Promise.resolve();
        }) as WorkHandler);
        queue.add("a");
        await settle();
        assert.deepEqual(summary(diagnostics), ["run a 1", "retry a 1 100"]);
        await tick(100);
        await queue.onIdle();
        await settle();
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    test("onIdle waits for a failed key's retry", async () => {
      let failuresLeft = 1;
      const { queue } = create(async () => {
        if (failuresLeft-- > 0) throw new Error("boom");
      });
      let idle = false;
      queue.add("a");
      void queue.onIdle().then(() => {
        idle = true;
      });
      await settle();
      assert.equal(idle, false, "the retry timer is pending work");
      assert.equal(queue.size, 1);
      await tick(100);
      assert.equal(idle, true);
    });
  });

  describe("debounce and delays", () => {
    test("each add pushes a key back by holdOffMs, but no further than maxHoldOffMs", async () => {
      const { queue, runs } = create(async () => {}, { holdOffMs: 100, maxHoldOffMs: 250 });
      queue.add("a");
      await tick(80);
      queue.add("a");
      await tick(99);
      assert.deepEqual(runs, [], "pushed back to 180");
      await tick(1);
      assert.deepEqual(runs, ["a"]);

      queue.add("a"); // t = 180: a new burst
      for (let i = 0; i < 3; i++) {
        await tick(80);
        queue.add("a");
      }
      await tick(9);
      assert.deepEqual(runs, ["a"], "t = 429: still held off");
      await tick(1);
      assert.deepEqual(runs, ["a", "a"], "t = 430: capped at 250 after the burst's first add");
      await queue.onIdle();
    });

    test("maxHoldOffMs defaults to holdOffMs × 5", async () => {
      const { queue, runs } = create(async () => {}, { holdOffMs: 100 });
      queue.add("a");
      for (let i = 0; i < 5; i++) {
        await tick(99);
        queue.add("a");
      }
      await tick(4);
      assert.deepEqual(runs, [], "t = 499");
      await tick(1);
      assert.deepEqual(runs, ["a"], "t = 500");
    });

    test("delayMs runs a key no sooner; an earlier pending run wins", async () => {
      const { queue, runs } = create();
      queue.add("a", { delayMs: 1000 });
      await tick(999);
      assert.deepEqual(runs, []);
      await tick(1);
      assert.deepEqual(runs, ["a"]);

      queue.add("b", { delayMs: 1000 });
      queue.add("b", { delayMs: 5000 });
      queue.add("b");
      await settle();
      assert.deepEqual(runs, ["a", "b"], "the plain add runs at once");
      await tick(5000);
      assert.deepEqual(runs, ["a", "b"], "the delayed adds were covered by it");
      assert.equal(queue.size, 0);
    });

    test("a handler re-adding its own key with delayMs makes a periodic re-check", async () => {
      let checks = 0;
      const { queue, runs } = create(async (key) => {
        if (++checks < 3) queue.add(key, { delayMs: 60_000 });
      });
      queue.add("a");
      await settle();
      assert.equal(queue.size, 1, "the re-check is pending");
      await tick(60_000);
      await tick(60_000);
      assert.deepEqual(runs, ["a", "a", "a"]);
      await queue.onIdle();
    });
  });

  describe("stop", () => {
    test("aborts running handlers, waits for them, clears timers and ignores later adds", async () => {
      let settled = false;
      const { queue, runs } = create(
        async (key, signal) => {
          if (key !== "running") return;
          await new Promise((resolve) => signal.addEventListener("abort", resolve));
          await settle(); // the handler takes a while to wind down
          settled = true;
        },
        { concurrency: 1 },
      );
      queue.add("running");
      queue.add("waiting");
      queue.add("delayed", { delayMs: 1000 });
      await settle();
      assert.deepEqual(runs, ["running"]);
      assert.equal(queue.size, 3);

      await queue.stop();
      assert.equal(settled, true, "stop resolved after the handler settled");
      assert.equal(queue.size, 0);
      await queue.onIdle();
      queue.add("late");
      await tick(10_000);
      assert.deepEqual(runs, ["running"], "no handler starts after stop");
      assert.equal(queue.size, 0);
      await queue.stop(); // again: no-op
    });

    test("stop before start drops the waiting keys", async () => {
      const { logger } = recordingLogger();
      const stopped = createWorkQueue({ name, logger });
      stopped.add("a");
      await stopped.stop();
      assert.equal(stopped.size, 0);
      const runs: string[] = [];
      stopped.start(async (key) => {
        runs.push(key);
      });
      await settle();
      assert.deepEqual(runs, []);
    });
  });

  test("rejects nonsense options", () => {
    const { logger } = recordingLogger();
    assert.throws(() => createWorkQueue({ name, logger, holdOffMs: -1 }), RangeError);
    assert.throws(() => createWorkQueue({ name, logger, maxHoldOffMs: Number.NaN }), RangeError);
    assert.throws(() => createWorkQueue({ name, logger, concurrency: 0 }), TypeError);
  });

  test("PermanentError has a stable code and keeps its cause", () => {
    const cause = new Error("root");
    const error = new PermanentError("bad spec", { cause });
    assert.equal(error.code, "ERR_PERMANENT");
    assert.equal(error.name, "PermanentError");
    assert.equal(error.cause, cause);
  });
});
