// Leak checks for the hostile-server tests: the handles and requests Node
// holds open (sockets, timers, sessions), counted by type, and heap after a
// full GC. Not a test file itself.
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
