// The operator's keyed work queue: informers add the keys ("namespace/name") of objects that changed, and
// a handler reconciles each key from the latest cached state (level-based, as client-go's workqueue and
// controller-runtime). Because the handler reads state rather than events, a key only needs to run once
// per change burst, so the queue:
//   - de-duplicates: a key waiting to run is queued once however often it is added;
//   - never runs one key twice at once: an add during a run marks it dirty, and it runs exactly once more
//     after the current run (the state may have changed during it);
//   - debounces (holdOffMs, capped by maxHoldOffMs, as Contour's rebuild hold-off) so a burst of events
//     becomes one run, and runs a key no sooner than an add's delayMs (periodic re-checks);
//   - retries a failed key after its own exponential backoff (one Backoff per failing key, dropped when it
//     succeeds), at least a 429's Retry-After; a PermanentError (bad input) is not retried.
// p-queue limits how many keys run at once; the per-key state machine lives here.
//
// Observability: failures are logged at warn (the error's message only), and every run, success, retry and
// permanent failure is published on the diagnostics channel WORK_QUEUE_CHANNEL (free when nobody
// subscribes; tests follow the queue with it).
import diagnosticsChannel from "node:diagnostics_channel";
import PQueue from "p-queue";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { describeError, KubeApiError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** Options of createWorkQueue. */
export interface WorkQueueOptions {
  /** Name in logs and diagnostics, e.g. "ingress". */
  name: string;
  /** Where failures are logged (at warn). */
  logger: Logger;
  /** Keys processed at once (different keys only: one key never runs twice at once). Default 1. */
  concurrency?: number;
  /**
   * Per-key retry delays after a failure. Default: 250 ms doubling to 60 s, jitter 0.5. Each failing key
   * gets its own Backoff, so one broken object does not slow the others down.
   */
  backoff?: BackoffOptions;
  /**
   * Debounce, in ms: a newly added key waits this long for more adds before it runs, and each add pushes
   * it back, so a burst of events becomes one run. Default 0 (run at once).
   */
  holdOffMs?: number;
  /**
   * Longest debounce, in ms after the first add of a burst, so a steady stream of events cannot postpone a
   * key for ever. Default holdOffMs × 5.
   */
  maxHoldOffMs?: number;
  /**
   * Whether an error must not be retried (bad input: retrying cannot help). Default: the error is a
   * PermanentError. If it throws, the error is retried.
   */
  isPermanent?: (error: unknown) => boolean;
}

/**
 * Reconciles one key. Rejecting (or throwing) retries the key after its backoff, unless the error is
 * permanent. `signal` is aborted when the queue stops: pass it to API requests.
 */
export type WorkHandler = (key: string, signal: AbortSignal) => Promise<void>;

/** A keyed, de-duplicating, debounced work queue with per-key retries. */
export interface WorkQueue {
  /**
   * Queues key. A key already waiting is not queued twice; a key running now runs once more after it
   * finishes (its state may have changed during the run). `delayMs`: run no sooner than this many ms from
   * now (periodic re-checks); an earlier pending run wins, and runs instead. While a key waits for a retry
   * after a failure, add() leaves the retry's delay alone (the retry will read the latest state anyway, and
   * a stream of events must not defeat the backoff).
   */
  add(key: string, options?: { delayMs?: number }): void;
  /** Starts processing with handler (call once). Keys added before start wait until then. */
  start(handler: WorkHandler): void;
  /**
   * Stops: no new runs, pending timers cleared, running handlers' signals aborted; resolves when they have
   * settled. add() after stop is ignored.
   */
  stop(): Promise<void>;
  /**
   * Resolves when no key is waiting, delayed (debounce, delayMs, or a failed key's retry timer: a failing
   * key keeps the queue busy until it succeeds or fails permanently) or running. For tests and readiness.
   */
  onIdle(): Promise<void>;
  /** Keys waiting, delayed (retries included) or running. */
  readonly size: number;
}

/** An error that retrying cannot fix (invalid input): the key is not retried until it is added again. */
export class PermanentError extends Error {
  readonly code = "ERR_PERMANENT";

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/** Name of the diagnostics channel every work queue publishes WorkQueueDiagnostic messages on. */
export const WORK_QUEUE_CHANNEL = "portcullis:kube:work-queue";

/** Published on WORK_QUEUE_CHANNEL. */
export interface WorkQueueDiagnostic {
  /** The queue's name. */
  queue: string;
  key: string;
  /** A run started, succeeded, failed and will be retried, or failed permanently. */
  event: "run" | "done" | "retry" | "permanent";
  /** Which attempt since the key last succeeded: 1 for a first run. */
  attempt: number;
  /** For "retry": the delay before the next attempt, in ms. */
  delayMs?: number;
}

/** Creates a work queue; nothing runs until start(). */
export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  return new KeyedWorkQueue(options);
}

const channel = diagnosticsChannel.channel(WORK_QUEUE_CHANNEL);

/** One key the queue knows of. A key without an entry is idle. */
interface Entry {
  /** Waiting for its timer (debounce, delayMs or retry), in p-queue for a free slot, or running. */
  state: "delayed" | "queued" | "running";
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The timer is a retry's: adds leave it alone. */
  retrying: boolean;
  /** Earliest time (ms since the epoch) an add with delayMs asked for; Infinity when none. */
  notBefore: number;
  /** Times of the first and latest plain add of the current burst; burstStart undefined when none. */
  burstStart: number | undefined;
  lastAdd: number;
}

class KeyedWorkQueue implements WorkQueue {
  readonly #name: string;
  readonly #logger: Logger;
  readonly #backoffOptions: BackoffOptions;
  readonly #holdOffMs: number;
  readonly #maxHoldOffMs: number;
  readonly #isPermanent: (error: unknown) => boolean;
  readonly #queue: PQueue;
  readonly #entries = new Map<string, Entry>();
  /** The Backoff of each key whose last run failed; dropped when it succeeds or fails permanently. */
  readonly #backoffs = new Map<string, Backoff>();
  readonly #stopper = new AbortController();
  #handler: WorkHandler | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.#name = options.name;
    this.#logger = options.logger;
    this.#backoffOptions = { initialMs: 250, maxMs: 60_000, jitter: 0.5, ...options.backoff };
    this.#holdOffMs = nonNegative("holdOffMs", options.holdOffMs ?? 0);
    this.#maxHoldOffMs = nonNegative("maxHoldOffMs", options.maxHoldOffMs ?? this.#holdOffMs * 5);
    this.#isPermanent = options.isPermanent ?? ((error) => error instanceof PermanentError);
    this.#queue = new PQueue({ concurrency: options.concurrency ?? 1, autoStart: false });
  }

  get size(): number {
    return this.#entries.size;
  }

  add(key: string, options: { delayMs?: number } = {}): void {
    if (this.#stopped) return;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = {
        state: "delayed",
        timer: undefined,
        retrying: false,
        notBefore: Number.POSITIVE_INFINITY,
        burstStart: undefined,
        lastAdd: 0,
      };
      this.#entries.set(key, entry);
    }
    if (entry.state === "queued" || entry.retrying) return;
    const now = Date.now();
    const delayMs = options.delayMs ?? 0;
    if (delayMs > 0) {
      entry.notBefore = Math.min(entry.notBefore, now + delayMs);
    } else {
      entry.burstStart ??= now;
      entry.lastAdd = now;
    }
    // A running key is scheduled again when its run ends.
    if (entry.state === "delayed") this.#schedule(key, entry);
  }

  start(handler: WorkHandler): void {
    if (this.#handler !== undefined)
      throw new Error(`work queue ${this.#name} was already started`);
    this.#handler = handler;
    if (!this.#stopped) this.#queue.start();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutDown();
    return this.#stopping;
  }

  onIdle(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #shutDown(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
    // Waiting tasks are dropped rather than aborted through p-queue's per-task signal: that would add
    // one abort listener per waiting key to one signal. Their promises never settle, and nobody awaits them.
    this.#queue.pause();
    this.#queue.clear();
    this.#stopper.abort();
    await this.#queue.onPendingZero();
    this.#entries.clear();
    this.#backoffs.clear();
    this.#notifyIfIdle();
  }

  /** Arms the timer of a key that wants to run (or queues it now): the earliest of delayMs and debounce. */
  #schedule(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.state = "delayed";
    const debounced =
      entry.burstStart === undefined
        ? Number.POSITIVE_INFINITY
        : Math.min(entry.lastAdd + this.#holdOffMs, entry.burstStart + this.#maxHoldOffMs);
    const waitMs = Math.min(entry.notBefore, debounced) - Date.now();
    if (waitMs <= 0) this.#enqueue(key, entry);
    else entry.timer = setTimeout(() => this.#enqueue(key, entry), waitMs);
  }

  #enqueue(key: string, entry: Entry): void {
    entry.state = "queued";
    entry.timer = undefined;
    entry.retrying = false;
    entry.notBefore = Number.POSITIVE_INFINITY;
    entry.burstStart = undefined;
    this.#queue.add(() => this.#run(key, entry)).catch(() => {});
  }

  async #run(key: string, entry: Entry): Promise<void> {
    const handler = this.#handler;
    if (this.#stopped || handler === undefined) return;
    entry.state = "running";
    const attempt = (this.#backoffs.get(key)?.failures ?? 0) + 1;
    publish({ queue: this.#name, key, event: "run", attempt });
    let failure: { error: unknown } | undefined;
    try {
      await handler(key, this.#stopper.signal); // inside try: a synchronous throw is a failure too
    } catch (error) {
      failure = { error };
    }
    if (this.#stopped) return; // stop() forgets every key
    if (failure === undefined) {
      this.#backoffs.delete(key);
      publish({ queue: this.#name, key, event: "done", attempt });
    } else if (this.#permanent(failure.error)) {
      this.#backoffs.delete(key);
      this.#logger.warn(
        "Failed to process key permanently; not retrying it until it is added again",
        {
          queue: this.#name,
          key,
          attempt,
          error: describeError(failure.error),
        },
      );
      publish({ queue: this.#name, key, event: "permanent", attempt });
    } else {
      this.#retry(key, entry, attempt, failure.error);
      return;
    }
    if (entry.notBefore !== Number.POSITIVE_INFINITY || entry.burstStart !== undefined) {
      this.#schedule(key, entry); // added during the run
    } else {
      this.#entries.delete(key);
      this.#notifyIfIdle();
    }
  }

  /** Runs key again after its backoff. Adds during the failed run are dropped: the retry covers them. */
  #retry(key: string, entry: Entry, attempt: number, error: unknown): void {
    let backoff = this.#backoffs.get(key);
    if (backoff === undefined) {
      backoff = new Backoff(this.#backoffOptions);
      this.#backoffs.set(key, backoff);
    }
    const delayMs = Math.max(backoff.next(), retryAfterMs(error));
    entry.state = "delayed";
    entry.retrying = true;
    entry.notBefore = Number.POSITIVE_INFINITY;
    entry.burstStart = undefined;
    entry.timer = setTimeout(() => this.#enqueue(key, entry), delayMs);
    this.#logger.warn("Failed to process key; retrying", {
      queue: this.#name,
      key,
      attempt,
      delayMs,
      error: describeError(error),
    });
    publish({ queue: this.#name, key, event: "retry", attempt, delayMs });
  }

  #permanent(error: unknown): boolean {
    try {
      return this.#isPermanent(error);
    } catch {
      return false;
    }
  }

  #notifyIfIdle(): void {
    if (this.#entries.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * The Retry-After of a 429 answer, in ms; 0 when it has none. Read structurally, as KubeApiError may not
 * carry the field.
 */
function retryAfterMs(error: unknown): number {
  if (!(error instanceof KubeApiError) || error.statusCode !== 429) return 0;
  const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof seconds === "number" && seconds > 0 ? seconds * 1000 : 0;
}

function publish(message: WorkQueueDiagnostic): void {
  if (channel.hasSubscribers) channel.publish(message);
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0 && Number.isFinite(value))) {
    throw new RangeError(`work queue ${name} must be a non-negative number of ms, got ${value}`);
  }
  return value;
}
