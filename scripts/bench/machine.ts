// What the report says about the machine and the software: CPU model and cores, kernel, and the
// version of every program in the run.
import { readFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { REPO } from "./portcullis.ts";
import { commandOutput } from "./processes.ts";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  kernel: string;
  versions: Record<string, string>;
  /** The Portcullis sources measured: commit, and whether the tree had changes. */
  portcullis: string;
}

/** "model name : AMD EPYC 7B13" → "AMD EPYC 7B13" (pure). */
export function parseCpuModel(cpuinfo: string): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
  return match ? (match[1] as string).trim() : "unknown";
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

export function collectMachineInfo(): MachineInfo {
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    // Not Linux: "unknown".
  }
  const commit = firstLine(commandOutput("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]));
  const dirty = commandOutput("git", ["-C", REPO, "status", "--porcelain"]).trim() !== "";
  return {
    cpuModel: parseCpuModel(cpuinfo),
    cores: cpus().length,
    kernel: release(),
    versions: {
      nginx: firstLine(commandOutput("nginx", ["-v"])).replace(/^nginx version: /, ""),
      haproxy: firstLine(commandOutput("haproxy", ["-v"])).replace(/ - https.*$/, ""),
      wrk: firstLine(commandOutput("wrk", ["-v"])).replace(/ Copyright.*$/, ""),
      h2load: firstLine(commandOutput("h2load", ["--version"])),
      openssl: firstLine(commandOutput("openssl", ["version"])),
      node: `${process.version} (OpenSSL ${process.versions.openssl})`,
    },
    portcullis: `${commit || "unknown"}${dirty ? " with uncommitted changes" : ""}`,
  };
}
