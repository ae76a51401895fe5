// What operator/kube logs through. Modules depend on this interface rather than on winston, so tests can
// pass noopLogger or a recording one, and main.ts owns the wiring (the proxy's winston logger fits it).
//
// Messages are capitalised and name what happened ("Listed objects", "Failed to watch objects");
// details go in fields. Never put object contents in fields: a Secret's data must not reach a log.

/** Structured fields of a log line. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A structured logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Discards everything. */
export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
