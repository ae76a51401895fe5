// The access log: one JSON line per proxied request, on the same stream as the other logs and with the
// same leading keys (timestamp, level, message, component) so one pipeline reads both.
//
// It does not use winston. Measured on this code (200,000 lines of a typical record to /dev/null or a
// pipe, Node 24, yielding to the event loop every 100 lines like a busy server): winston with a JSON
// format costs 6-9 µs per line (15-25 µs in a tight loop, where its stream plumbing backs up), which is
// a large share of what a whole proxied request costs; this serialiser plus one buffered write costs
// 1.5-3 µs, most of it JSON-escaping the strings. Lines are gathered and written every 100 ms (or
// sooner when 64 KiB pile up) because process.stdout on a pipe or file is synchronous on Linux: a
// write per request would be a system call per request. Writing once per event-loop turn, as this did
// before, was still about one system call per request at moderate load (each turn carries about one
// request); without any access log the proxy used 6-8 % less CPU at 1,500 requests/s, and batching by
// time with the metrics change recovered about 4 % (docs/performance.md). Lines still buffered at exit
// are written synchronously; a SIGKILL loses at most the last interval's.
//
// Only AccessRecord's own fields are written, in a fixed order: never headers, cookies or the query
// string (it is cut from the path here, whatever the caller passed).
import { writeSync } from "node:fs";
import type { AccessRecord } from "./ports.ts";

/** Longest host or path written, in characters; longer values are cut and end with "…". */
export const MAX_ACCESS_FIELD_CHARS = 2_048;

export interface AccessLoggerOptions {
  /** Where lines go. Default process.stdout. */
  stream?: NodeJS.WritableStream & { writableLength?: number };
  /** Buffered characters that trigger an immediate write. Default 64 KiB. */
  flushChars?: number;
  /** Longest time a line waits in the buffer, in ms. Default 100. */
  flushIntervalMs?: number;
  /**
   * Characters the stream may hold unwritten (a slow consumer) before batches are dropped rather than
   * queued in memory without bound. Default 8 MiB. Dropped lines are counted in `dropped`.
   */
  maxQueuedChars?: number;
}

export interface AccessLogger {
  /** Records one finished request. */
  log(record: AccessRecord): void;
  /** Writes what is buffered now. */
  flush(): void;
  /** Lines dropped because the stream fell too far behind. */
  readonly dropped: number;
  /** Flushes and stops writing; later log() calls are ignored. */
  close(): void;
}

/** Cuts the query string (and any fragment) off a request target, and bounds its length. */
export function stripQuery(path: string): string {
  let end = path.length;
  const query = path.indexOf("?");
  if (query !== -1) end = query;
  const fragment = path.indexOf("#");
  if (fragment !== -1 && fragment < end) end = fragment;
  return bounded(end === path.length ? path : path.slice(0, end));
}

function bounded(text: string): string {
  return text.length > MAX_ACCESS_FIELD_CHARS ? `${text.slice(0, MAX_ACCESS_FIELD_CHARS)}…` : text;
}

/** A string JSON can carry as it is: printable ASCII without `"` or `\\`. */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A JSON string literal. Most values (methods, hosts, paths, labels from the config) are plain ASCII
 * and are quoted as they are; anything else goes through JSON.stringify, which escapes quotes, control
 * characters and lone surrogates. Measured in the proxy: the access line's formatting cost about 6 %
 * of the CPU per request with JSON.stringify for every field and a float-to-string conversion for the
 * duration (docs/performance.md).
 */
const str = (value: string): string => {
  const text = String(value);
  return PLAIN_JSON_TEXT.test(text) ? `"${text}"` : JSON.stringify(text);
};
const num = (value: number): string => (Number.isFinite(value) ? String(value) : "null");

/**
 * `num(Math.round(ms * 1000) / 1000)`, the duration with microsecond precision, built from integers:
 * converting a fractional double to its shortest decimal form is the slow part of that expression.
 */
export function formatMilliseconds(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (!(micros >= 0 && micros <= 0x7fffffff)) return num(micros / 1000);
  const whole = Math.floor(micros / 1000);
  let fraction = micros - whole * 1000;
  if (fraction === 0) return String(whole);
  let digits = 3;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  return `${whole}.${String(fraction).padStart(digits, "0")}`;
}

let lastMs = Number.NaN;
let lastIso = "";

/** ISO time, computed once per millisecond: under load many requests finish in the same one. */
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** One access line (without the newline), the AccessRecord fields in a fixed order. */
export function formatAccessRecord(record: AccessRecord, nowMs: number = Date.now()): string {
  return (
    `{"timestamp":"${isoTime(nowMs)}","level":"info","message":"Proxied request","component":"access"` +
    `,"method":${str(record.method)}` +
    `,"host":${str(bounded(record.host))}` +
    `,"path":${str(stripQuery(record.path))}` +
    `,"status":${num(record.status)}` +
    `,"durationMs":${formatMilliseconds(record.durationMs)}` +
    `,"route":${str(record.route)}` +
    `,"cluster":${str(record.cluster)}` +
    `,"endpoint":${str(record.endpoint)}` +
    `,"bytesSent":${num(record.bytesSent)}` +
    `,"protocol":${str(record.protocol)}` +
    `,"clientAddress":${str(record.clientAddress)}}`
  );
}

/** Creates a buffered access logger; see the file comment for why it is not winston. */
export function createAccessLogger(options: AccessLoggerOptions = {}): AccessLogger {
  const stream = options.stream ?? process.stdout;
  const flushChars = options.flushChars ?? 64 * 1024;
  const maxQueuedChars = options.maxQueuedChars ?? 8 * 1024 * 1024;
  let pending = "";
  let pendingLines = 0;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  let scheduled: NodeJS.Timeout | undefined;
  let dropped = 0;
  let closed = false;

  const flush = (): void => {
    if (scheduled) {
      clearTimeout(scheduled);
      scheduled = undefined;
    }
    if (pending === "") return;
    if ((stream.writableLength ?? 0) > maxQueuedChars) {
      dropped += pendingLines;
    } else {
      stream.write(pending);
    }
    pending = "";
    pendingLines = 0;
  };

  // Lines still buffered when the process exits would be lost (no more event-loop turns): write them
  // synchronously. Only for stdout, whose descriptor we know.
  const onExit = (): void => {
    if (pending !== "" && stream === process.stdout) writeSync(1, pending);
    pending = "";
  };
  process.on("exit", onExit);

  return {
    log(record) {
      if (closed) return;
      pending += `${formatAccessRecord(record)}\n`;
      pendingLines++;
      if (pending.length >= flushChars) flush();
      else if (scheduled === undefined) {
        scheduled = setTimeout(flush, flushIntervalMs);
        // Not a reason to keep the process alive: the exit handler writes what is left.
        scheduled.unref();
      }
    },
    flush,
    get dropped() {
      return dropped;
    },
    close() {
      flush();
      closed = true;
      process.off("exit", onExit);
    },
  };
}
