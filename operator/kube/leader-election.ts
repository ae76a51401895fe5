// Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas exactly one
// writes. @kubernetes/client-node has none; this follows client-go's tools/leaderelection, with two
// deliberate differences noted below.
//
// The protocol. Candidates poll the Lease every retryPeriod (jittered). A candidate takes it when it
// is absent (create), held by nobody (released), or expired, and writes holderIdentity, renewTime and,
// on a change of holder, leaseTransitions + 1. Every write is a replace carrying the resourceVersion it
// was based on, so of two candidates racing for an expired lease one wins and the other gets 409
// Conflict, backs off and re-reads. The holder renews every retryPeriod.
//
// Expiry is judged by the candidate's own monotonic clock: the lease is expired when the candidate has
// seen no change to it for leaseDurationSeconds (the holder's renewTime is never compared with local
// time, so clock skew between hosts cannot make a live lease look expired).
//
// Never two writers. The holder stops leading — aborts the signal given to onStartedLeading, isLeader()
// turns false — when renewDeadline has passed since it SENT the last write that succeeded (difference 1:
// client-go counts from the start of the renew attempt after it, which lets a term run up to
// renewDeadline + retryPeriod past the last write). That write reached the server after it was sent, and
// any candidate saw it later still, so no candidate can take over before send + leaseDuration, which is
// leaseDuration − renewDeadline after the holder stopped. A watchdog timer enforces this even when a
// request hangs (API server stopped); isLeader() also checks the deadline itself, in case the event loop
// was blocked past it. A holder that sees the lease held by someone else stops at once.
//
// Failover. Difference 2: a candidate waiting on a held lease wakes exactly when it would expire (not at
// the next poll after), so a crashed leader is replaced at most leaseDuration + retryPeriod after its
// last renewal was seen (plus one request): with the defaults 15 s / 10 s / 2 s, within 17 s. A leader
// that stops gracefully releases the lease (holder "", leaseDurationSeconds 1) and the next candidate
// takes it at its next poll, within retryPeriod.
//
// No fencing: a process frozen (SIGSTOP, VM pause) past its deadline may run a few instructions after it
// thaws before the watchdog fires. Writers should check `signal.aborted` (or isLeader()) right before
// each write; the margin leaseDuration − renewDeadline is what covers the rest.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { describeError, KubeApiError } from "./errors.ts";
import {
  createLeaseClient,
  formatMicroTime,
  type Lease,
  type LeaseClient,
  type LeaseSpec,
} from "./lease.ts";
import type { Logger } from "./logger.ts";

/** Where the elector reads time. Timers are always real; tests skew `now` to prove it is never trusted. */
export interface LeaderElectionClock {
  /** Wall-clock time, written into the Lease as acquireTime/renewTime (for humans only). */
  now(): Date;
  /** Monotonic milliseconds: every expiry and deadline is judged on this clock. */
  monotonic(): number;
}

/** Options of createLeaderElector. */
export interface LeaderElectorOptions {
  /** Credentials and server, from the current context. */
  kubeConfig: KubeConfig;
  /** Namespace of the Lease (usually the operator's own). */
  namespace: string;
  /** Name of the Lease; created if absent. */
  name: string;
  /** This replica's identity (the pod name, plus a random suffix if it may restart in place). Unique. */
  identity: string;
  /**
   * How long, in s, candidates wait after they last saw the lease change before taking it over: the
   * failover time of a crashed leader. Default 15. A whole number ≥ 1, greater than renewDeadlineSeconds.
   */
  leaseDurationSeconds?: number;
  /**
   * How long, in s, the leader keeps leading without a successful renewal. Default 10. Must exceed
   * retryPeriodSeconds (at least one retry fits) and stay below leaseDurationSeconds: the difference is
   * the safety margin against clock-rate differences and a late timer.
   */
  renewDeadlineSeconds?: number;
  /** Seconds between renewals, and between a candidate's attempts (then jittered down by up to 20 %). Default 2. */
  retryPeriodSeconds?: number;
  /** Where transitions (info) and failed attempts (warn, once per distinct error) are logged. */
  logger: Logger;
  /** Default: Date and performance.now(). */
  clock?: LeaderElectionClock;
}

/** What the elector calls. */
export interface LeaderCallbacks {
  /**
   * Called when this replica starts leading. `signal` aborts (reason: LeadershipLostError) the moment
   * it stops; stop writing then. A returned promise is awaited before a graceful stop releases the lease,
   * so work guarded by the lease can finish first. A rejection is logged.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called when a term ends (after the signal aborted), however it ended. */
  onStoppedLeading(): void;
  /** Called when a new holder is seen (this replica included); never with "" (released). */
  onNewLeader?(identity: string): void;
}

