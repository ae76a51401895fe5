// Number spellings of the load tools' outputs: "1.23ms", "456us", "2.1s", "40.12k".

const TIME_UNITS_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** "1.23ms" → 1.23; "456us" → 0.456; "2.1s" → 2100 (milliseconds). Throws on anything else. */
export function parseDurationMs(text: string): number {
  const match = /^(-?[\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return Number(match[1]) * (TIME_UNITS_MS[match[2] as string] as number);
}

/** "40.12k" → 40120; "1.5M" → 1500000; "12" → 12. */
export function parseScaled(text: string): number {
  const match = /^(-?[\d.]+)([kMG]?)$/.exec(text.trim());
  if (!match) throw new Error(`not a number: ${JSON.stringify(text)}`);
  const scale = { "": 1, k: 1e3, M: 1e6, G: 1e9 }[match[2] as "" | "k" | "M" | "G"];
  return Number(match[1]) * scale;
}
