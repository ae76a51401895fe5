// The figures the benchmark reports, in report order: what each means, its unit, and which way is
// better (for reading the Portcullis ÷ peer ratios).

/** Every measurement that can be selected with --only. */
export const MEASUREMENTS = [
  "h1",
  "h2",
  "full-ecdsa",
  "full-rsa",
  "resumed",
  "resumption-ratio",
  "fixed-load",
  "crypto",
] as const;
export type MeasurementName = (typeof MEASUREMENTS)[number];

/** One reported figure. */
export interface FigureDefinition {
  id: string;
  label: string;
  unit: "req/s" | "conn/s" | "ms" | "µs" | "%" | "MiB" | "per CPU-s";
  /** Which way is better; "neither" for context figures (utilisation, achieved rate): no ratio. */
  better: "higher" | "lower" | "neither";
  /** Which measurement produces it. */
  measurement: MeasurementName | "memory";
}

const handshakeFigures = (
  prefix: string,
  what: string,
  measurement: MeasurementName,
): FigureDefinition[] => [
  {
    id: `${prefix}.perCpuSecond`,
    label: `${what} per proxy CPU-second (capacity)`,
    unit: "per CPU-s",
    better: "higher",
    measurement,
  },
  {
    id: `${prefix}.cpuPerHandshake`,
    label: `${what}: proxy CPU per connection`,
    unit: "µs",
    better: "lower",
    measurement,
  },
  {
    id: `${prefix}.rate`,
    label: `${what}/s (raw; client-bound when the load core is saturated)`,
    unit: "conn/s",
    better: "higher",
    measurement,
  },
  {
    id: `${prefix}.proxyBusy`,
    label: `${what}: proxy CPU utilisation`,
    unit: "%",
    better: "neither",
    measurement,
  },
];

export const FIGURES: readonly FigureDefinition[] = [
  {
    id: "h1.rate",
    label: "HTTP/1.1 keep-alive req/s (wrk -c50)",
    unit: "req/s",
    better: "higher",
    measurement: "h1",
  },
  {
    id: "h1.p50",
    label: "HTTP/1.1 keep-alive p50 latency",
    unit: "ms",
    better: "lower",
    measurement: "h1",
  },
  {
    id: "h1.p99",
    label: "HTTP/1.1 keep-alive p99 latency",
    unit: "ms",
    better: "lower",
    measurement: "h1",
  },
  {
    id: "h1.cpuPerRequest",
    label: "HTTP/1.1 proxy CPU per request",
    unit: "µs",
    better: "lower",
    measurement: "h1",
  },
  {
    id: "h2.rate",
    label: "HTTP/2 keep-alive req/s (h2load -c50 -m10)",
    unit: "req/s",
    better: "higher",
    measurement: "h2",
  },
  {
    id: "h2.p50",
    label: "HTTP/2 keep-alive p50 latency",
    unit: "ms",
    better: "lower",
    measurement: "h2",
  },
  {
    id: "h2.p99",
    label: "HTTP/2 keep-alive p99 latency",
    unit: "ms",
    better: "lower",
    measurement: "h2",
  },
  {
    id: "h2.cpuPerRequest",
    label: "HTTP/2 proxy CPU per request",
    unit: "µs",
    better: "lower",
    measurement: "h2",
  },
  ...handshakeFigures("full-ecdsa", "full handshakes ECDSA", "full-ecdsa"),
  ...handshakeFigures("full-rsa", "full handshakes RSA-2048", "full-rsa"),
  ...handshakeFigures("resumed", "resumed handshakes", "resumed"),
  {
    id: "resumed.fraction",
    label: "resumed handshakes: share of offered sessions resumed",
    unit: "%",
    better: "higher",
    measurement: "resumed",
  },
  {
    id: "ratio.tls13",
    label: "resumption across two processes, TLS 1.3",
    unit: "%",
    better: "higher",
    measurement: "resumption-ratio",
  },
  {
    id: "ratio.tls12",
    label: "resumption across two processes, TLS 1.2",
    unit: "%",
    better: "higher",
    measurement: "resumption-ratio",
  },
  {
    id: "fixed.p50",
    label: "p50 latency at the fixed rate (HTTP/1.1)",
    unit: "ms",
    better: "lower",
    measurement: "fixed-load",
  },
  {
    id: "fixed.p99",
    label: "p99 latency at the fixed rate (HTTP/1.1)",
    unit: "ms",
    better: "lower",
    measurement: "fixed-load",
  },
  {
    id: "fixed.cpuPerRequest",
    label: "proxy CPU per request at the fixed rate",
    unit: "µs",
    better: "lower",
    measurement: "fixed-load",
  },
  {
    id: "fixed.rate",
    label: "achieved rate (should equal the fixed rate)",
    unit: "req/s",
    better: "neither",
    measurement: "fixed-load",
  },
  {
    id: "memory.peakRss",
    label: "peak RSS (VmHWM, all proxy processes)",
    unit: "MiB",
    better: "lower",
    measurement: "memory",
  },
  {
    id: "memory.pss",
    label: "PSS after the runs (all proxy processes, shared pages counted once)",
    unit: "MiB",
    better: "lower",
    measurement: "memory",
  },
];