/** A leader elector for one Lease. */
export interface LeaderElector {
  /**
   * Campaigns and leads until stop(): after a term ends (renewal failed, lease taken) it campaigns again,
   * calling onStartedLeading anew with a new signal. Resolves after stop() has released the lease; never
   * rejects for API errors (they are logged and retried). May be called once.
   */
  run(callbacks: LeaderCallbacks): Promise<void>;
  /**
   * Stops: ends the term (the signal aborts), waits for onStartedLeading's promise (up to
   * renewDeadlineSeconds), then releases the lease so another replica can take over at once. A lease
   * whose work did not finish in time is not released: it expires after leaseDurationSeconds instead.
   */
  stop(): Promise<void>;
  /** Whether this replica leads now: in a term whose renew deadline has not passed. */
  isLeader(): boolean;
}

/** Why a term ended, as the abort reason of onStartedLeading's signal. */
export type LeadershipLostReason =
  /** stop() was called. */
  | "Stopped"
  /** No renewal succeeded within renewDeadlineSeconds. */
  | "RenewDeadlineExceeded"
  /** Another identity wrote the lease. */
  | "LeaseTaken";

/** The abort reason of onStartedLeading's signal. */
export class LeadershipLostError extends Error {
  readonly code = "ERR_LEADERSHIP_LOST";
  /** Why the term ended. */
  readonly reason: LeadershipLostReason;

  constructor(lease: string, reason: LeadershipLostReason) {
    super(`stopped leading Lease ${lease}: ${reason}`);
    this.name = "LeadershipLostError";
    this.reason = reason;
  }
}

/** Candidates sleep retryPeriod × (1 − JITTER × r): never longer than retryPeriod, rarely in step. */
const JITTER = 0.2;
/** Wake this long after a watched lease expires, so the strict "expired" comparison holds. */
const EXPIRY_SLACK_MS = 5;

/** Creates an elector; nothing happens until run(). Throws RangeError on inconsistent durations. */
export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const leaseSeconds = options.leaseDurationSeconds ?? 15;
  const renewSeconds = options.renewDeadlineSeconds ?? 10;
  const retrySeconds = options.retryPeriodSeconds ?? 2;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1) {
    throw new RangeError(`leaseDurationSeconds must be a whole number ≥ 1, got ${leaseSeconds}`);
  }
  if (!(retrySeconds > 0 && Number.isFinite(retrySeconds))) {
    throw new RangeError(`retryPeriodSeconds must be > 0, got ${retrySeconds}`);
  }
  if (!(renewSeconds > retrySeconds && renewSeconds < leaseSeconds)) {
    throw new RangeError(
      `renewDeadlineSeconds must be greater than retryPeriodSeconds (${retrySeconds}) and less than leaseDurationSeconds (${leaseSeconds}), got ${renewSeconds}`,
    );
  }
  if (options.identity === "") throw new RangeError("identity must not be empty");
  return new LeaseElector(options, {
    leaseMs: leaseSeconds * 1000,
    leaseSeconds,
    renewDeadlineMs: Math.round(renewSeconds * 1000),
    retryMs: Math.round(retrySeconds * 1000),
  });
}

interface Durations {
  leaseMs: number;
  leaseSeconds: number;
  renewDeadlineMs: number;
  retryMs: number;
}

/** The Lease as last seen, and when it last changed by our clock. */
interface Observed {
  lease: Lease;
  /** JSON of the spec: a change of it (not of labels or annotations) restarts the expiry clock. */
  key: string;
  /** Monotonic ms when this spec was first seen. */
  since: number;
}

/** One stretch of leadership. */
interface Term {
  controller: AbortController;
  /** Monotonic ms: leadership ends here unless a renewal sent before it succeeds. */
  deadline: number;
  watchdog: NodeJS.Timeout | undefined;
  /** onStartedLeading's promise, settled (never rejects). */
  settled: Promise<void>;
  ended: boolean;
}

/** The outcome of one attempt to acquire or renew. */
type Attempt =
  /** We hold the lease; the write that made it so was sent at `sentAt` (monotonic ms). */
  | { kind: "held"; sentAt: number }
  /** Someone else holds it and it has not expired; it would at `expiresAt` (monotonic ms). */
  | { kind: "taken"; holder: string; expiresAt: number }
  /** The attempt failed (conflict, API error, timeout); try again later. */
  | { kind: "failed" };

