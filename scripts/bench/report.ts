// The results of a run and the Markdown report made from them (pure): one table with, for each
// figure, nginx, HAProxy and Portcullis (median and min–max over the repetitions) and Portcullis as a
// ratio to each peer; the crypto ceiling; the machine, versions, layout and command.
import type { KeyType } from "./certificates.ts";
import { FIGURES, type FigureDefinition } from "./figures.ts";
import type { MachineInfo } from "./machine.ts";
import type { CryptoCeiling } from "./openssl-speed.ts";
import type { BenchOptions } from "./options.ts";
import type { ProbeResult } from "./probe.ts";
import { PROXY_TITLES, type ProxyKind } from "./proxies.ts";
import { type Summary, summarize } from "./stats.ts";

/** One measurement of one proxy in one repetition, as kept in results.json. */
export interface RunRecord {
  rep: number;
  keyType: KeyType;
  measurement: string;
  proxy: ProxyKind;
  figures: Record<string, number>;
  details: Record<string, unknown>;
}

/** Everything a run produced. */
export interface BenchResults {
  startedAt: string;
  command: string;
  options: BenchOptions;
  machine: MachineInfo;
  layout: string[];
  proxies: ProxyKind[];
  /** Figure id → proxy → one value per repetition. */
  samples: Record<string, Partial<Record<ProxyKind, number[]>>>;
  /** What each proxy negotiated and whether it honoured its cookie, per key type. */
  probes: Partial<Record<ProxyKind, Partial<Record<KeyType, ProbeResult>>>>;
  crypto: CryptoCeiling | undefined;
  runs: RunRecord[];
  notes: string[];
  durationSeconds: number;
}

/** Adds one value of a figure for a proxy. */
export function addSample(
  results: BenchResults,
  id: string,
  proxy: ProxyKind,
  value: number,
): void {
  const byProxy = results.samples[id] ?? {};
  results.samples[id] = byProxy;
  const values = byProxy[proxy] ?? [];
  byProxy[proxy] = values;
  values.push(value);
}

/** A number the way the table shows it for `unit`. */
export function formatValue(value: number, unit: FigureDefinition["unit"]): string {
  if (!Number.isFinite(value)) return "—";
  switch (unit) {
    case "ms":
      return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
    case "µs":
      return value >= 100 ? value.toFixed(0) : value.toFixed(1);
    case "%":
      return value >= 99.95 && value < 100 ? "99.9" : value.toFixed(1);
    case "MiB":
      return value.toFixed(0);
    default:
      return value >= 10_000
        ? `${(value / 1000).toFixed(1)}k`
        : Math.round(value).toLocaleString("en-US");
  }
}

function formatSummary(summary: Summary | undefined, unit: FigureDefinition["unit"]): string {
  if (!summary) return "—";
  const median = formatValue(summary.median, unit);
  if (summary.n < 2) return median;
  const min = formatValue(summary.min, unit);
  const max = formatValue(summary.max, unit);
  return min === max ? median : `${median} (${min}–${max})`;
}

/** Portcullis ÷ peer of two medians, "0.52×"; "—" when either is missing or zero. */
export function formatRatio(portcullis: number | undefined, peer: number | undefined): string {
  if (portcullis === undefined || peer === undefined || peer === 0) return "—";
  if (!Number.isFinite(portcullis) || !Number.isFinite(peer)) return "—";
  return `${(portcullis / peer).toFixed(2)}×`;
}

const UNIT_SUFFIX: Record<FigureDefinition["unit"], string> = {
  "req/s": "",
  "conn/s": "",
  ms: " (ms)",
  µs: " (µs)",
  "%": " (%)",
  MiB: " (MiB)",
  "per CPU-s": "",
};

/** The results table (Markdown). */
export function buildResultsTable(results: BenchResults): string {
  const kinds: ProxyKind[] = ["nginx", "haproxy", "portcullis"];
  const lines = [
    "| figure | nginx | HAProxy | Portcullis | Portcullis ÷ nginx | Portcullis ÷ HAProxy |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const figure of FIGURES) {
    const byProxy = results.samples[figure.id];
    if (!byProxy) continue;
    const summaries = Object.fromEntries(
      kinds.map((k) => [k, summarize(byProxy[k] ?? [])]),
    ) as Record<ProxyKind, Summary | undefined>;
    const arrow = { higher: " ↑", lower: " ↓", neither: "" }[figure.better];
    const p = figure.better === "neither" ? undefined : summaries.portcullis?.median;
    lines.push(
      `| ${figure.label}${UNIT_SUFFIX[figure.unit]}${arrow} | ${kinds
        .map((k) => formatSummary(summaries[k], figure.unit))
        .join(" | ")} | ${formatRatio(p, summaries.nginx?.median)} | ${formatRatio(
        p,
        summaries.haproxy?.median,
      )} |`,
    );
  }
  return lines.join("\n");
}

