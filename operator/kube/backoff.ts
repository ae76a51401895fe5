// Exponential backoff with jitter for reconnecting to the API server: each failure doubles the delay up to
// a cap, the delay is randomised so many clients that failed together do not retry together, and the
// sequence starts over only after the guarded operation has been healthy for a while (so a server that
// accepts a watch and drops it at once still backs off instead of being hammered).

/**
 * Cap for the retries of everything that must re-converge within 10 s of an API outage ending (the
 * operator's informers and queue, each proxy pod's config-sync): jittered down to 4–8 s, so once the
 * server is back every watch resumes within 8 s, while a few informers retrying that often cost the
 * server nothing. The default cap (30 s, client-go's) once let a proxy pod take 21 s after a 60 s outage.
 */
export const RECOVERY_BACKOFF_MAX_MS = 8000;

/** How a Backoff grows and when it starts over. */
export interface BackoffOptions {
  /** Delay after the first failure, in ms, before jitter. Default 250. */
  initialMs?: number;
  /** Largest delay, in ms. Default 30 000 (what client-go uses). */
  maxMs?: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /**
   * Fraction of each delay that is random: a delay d becomes d × (1 − jitter × r), r uniform in [0, 1).
   * Default 0.5 ("equal jitter": between half and all of d). 0 disables it.
   */
  jitter?: number;
  /**
   * How long, in ms, the operation must have been healthy (see markHealthy) before the next failure
   * starts from initialMs again. Default 60 000.
   */
  resetAfterMs?: number;
  /** Source of randomness in [0, 1). Default Math.random; tests pass a constant. */
  random?: () => number;
}

/** Delays between attempts of one operation (one per informer). Not shared between operations. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #resetAfterMs: number;
  readonly #random: () => number;
  #failures = 0;
  #healthySince: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = positive("initialMs", options.initialMs ?? 250);
    this.#maxMs = positive("maxMs", options.maxMs ?? 30_000);
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.5;
    this.#resetAfterMs = options.resetAfterMs ?? 60_000;
    this.#random = options.random ?? Math.random;
    if (!(this.#factor >= 1))
      throw new RangeError(`backoff factor must be ≥ 1, got ${this.#factor}`);
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) {
      throw new RangeError(`backoff jitter must be within [0, 1], got ${this.#jitter}`);
    }
  }

  /** Failures since the sequence last started over. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Records that the operation is working (a watch was opened). The healthy stretch lasts until the next
   * failure; calling this again during it changes nothing.
   */
  markHealthy(now: number = Date.now()): void {
    this.#healthySince ??= now;
  }

  /**
   * Records a failure and returns how long to wait, in ms, before the next attempt. If the operation had
   * been healthy for resetAfterMs, the sequence starts over first.
   */
  next(now: number = Date.now()): number {
    if (this.#healthySince !== undefined && now - this.#healthySince >= this.#resetAfterMs) {
      this.#failures = 0;
    }
    this.#healthySince = undefined;
    const base = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#failures);
    this.#failures += 1;
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  /** Starts the sequence over. */
  reset(): void {
    this.#failures = 0;
    this.#healthySince = undefined;
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0 && Number.isFinite(value))) {
    throw new RangeError(`backoff ${name} must be a positive number of ms, got ${value}`);
  }
  return value;
}