class LeaseElector implements LeaderElector {
  readonly #identity: string;
  readonly #lease: string;
  readonly #logger: Logger;
  readonly #clock: LeaderElectionClock;
  readonly #durations: Durations;
  readonly #client: LeaseClient;
  /** Aborted by stop(): cuts sleeps and campaign requests short. */
  readonly #stopping = new AbortController();
  #observed: Observed | undefined;
  #term: Term | undefined;
  #reportedLeader = "";
  #lastFailure = "";
  #done: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions, durations: Durations) {
    this.#identity = options.identity;
    this.#lease = `${options.namespace}/${options.name}`;
    this.#logger = options.logger;
    this.#clock = options.clock ?? { now: () => new Date(), monotonic: () => performance.now() };
    this.#durations = durations;
    this.#client = createLeaseClient(options.kubeConfig, options.namespace, options.name);
  }

  isLeader(): boolean {
    const term = this.#term;
    return term !== undefined && !term.ended && this.#clock.monotonic() < term.deadline;
  }

  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.#done !== undefined) return Promise.reject(new Error("run() may be called once"));
    this.#done = this.#campaign(callbacks);
    return this.#done;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#done === undefined) {
      this.#done = this.#client.close();
    }
    await this.#done;
  }

  async #campaign(callbacks: LeaderCallbacks): Promise<void> {
    this.#logger.info("Started leader election", { lease: this.#lease, identity: this.#identity });
    try {
      while (!this.#stopping.signal.aborted) {
        const sentAt = await this.#acquire(callbacks);
        if (sentAt === undefined || this.#stopping.signal.aborted) break;
        const term = this.#beginTerm(sentAt, callbacks);
        await this.#renew(term, callbacks);
        if (this.#stopping.signal.aborted) break;
        // Campaign again only once the last term's work has returned (or stop(): release() decides).
        if (!(await this.#settledWithin(term, this.#durations.renewDeadlineMs))) {
          await Promise.race([term.settled, aborted(this.#stopping.signal)]);
        }
      }
      await this.#release();
    } finally {
      // Whatever happened (a bug included), a term must not outlive the loop that renews it.
      if (this.#term !== undefined) this.#endTerm(this.#term, "Stopped", callbacks);
      await this.#client.close();
    }
  }

  /** Polls until this replica holds the lease; resolves with the winning write's send time. */
  async #acquire(callbacks: LeaderCallbacks): Promise<number | undefined> {
    const { retryMs, renewDeadlineMs } = this.#durations;
    while (!this.#stopping.signal.aborted) {
      const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(renewDeadlineMs)]);
      const attempt = await this.#tryAcquireOrRenew(false, signal);
      this.#reportLeader(callbacks);
      if (attempt.kind === "held") return attempt.sentAt;
      let wait = retryMs * (1 - JITTER * Math.random());
      if (attempt.kind === "taken") {
        wait = Math.min(wait, attempt.expiresAt - this.#clock.monotonic() + EXPIRY_SLACK_MS);
      }
      await pause(wait, this.#stopping.signal);
    }
    return undefined;
  }

  #beginTerm(sentAt: number, callbacks: LeaderCallbacks): Term {
    const controller = new AbortController();
    const term: Term = {
      controller,
      deadline: sentAt + this.#durations.renewDeadlineMs,
      watchdog: undefined,
      settled: Promise.resolve(),
      ended: false,
    };
    this.#term = term;
    this.#armWatchdog(term, callbacks);
    this.#logger.info("Started leading Lease", { lease: this.#lease, identity: this.#identity });
    term.settled = (async () => {
      await Promise.resolve(); // never inside our own loop, even if the callback is synchronous
      await callbacks.onStartedLeading(controller.signal);
    })().catch((error: unknown) => {
      this.#logger.error("Failed in onStartedLeading", {
        lease: this.#lease,
        error: describeError(error),
      });
    });
    return term;
  }

  #armWatchdog(term: Term, callbacks: LeaderCallbacks): void {
    clearTimeout(term.watchdog);
    const remaining = term.deadline - this.#clock.monotonic();
    term.watchdog = setTimeout(
      () => {
        this.#endTerm(term, "RenewDeadlineExceeded", callbacks);
      },
      Math.max(0, remaining),
    );
  }

  #endTerm(term: Term, reason: LeadershipLostReason, callbacks: LeaderCallbacks): void {
    if (term.ended) return;
    term.ended = true;
    clearTimeout(term.watchdog);
    term.controller.abort(new LeadershipLostError(this.#lease, reason));
    const log = reason === "Stopped" ? this.#logger.info : this.#logger.warn;
    log.call(this.#logger, "Stopped leading Lease", {
      lease: this.#lease,
      identity: this.#identity,
      reason,
    });
    try {
      callbacks.onStoppedLeading();
    } catch (error) {
      this.#logger.error("Failed in onStoppedLeading", {
        lease: this.#lease,
        error: describeError(error),
      });
    }
  }

  /** Renews every retryPeriod until the term ends: deadline passed, lease taken, or stop(). */
  async #renew(term: Term, callbacks: LeaderCallbacks): Promise<void> {
    const { retryMs, renewDeadlineMs } = this.#durations;
    while (!term.ended) {
      // stop() cuts this sleep short; a renewal already in flight is let finish, so the lease's
      // resourceVersion stays known and release() can write on top of it.
      await pause(retryMs, AbortSignal.any([term.controller.signal, this.#stopping.signal]));
      if (term.ended) return;
      if (this.#stopping.signal.aborted) {
        this.#endTerm(term, "Stopped", callbacks);
        return;
      }
      const remaining = term.deadline - this.#clock.monotonic();
      if (remaining <= 0) {
        this.#endTerm(term, "RenewDeadlineExceeded", callbacks);
        return;
      }
      const signal = AbortSignal.any([
        term.controller.signal,
        AbortSignal.timeout(Math.ceil(remaining)),
      ]);
      const attempt = await this.#tryAcquireOrRenew(true, signal);
      this.#reportLeader(callbacks);
      if (term.ended) return;
      if (attempt.kind === "held") {
        term.deadline = attempt.sentAt + renewDeadlineMs;
        this.#armWatchdog(term, callbacks);
        this.#logger.debug("Renewed Lease", { lease: this.#lease });
      } else if (attempt.kind === "taken") {
        this.#endTerm(term, "LeaseTaken", callbacks);
      }
    }
  }

  /**
   * Whether a term's onStartedLeading settles within `ms` (after its signal aborted); warns if not.
   */
  async #settledWithin(term: Term, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, ms, false);
    });
    const settled = await Promise.race([term.settled.then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (!settled) {
      this.#logger.warn("Waited for onStartedLeading to return after its signal aborted", {
        lease: this.#lease,
        waitedMs: ms,
      });
    }
    return settled;
  }

  /**
   * One read-modify-write of the lease. `leading`: renew our own term (the fast path writes on top of
   * our last write without reading first; a conflict falls back to reading).
   */
  async #tryAcquireOrRenew(leading: boolean, signal: AbortSignal): Promise<Attempt> {
    try {
      const observed = this.#observed;
      if (leading && observed !== undefined && holderOf(observed.lease) === this.#identity) {
        const sentAt = this.#clock.monotonic();
        try {
          this.#observe(
            await this.#client.replaceLease(
              { ...observed.lease, spec: this.#nextSpec(observed.lease, true) },
              signal,
            ),
          );
          this.#succeeded();
          return { kind: "held", sentAt };
        } catch (error) {
          if (!isConflict(error)) throw error;
          this.#logger.debug("Lease changed since our last renewal; reading it", {
            lease: this.#lease,
          });
        }
      }

      const current = await this.#client.fetchLease(signal);
      if (current === undefined) {
        const sentAt = this.#clock.monotonic();
        const created = await this.#client.createLease(this.#nextSpec(undefined, false), signal);
        this.#observe(created);
        this.#succeeded();
        return { kind: "held", sentAt };
      }
      this.#observe(current);
      const holder = holderOf(current);
      if (holder !== "" && holder !== this.#identity) {
        const expiresAt = this.#expiresAt();
        // A leader that sees another holder stops at once, expired or not: someone else wrote.
        if (leading || this.#clock.monotonic() < expiresAt) {
          this.#succeeded();
          return { kind: "taken", holder, expiresAt };
        }
      }
      const sentAt = this.#clock.monotonic();
      const written = { ...current, spec: this.#nextSpec(current, leading) };
      this.#observe(await this.#client.replaceLease(written, signal));
      this.#succeeded();
      return { kind: "held", sentAt };
    } catch (error) {
      // Cut off by the end of the term or by stop(): that was logged already, the API did not fail.
      const cutOff = signal.reason instanceof LeadershipLostError || this.#stopping.signal.aborted;
      if (!(signal.aborted && cutOff)) this.#failed(error, leading ? "renew" : "acquire");
      return { kind: "failed" };
    }
  }

  /** When the observed lease expires, by our clock: its own duration after we saw it change. */
  #expiresAt(): number {
    const observed = this.#observed;
    if (observed === undefined) return Number.NEGATIVE_INFINITY;
    const seconds = observed.lease.spec?.leaseDurationSeconds;
    const ms =
      typeof seconds === "number" && seconds > 0 ? seconds * 1000 : this.#durations.leaseMs;
    return observed.since + ms;
  }

  /** The spec we would write: held by us, renewed now, a transition counted if it changes hands. */
  #nextSpec(previous: Lease | undefined, leading: boolean): LeaseSpec {
    const stamp = formatMicroTime(this.#clock.now());
    const spec = previous?.spec ?? {};
    const transitions = typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0;
    const changesHands = previous !== undefined && holderOf(previous) !== this.#identity;
    return {
      ...spec,
      holderIdentity: this.#identity,
      leaseDurationSeconds: this.#durations.leaseSeconds,
      acquireTime: leading && typeof spec.acquireTime === "string" ? spec.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: changesHands ? transitions + 1 : transitions,
    };
  }

  #observe(lease: Lease): void {
    const key = JSON.stringify(lease.spec ?? {});
    if (this.#observed?.key === key) {
      this.#observed.lease = lease; // same spec, newer resourceVersion (labels, annotations)
      return;
    }
    this.#observed = { lease, key, since: this.#clock.monotonic() };
  }

  #reportLeader(callbacks: LeaderCallbacks): void {
    const holder = this.#observed === undefined ? "" : holderOf(this.#observed.lease);
    if (holder === "" || holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    this.#logger.info("Saw new leader of Lease", { lease: this.#lease, holder });
    try {
      callbacks.onNewLeader?.(holder);
    } catch (error) {
      this.#logger.error("Failed in onNewLeader", {
        lease: this.#lease,
        error: describeError(error),
      });
    }
  }

  #succeeded(): void {
    if (this.#lastFailure !== "") {
      this.#logger.info("Reached Lease again", { lease: this.#lease });
      this.#lastFailure = "";
    }
  }

  /** Logs a failed attempt: a warning the first time an error is seen, then debug until it changes. */
  #failed(error: unknown, what: "acquire" | "renew" | "release"): void {
    if (isConflict(error)) {
      this.#logger.debug(`Failed to ${what} Lease: it changed meanwhile`, { lease: this.#lease });
      return;
    }
    const message = describeError(error);
    const log = message === this.#lastFailure ? this.#logger.debug : this.#logger.warn;
    this.#lastFailure = message;
    log.call(this.#logger, `Failed to ${what} Lease`, { lease: this.#lease, error: message });
  }

  /**
   * Gives the lease up if we still hold it: holder "" and a 1 s duration, so the next candidate takes
   * it at its next poll. A conflict (a renewal of ours that timed out yet landed) is read and retried
   * once; a lease now held by someone else is left alone.
   */
  async #release(): Promise<void> {
    const term = this.#term;
    if (term !== undefined && !(await this.#settledWithin(term, this.#durations.renewDeadlineMs))) {
      this.#logger.warn("Did not release Lease: onStartedLeading outlived renewDeadline", {
        lease: this.#lease,
      });
      return;
    }
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const lease = this.#observed?.lease;
      if (lease === undefined || holderOf(lease) !== this.#identity) return;
      const stamp = formatMicroTime(this.#clock.now());
      const released: Lease = {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: stamp,
          renewTime: stamp,
        },
      };
      const signal = AbortSignal.timeout(this.#durations.renewDeadlineMs);
      try {
        this.#observe(await this.#client.replaceLease(released, signal));
        this.#logger.info("Released Lease", { lease: this.#lease, identity: this.#identity });
        return;
      } catch (error) {
        this.#failed(error, "release");
        if (!isConflict(error)) return;
        try {
          const current = await this.#client.fetchLease(signal);
          if (current === undefined) return;
          this.#observe(current);
        } catch (readError) {
          this.#failed(readError, "release");
          return;
        }
      }
    }
  }
}

function holderOf(lease: Lease): string {
  const holder = lease.spec?.holderIdentity;
  return typeof holder === "string" ? holder : "";
}

function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.statusCode === 409;
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Sleeps `ms` (at least 0); resolves early, without throwing, when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await sleep(Math.max(0, ms), undefined, { signal }).catch(() => {});
}