/** Full handshakes per CPU-second the crypto alone allows: 1 signature + X25519 keygen and derive. */
export function handshakeCeiling(signPerSecond: number, x25519PerSecond: number): number {
  return 1 / (1 / signPerSecond + 2 / x25519PerSecond);
}

function cryptoSection(crypto: CryptoCeiling): string {
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  return [
    "| primitive (openssl speed on CPU 0, per CPU-second) | rate |",
    "|---|---:|",
    `| ECDSA P-256 sign / verify | ${n(crypto.ecdsaP256SignPerSecond)} / ${n(crypto.ecdsaP256VerifyPerSecond)} /s |`,
    `| RSA-2048 sign / verify | ${n(crypto.rsa2048SignPerSecond)} / ${n(crypto.rsa2048VerifyPerSecond)} /s |`,
    `| X25519 derive | ${n(crypto.x25519PerSecond)} /s |`,
    `| AES-128-GCM, 16 KiB records | ${(crypto.aes128Gcm16KiBBytesPerSecond / 1e9).toFixed(2)} GB/s |`,
    `| ⇒ full ECDSA handshake, crypto only (1 sign + 2 X25519) | ${n(handshakeCeiling(crypto.ecdsaP256SignPerSecond, crypto.x25519PerSecond))} /s |`,
    `| ⇒ full RSA-2048 handshake, crypto only | ${n(handshakeCeiling(crypto.rsa2048SignPerSecond, crypto.x25519PerSecond))} /s |`,
    `| ⇒ resumed TLS 1.3 handshake (psk_dhe_ke), crypto only (2 X25519) | ${n(crypto.x25519PerSecond / 2)} /s |`,
  ].join("\n");
}

/** The whole report (Markdown). */
export function buildReport(results: BenchResults): string {
  const { machine, options } = results;
  const sections = [
    `# Portcullis data-plane benchmark — ${results.startedAt}`,
    "",
    `${options.reps} repetition(s) × ${options.seconds} s per load run; medians, with (min–max) over the repetitions. ↑ higher is better, ↓ lower is better, no arrow: context, no ratio; a ratio is Portcullis's median ÷ the peer's from this same run (so > 1 is better for ↑ figures, worse for ↓ ones).`,
    "",
    buildResultsTable(results),
  ];
  if (results.crypto) sections.push("", "## Crypto ceiling", "", cryptoSection(results.crypto));
  const probes = results.proxies.map((kind) => {
    const byKey = results.probes[kind] ?? {};
    const negotiated = Object.entries(byKey)
      .map(([keyType, probe]) => `${keyType}: ${probe?.negotiated}`)
      .join("; ");
    const probe = byKey["ecdsa-p256"] ?? byKey["rsa-2048"];
    const cookie =
      probe?.cookie === undefined
        ? "no stickiness (round robin)"
        : `cookie \`${probe.cookie.split("=")[0]}\` sent by every client; ${
            probe.cookieHonoured
              ? "no Set-Cookie in answers with it"
              : "**answers with it still set a cookie**"
          }`;
    return `- ${PROXY_TITLES[kind]}: ${negotiated || "not probed"}; ${cookie}`;
  });
  sections.push(
    "",
    "## Setup",
    "",
    `- Machine: ${machine.cpuModel}, ${machine.cores} CPUs, Linux ${machine.kernel}`,
    `- Versions: ${Object.entries(machine.versions)
      .map(([k, v]) => `${k} ${v.replace(new RegExp(`^${k}[ /]*`, "i"), "")}`)
      .join("; ")}; Portcullis ${machine.portcullis}`,
    ...results.layout.map((l) => `- ${l}`),
    "- Negotiated (probe with the clients' settings) and stickiness:",
    ...probes.map((p) => `  ${p}`),
    `- Command: \`${results.command}\``,
    `- Run time: ${Math.round(results.durationSeconds)} s`,
  );
  if (results.notes.length > 0) {
    sections.push("", "## Notes", "", ...results.notes.map((n) => `- ${n}`));
  }
  return `${sections.join("\n")}\n`;
}
