// Durations in the API use the Go/Kubernetes syntax ("90s", "1h30m", "250ms"). The compiler reads them
// with the same parser the offline admission uses for CEL's duration() (a port of Go's
// time.ParseDuration), so a duration means exactly what the API server accepted.
import { parseGoDuration } from "./go-duration.ts";

/** Milliseconds (rounded) in a Go duration string, or undefined when it does not parse or is negative. */
export function parseDurationMs(text: string): number | undefined {
  const nanoseconds = parseGoDuration(text);
  if (nanoseconds === undefined || nanoseconds < 0n) return undefined;
  return Math.round(Number(nanoseconds) / 1e6);
}

/** Whole seconds in a duration string, rounded up so that a positive duration never becomes 0. */
export function parseDurationSeconds(text: string): number | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}
