// The proxy's structured log: winston, one JSON object per line on stdout, where the container runtime
// collects it. Every line has the same leading keys so log pipelines can rely on them:
//
//   {"timestamp":"2026-11-24T10:00:00.000Z","level":"info","message":"Applied proxy config",
//    "component":"config","version":"3f2a…"}
//
// Messages are capitalised, past tense and name the object type ("Applied proxy config", "Reloaded
// certificate"); details go in fields, never in the message, so lines stay searchable. Fields pass
// through redactFields first. Access lines do not go through winston: see access-log.ts.
import winston from "winston";
import type { LogFields, ProxyLogger } from "./ports.ts";
import { redactFields } from "./redact.ts";

export { type AccessLogger, type AccessLoggerOptions, createAccessLogger } from "./access-log.ts";

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys every line starts with; a field with one of these names is written as `field.<name>`. */
const RESERVED = new Set(["timestamp", "level", "message", "component"]);

/** winston's key for the rendered line (triple-beam's MESSAGE). */
const RENDERED = Symbol.for("message");

export interface LoggerOptions {
  /** Lowest level written; lines below it cost one comparison. */
  level: LogLevel;
  /** What is logging ("listener", "config", "admin"), written on every line. */
  component: string;
  /** Where lines go. Default process.stdout. */
  stream?: NodeJS.WritableStream;
}

/** A ProxyLogger that can hand out loggers for other components sharing its output. */
export interface Logger extends ProxyLogger {
  /** A logger for another component, writing to the same stream at the same level. */
  child(component: string): Logger;
}

/** Is `value` one of LOG_LEVELS? For parsing a --log-level flag or environment variable. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * One log line (without the newline). Fields are redacted and written after the fixed keys; undefined
 * fields are left out and non-finite numbers become null, as JSON.stringify does.
 */
export function formatLogLine(
  time: Date,
  level: LogLevel,
  message: string,
  component: string,
  fields: LogFields | undefined,
): string {
  const line: Record<string, unknown> = {
    timestamp: time.toISOString(),
    level,
    message,
    component,
  };
  if (fields) {
    const safe = redactFields(fields);
    for (const name of Object.keys(safe)) {
      line[RESERVED.has(name) ? `field.${name}` : name] = safe[name];
    }
  }
  return JSON.stringify(line);
}

interface Entry {
  level: LogLevel;
  message: string;
  component: string;
  fields: LogFields | undefined;
}

/** Creates a JSON-lines logger for `component`; see the file comment for the line format. */
export function createLogger(options: LoggerOptions): Logger {
  const render = winston.format((info) => {
    const entry = info as unknown as Entry & Record<symbol, unknown>;
    entry[RENDERED] = formatLogLine(
      new Date(),
      entry.level,
      entry.message,
      entry.component,
      entry.fields,
    );
    return info;
  });
  const output = winston.createLogger({
    level: options.level,
    levels: { error: 0, warn: 1, info: 2, debug: 3 },
    format: render(),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
    exitOnError: false,
  });
  const threshold = LOG_LEVELS.indexOf(options.level);

  const make = (component: string): Logger => {
    const write = (level: LogLevel, message: string, fields: LogFields | undefined): void => {
      // Checked here so a disabled debug line allocates nothing.
      if (LOG_LEVELS.indexOf(level) > threshold) return;
      output.log({ level, message, component, fields } satisfies Entry);
    };
    return {
      debug: (message, fields) => write("debug", message, fields),
      info: (message, fields) => write("info", message, fields),
      warn: (message, fields) => write("warn", message, fields),
      error: (message, fields) => write("error", message, fields),
      child: make,
    };
  };
  return make(options.component);
}
