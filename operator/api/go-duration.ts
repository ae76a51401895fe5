// Go's time.ParseDuration, which cel-go's duration(string) uses: CEL rules must accept and refuse
// exactly the strings the API server does ("0" is a duration there, "s" and "1d" are not), and
// cel-js's own parser differs on such strings.

/** 2^63: the magnitude of the most negative time.Duration, in nanoseconds. */
const LIMIT = 1n << 63n;

/** time.unitMap: nanoseconds per unit; both micro signs (U+00B5 and U+03BC) spell µs. */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n],
  ["\u03bcs", 1_000n],
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/**
 * The duration in nanoseconds, or undefined where Go's time.ParseDuration returns an error: a
 * possibly signed sequence of decimal numbers, each with an optional fraction and a unit
 * ("300ms", "-1.5h", "2h45m"), or a bare "0"; within the range of an int64 of nanoseconds.
 */
export function parseGoDuration(text: string): bigint | undefined {
  // A compile reads the same few duration strings thousands of times (every policy's defaults).
  if (memo.has(text)) return memo.get(text);
  const parsed = parse(text);
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(text, parsed);
  return parsed;
}

/** Parsed durations by text; bounded, since the texts come from user input. */
const memo = new Map<string, bigint | undefined>();
const MEMO_LIMIT = 4096;

function parse(text: string): bigint | undefined {
  let s = text;
  let negative = false;
  if (s[0] === "-" || s[0] === "+") {
    negative = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") return undefined;
  let total = 0n;
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) return undefined;
    // The integer part; Go fails once it passes 2^63.
    let whole = 0n;
    let i = 0;
    for (; isDigit(s[i]); i++) {
      if (whole > LIMIT / 10n) return undefined;
      whole = whole * 10n + BigInt(Number(s[i]));
      if (whole > LIMIT) return undefined;
    }
    const hasWhole = i > 0;
    s = s.slice(i);
    // The fraction; digits past what a uint64 holds are read and ignored.
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (s[0] === ".") {
      s = s.slice(1);
      let overflow = false;
      let j = 0;
      for (; isDigit(s[j]); j++) {
        if (overflow) continue;
        if (fraction > (LIMIT - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const next = fraction * 10n + BigInt(Number(s[j]));
        if (next > LIMIT) {
          overflow = true;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      hasFraction = j > 0;
      s = s.slice(j);
    }
    if (!hasWhole && !hasFraction) return undefined;
    // The unit: everything up to the next digit or period.
    let k = 0;
    while (k < s.length && s[k] !== "." && !isDigit(s[k])) k++;
    if (k === 0) return undefined;
    const unit = UNITS.get(s.slice(0, k));
    s = s.slice(k);
    if (unit === undefined) return undefined;
    if (whole > LIMIT / unit) return undefined;
    let value = whole * unit;
    if (fraction > 0n) {
      // In float64 arithmetic, as Go does it.
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > LIMIT) return undefined;
    }
    total += value;
    if (total > LIMIT) return undefined;
  }
  if (negative) return -total;
  if (total > LIMIT - 1n) return undefined;
  return total;
}
