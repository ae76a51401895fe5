// The command line of `npm run bench` (pure: argv in, options or a usage error out).
import { parseArgs } from "node:util";
import { MEASUREMENTS, type MeasurementName } from "./figures.ts";
import { PROXY_KINDS, type ProxyKind } from "./proxies.ts";

/** Everything a run is told. */
export interface BenchOptions {
  reps: number;
  /** Seconds per load run. */
  seconds: number;
  measurements: MeasurementName[];
  proxies: ProxyKind[];
  /** Results directory; undefined: $TMPDIR/portcullis-bench/<timestamp>/. */
  out: string | undefined;
  connections: number;
  streams: number;
  handshakeConcurrency: number;
  fixedRate: number;
  alternations: number;
  /** Seconds of unmeasured keep-alive load on each freshly started proxy (JIT, caches). */
  warmupSeconds: number;
  /** Seconds per `openssl speed` algorithm. */
  cryptoSeconds: number;
  install: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Data-plane benchmark: Portcullis, nginx and HAProxy terminating TLS for the same two backends, in the
same run, proxy pinned to CPU 0 and load generator + backends to CPU 1. See docs/benchmark.md.

Options:
      --reps N                 Repetitions (default 3); figures are medians with min–max
      --duration S             Seconds per load run (default 10)
      --quick                  1 repetition × 3 s, 1 s warm-up, 1 s crypto (for development)
      --only NAME[,NAME]       Run only these measurements (repeatable): ${MEASUREMENTS.join(", ")}
      --proxies LIST           Proxies to run (default nginx,haproxy,portcullis)
      --out DIR                Where report.md and results.json go
                               (default $TMPDIR/portcullis-bench/<timestamp>/)
      --connections N          Keep-alive connections for wrk and h2load (default 50)
      --streams N              HTTP/2 concurrent streams per connection (default 10)
      --handshake-concurrency N
                               Connections in flight of the handshake client (default 8)
      --rate N                 Fixed-load rate in requests/s (default 2000)
      --alternations N         Connections per alternating resumption run (default 200)
      --no-install             Fail instead of installing missing tools with apt-get
  -h, --help                   Show this help`;

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function list<T extends string>(
  name: string,
  values: readonly string[] | undefined,
  allowed: readonly T[],
): T[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const items = values.flatMap((v) => v.split(",")).map((v) => v.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new Error(`--${name}: unknown ${JSON.stringify(item)} (one of ${allowed.join(", ")})`);
    }
  }
  // In canonical order, each once.
  return allowed.filter((a) => items.includes(a));
}

/** Parses the arguments after `npm run bench --`. Throws an Error with a message on bad input. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      reps: { type: "string" },
      duration: { type: "string" },
      quick: { type: "boolean" },
      only: { type: "string", multiple: true },
      proxies: { type: "string", multiple: true },
      out: { type: "string" },
      connections: { type: "string" },
      streams: { type: "string" },
      "handshake-concurrency": { type: "string" },
      rate: { type: "string" },
      alternations: { type: "string" },
      "no-install": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick === true;
  return {
    reps: positiveInteger("reps", values.reps, quick ? 1 : 3),
    seconds: positiveInteger("duration", values.duration, quick ? 3 : 10),
    measurements: list("only", values.only, MEASUREMENTS) ?? [...MEASUREMENTS],
    proxies: list("proxies", values.proxies, PROXY_KINDS) ?? [...PROXY_KINDS],
    out: values.out,
    connections: positiveInteger("connections", values.connections, 50),
    streams: positiveInteger("streams", values.streams, 10),
    handshakeConcurrency: positiveInteger(
      "handshake-concurrency",
      values["handshake-concurrency"],
      8,
    ),
    fixedRate: positiveInteger("rate", values.rate, 2000),
    alternations: positiveInteger("alternations", values.alternations, 200),
    warmupSeconds: quick ? 1 : 3,
    cryptoSeconds: quick ? 1 : 3,
    install: values["no-install"] !== true,
    help: values.help === true,
  };
}

/** The command line that reproduces a run with these options (for the report). */
export function reproduceCommand(argv: readonly string[]): string {
  const quoted = argv.map((a) => (/^[\w,./=-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`));
  return ["npm run bench", ...(quoted.length > 0 ? ["--", ...quoted] : [])].join(" ");
}
