// Leak checks for the hostile-server tests: the handles and requests Node
// holds open (sockets, timers, sessions), counted by type, and heap after a
// full GC. Not a test file itself.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import * as v8 from "node:v8";
import * as vm from "node:vm";

/** What `process.getActiveResourcesInfo()` reports, counted by type. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r.toString()] = (counts[r.toString()] ?? 0) + 1;
  return counts;
}

/** The types whose count is above `baseline`, with both counts; empty when nothing is left over. */
function excess(baseline: Record<string, number>, now: Record<string, number>): string[] {
  return Object.entries(now)
    .filter(([type, n]) => n > (baseline[type] ?? 0))
    .map(([type, n]) => `${type}: ${n} (was ${baseline[type] ?? 0})`);
}

/**
 * Waits up to `ms` for the active resources to fall back to `baseline`
 * (closing sockets takes a few ticks); returns what is still above it.
 */
export async function leftOver(baseline: Record<string, number>, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const extra = excess(baseline, activeResources());
    if (extra.length === 0 || Date.now() > until) return extra;
    await new Promise((r) => setTimeout(r, 20));
  }
}

let gc: (() => void) | undefined;

/** Heap used after a full garbage collection (V8's gc exposed at run time, no node flag needed). */
export function heapAfterGc(): number {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * How many TCP sockets this process holds open to `port` on 127.0.0.1 (Linux
 * /proc): the client side of connections to a test server. Unlike active
 * handles, unref'd sockets count too, and the server's own sockets do not.
 */
export function socketsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed while listing
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const line of readFileSync("/proc/self/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (cols.length > 9 && cols[2]?.endsWith(`:${hexPort}`) && inodes.has(cols[9] ?? "")) n++;
  }
  return n;
}
