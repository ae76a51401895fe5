// CPU time and memory of a proxy, from /proc: the root process and every descendant (nginx's master
// and worker, Portcullis's supervisor and worker), so a proxy that splits its work over processes is
// charged for all of it. CPU is utime + stime (all threads) sampled before and after a run; memory is
// VmHWM, the peak resident set, summed over the processes, and the proportional set (Pss) after the
// runs: summed resident sets count a page that several processes share (the node binary a supervisor
// and its workers map) once per process, while a container's memory accounting counts it once.
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux everywhere in practice). */
export const CLOCK_TICKS = 100;

/** The fields of /proc/<pid>/stat used here. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** User + system CPU time, clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  const pid = Number(text.slice(0, text.indexOf(" ")));
  // After ") ": state(3) ppid(4) … utime(14) stime(15): index 0 here is field 3.
  const fields = text.slice(close + 2).split(" ");
  return {
    pid,
    ppid: Number(fields[1]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

/** A /proc/<pid>/status field in kB (VmHWM, VmRSS), or 0 when absent (a kernel thread, a zombie). */
export function parseStatusKiB(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** `root` and all its living descendants. */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(stat.pid);
    children.set(stat.ppid, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU ticks per pid of a process tree at one instant. */
export type CpuSnapshot = Map<number, number>;

export async function snapshotCpu(pids: readonly number[]): Promise<CpuSnapshot> {
  const snapshot: CpuSnapshot = new Map();
  for (const pid of pids) {
    const stat = await readStat(pid);
    if (stat) snapshot.set(pid, stat.cpuTicks);
  }
  return snapshot;
}

/** CPU seconds each process spent between two snapshots (pure), by pid. */
export function cpuSecondsByPid(before: CpuSnapshot, after: CpuSnapshot): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const [pid, now] of after) byPid.set(pid, (now - (before.get(pid) ?? 0)) / CLOCK_TICKS);
  return byPid;
}

/**
 * CPU seconds spent between two snapshots (pure). A process only in `after` started in between and
 * counts from zero; one only in `before` exited and its last interval is lost (reported as is).
 */
export function cpuSecondsBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let ticks = 0;
  for (const [pid, now] of after) ticks += now - (before.get(pid) ?? 0);
  return ticks / CLOCK_TICKS;
}

/** Busy and total jiffies of each CPU, from /proc/stat. */
export type CoreTimes = Map<string, { busy: number; total: number }>;

/** Parses the per-CPU lines of /proc/stat ("cpu0 user nice system idle iowait irq softirq steal …"). */
export function parseCoreTimes(text: string): CoreTimes {
  const times: CoreTimes = new Map();
  for (const line of text.split("\n")) {
    const match = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const values = (match[2] as string).split(/\s+/).map(Number);
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    times.set(match[1] as string, { busy: total - idle, total });
  }
  return times;
}

export async function readCoreTimes(): Promise<CoreTimes> {
  return parseCoreTimes(await readFile("/proc/stat", "utf8"));
}

/** The busy fraction (0–1) of each CPU between two readings (pure). */
export function coreBusyBetween(before: CoreTimes, after: CoreTimes): Record<string, number> {
  const busy: Record<string, number> = {};
  for (const [cpu, now] of after) {
    const then = before.get(cpu);
    if (!then || now.total === then.total) continue;
    busy[cpu] = (now.busy - then.busy) / (now.total - then.total);
  }
  return busy;
}

/** Summed memory of a process tree, MiB. */
export interface TreeMemory {
  /** Peak resident set (VmHWM) summed over processes. */
  peakRssMiB: number;
  /** Current resident set (VmRSS) summed. */
  rssMiB: number;
  /** Current proportional set size (Pss from smaps_rollup) summed: shared pages counted once. */
  pssMiB: number;
  /** Each process: pid, command name, its own peak RSS (MiB). */
  processes: { pid: number; name: string; peakRssMiB: number }[];
}

export async function readTreeMemory(root: number): Promise<TreeMemory> {
  let hwm = 0;
  let rss = 0;
  let pss = 0;
  const processes: TreeMemory["processes"] = [];
  for (const pid of await processTree(root)) {
    try {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const own = parseStatusKiB(status, "VmHWM");
      hwm += own;
      rss += parseStatusKiB(status, "VmRSS");
      pss += parseStatusKiB(await readFile(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "?";
      processes.push({ pid, name, peakRssMiB: Math.round((own / 1024) * 10) / 10 });
    } catch {
      // Exited meanwhile.
    }
  }
  return { peakRssMiB: hwm / 1024, rssMiB: rss / 1024, pssMiB: pss / 1024, processes };
}

/** What happened on the machine while a load ran against a proxy. */
export interface RunUsage {
  wallSeconds: number;
  /** CPU seconds of the proxy's process tree. */
  proxyCpuSeconds: number;
  /** Busy fraction of each core (e.g. { cpu0: 0.98, cpu1: 0.71 }), whoever used it. */
  coreBusy: Record<string, number>;
  /** The proxy's CPU seconds per process ("pid command…"). */
  byProcess: Record<string, number>;
}

/** A short label for a process: pid and the start of its command line. */
async function describeProcess(pid: number): Promise<string> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ").trim();
    return `${pid} ${cmdline.replace(/\S*\//g, "").slice(0, 60)}`;
  } catch {
    return String(pid);
  }
}

/** Runs `load` while sampling the proxy tree under `root` and the cores; returns both. */
export async function withUsage<T>(
  root: number,
  load: () => Promise<T>,
): Promise<{ result: T; usage: RunUsage }> {
  const pids = await processTree(root);
  const cpuBefore = await snapshotCpu(pids);
  const coresBefore = await readCoreTimes();
  const started = performance.now();
  const result = await load();
  const wallSeconds = (performance.now() - started) / 1000;
  const coresAfter = await readCoreTimes();
  const cpuAfter = await snapshotCpu(await processTree(root));
  const byProcess: Record<string, number> = {};
  for (const [pid, seconds] of cpuSecondsByPid(cpuBefore, cpuAfter)) {
    byProcess[await describeProcess(pid)] = seconds;
  }
  return {
    result,
    usage: {
      wallSeconds,
      proxyCpuSeconds: cpuSecondsBetween(cpuBefore, cpuAfter),
      coreBusy: coreBusyBetween(coresBefore, coresAfter),
      byProcess,
    },
  };
}
