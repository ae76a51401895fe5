// Small statistics: medians and ranges across repetitions, percentiles of latency samples.

/** Median, min and max of some repetitions' values. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** How many values. */
  n: number;
}

/** Summarises `values` (NaN values are left out); undefined when none is left. */
export function summarize(values: readonly number[]): Summary | undefined {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const middle = Math.floor(finite.length / 2);
  const median =
    finite.length % 2 === 1
      ? (finite[middle] as number)
      : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
  return {
    median,
    min: finite[0] as number,
    max: finite[finite.length - 1] as number,
    n: finite.length,
  };
}

/**
 * The `p`-th percentile (0–100) of ascending-sorted `sorted`, nearest-rank (the value at or below
 * which p % of the samples fall, as wrk and HdrHistogram report); NaN when empty.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
