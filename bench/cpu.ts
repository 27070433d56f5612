// CPU accounting from /proc, to tell when something outside the benchmark
// (another process on the machine) ran during a measurement: that cell's
// numbers are then unreliable, and the report says so.
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second in /proc/stat and /proc/<pid>/stat; 100 on every Linux that Node supports. */
export const CLOCK_TICKS = 100;

/** user + nice + system time of one core so far, in seconds (interrupt time excluded: loopback traffic lands there). */
export function coreBusySeconds(core: string): number {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${core} `));
  if (!line) return Number.NaN;
  const [user, nice, system] = line.trim().split(/\s+/).slice(1, 4).map(Number);
  return (user + nice + system) / CLOCK_TICKS;
}

interface ProcStat {
  ppid: number;
  /** utime + stime, in seconds. */
  cpu: number;
}

/** pid, parent and CPU time of every process; the comm field may hold spaces, hence the last ')'. */
function readProcesses(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(Number(name), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / CLOCK_TICKS });
  }
  return out;
}

/** CPU time of every process so far, keyed by pid: whether it belongs to the harness's process tree, whether it is a kernel thread. */
export type CpuSnapshot = Map<number, { cpu: number; ours: boolean; kernel: boolean }>;

export function snapshotCpu(harnessPid = process.pid): CpuSnapshot {
  const procs = readProcesses();
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === harnessPid) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  const out: CpuSnapshot = new Map();
  for (const [pid, s] of procs) out.set(pid, { cpu: s.cpu, ours: ours(pid), kernel: pid === 2 || s.ppid === 2 });
  return out;
}

/**
 * CPU seconds that processes outside the harness's tree used between two
 * snapshots. Processes that exited in between are missed; ones that started
 * count in full.
 */
export function foreignCpuSeconds(before: CpuSnapshot, after: CpuSnapshot): number {
  let sum = 0;
  for (const [pid, a] of after) {
    // Kernel threads (children of kthreadd, pid 2) mostly do our own network work (ksoftirqd): not foreign.
    if (a.ours || a.kernel) continue;
    sum += Math.max(0, a.cpu - (before.get(pid)?.cpu ?? 0));
  }
  return sum;
}

/** CPU use by processes outside the benchmark, in % of one core, above which a cell counts as disturbed. */
export const DISTURBED_PERCENT = 5;

/**
 * Waits until processes outside the benchmark have used less than
 * DISTURBED_PERCENT of a core for one second, or `maxSec` have passed.
 * Returns whether the machine went quiet.
 */
export async function waitForQuiet(maxSec: number): Promise<boolean> {
  const deadline = performance.now() + maxSec * 1000;
  while (performance.now() < deadline) {
    const before = snapshotCpu();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const percent = (foreignCpuSeconds(before, snapshotCpu()) / ((performance.now() - t0) / 1000)) * 100;
    if (percent < DISTURBED_PERCENT) return true;
  }
  return false;
}
