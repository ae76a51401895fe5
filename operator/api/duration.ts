// Durations in the API use the Go/Kubernetes syntax ("90s", "1h30m", "250ms"), which is what the
// API server's CEL duration() accepts, so one parser serves the compiler and the docs alike.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/;
const PART = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;

/** Milliseconds in a Go-style duration string, or undefined when it does not parse. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return Math.round(total);
}

/** Whole seconds in a duration string, rounded up so that a positive duration never becomes 0. */
export function parseDurationSeconds(text: string): number | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}
