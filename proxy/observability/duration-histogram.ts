// A Prometheus histogram with one label, recorded into plain numeric arrays and turned into samples
// only when the registry is read. prom-client's Histogram re-derives a series key from a label object
// on every observe(); with one series per route, looked up once and cached by the caller, an
// observation here is a bucket search and three additions. It registers in a prom-client Registry like
// prom-client's own metrics (name, help, type, aggregator, get, reset), so /metrics, the per-worker
// JSON and the supervisor's aggregation treat it as any other histogram.

/** One label value's counts. Obtained once through `series()` and kept by the caller. */
export interface HistogramSeries {
  readonly labelValue: string;
  /** Observations per bucket (not cumulative); the last slot is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** What prom-client's Registry reads from a metric (its `MetricObjectWithValues`). */
export interface HistogramSnapshot {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: { value: number; labels: Record<string, string | number>; metricName: string }[];
}

export interface LabelledHistogramOptions {
  name: string;
  help: string;
  labelName: string;
  /** Upper bounds, ascending. */
  buckets: readonly number[];
}

export class LabelledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #labelName: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: LabelledHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.#labelName = options.labelName;
    this.#bounds = [...options.buckets];
  }

  /** The series of `labelValue`, created empty on first use. */
  series(labelValue: string): HistogramSeries {
    let series = this.#series.get(labelValue);
    if (series === undefined) {
      series = {
        labelValue,
        counts: new Float64Array(this.#bounds.length + 1),
        sum: 0,
        count: 0,
      };
      this.#series.set(labelValue, series);
    }
    return series;
  }

  /** Records one observation (a value counts in the first bucket whose bound is ≥ it, like prom-client). */
  observe(series: HistogramSeries, value: number): void {
    const bounds = this.#bounds;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
    series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** Forgets a label value's series (a removed route); a caller holding it must fetch it again. */
  remove(labelValue: string): void {
    this.#series.delete(labelValue);
  }

  /**
   * Zeroes every series in place (Registry.resetMetrics calls this): callers keep the series they hold,
   * so observations after a reset are still counted.
   */
  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /** The samples, as prom-client's Histogram.get() spells them (cumulative buckets, +Inf, sum, count). */
  get(): Promise<HistogramSnapshot> {
    const values: HistogramSnapshot["values"] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += series.counts[i] as number;
        values.push({
          value: cumulative,
          labels: { le: this.#bounds[i] as number, [this.#labelName]: series.labelValue },
          metricName: bucketName,
        });
      }
      const label = { [this.#labelName]: series.labelValue };
      values.push(
        { value: series.count, labels: { le: "+Inf", ...label }, metricName: bucketName },
        { value: series.sum, labels: label, metricName: `${this.name}_sum` },
        { value: series.count, labels: label, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}
