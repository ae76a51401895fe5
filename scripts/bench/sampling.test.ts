import assert from "node:assert/strict";
import { test } from "node:test";
import {
  coreBusyBetween,
  cpuSecondsBetween,
  parseCoreTimes,
  parseProcStat,
  parseStatusKiB,
  readTreeMemory,
} from "./sampling.ts";

test("/proc/<pid>/stat: ppid and utime+stime, whatever the command name holds", () => {
  const stat =
    "4242 (Main Thread) (x)) S 4200 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 11 0 123 456 789";
  assert.deepEqual(parseProcStat(stat), { pid: 4242, ppid: 4200, cpuTicks: 325 });
});

test("/proc/<pid>/status: a kB field, 0 when absent", () => {
  const status = "Name:\tnginx\nVmHWM:\t   20904 kB\nVmRSS:\t   20000 kB\n";
  assert.equal(parseStatusKiB(status, "VmHWM"), 20904);
  assert.equal(parseStatusKiB(status, "VmSwap"), 0);
});

test("CPU between snapshots: new processes count from zero, exited ones are left out", () => {
  const before = new Map([
    [1, 100],
    [2, 50],
  ]);
  const after = new Map([
    [1, 350],
    [3, 20],
  ]);
  assert.equal(cpuSecondsBetween(before, after), 2.7);
});

test("/proc/stat: per-core busy fraction between two readings (idle and iowait are idle)", () => {
  const before = parseCoreTimes(
    "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0 0 0\n",
  );
  const after = parseCoreTimes(
    "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 180 0 120 900 0 0 0 0 0 0\ncpu1 0 0 50 1100 50 0 0 0 0 0\n",
  );
  assert.deepEqual(coreBusyBetween(before, after), { cpu0: 0.5, cpu1: 0.25 });
});

test("tree memory: this process's PSS is read, and never exceeds its RSS", async () => {
  const memory = await readTreeMemory(process.pid);
  assert.ok(memory.pssMiB > 0, "Pss read from smaps_rollup");
  assert.ok(memory.pssMiB <= memory.rssMiB + 0.01, `${memory.pssMiB} > ${memory.rssMiB}`);
  assert.ok(memory.peakRssMiB >= memory.rssMiB);
});
