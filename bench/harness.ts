// What the bench harnesses (run.ts, client/run.ts) share: their common
// options, measuring a cell once the machine is quiet (and again if it was
// disturbed), the command line for the report, and writing the report.
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { DISTURBED_PERCENT, waitForQuiet } from "./cpu.js";

/** How long to wait for other processes to go quiet before each cell. */
const QUIET_WAIT_SEC = 30;

/** The options of every harness, for node:util's parseArgs. */
export const COMMON_OPTIONS = {
  reps: { type: "string" },
  warmup: { type: "string" },
  duration: { type: "string" },
  only: { type: "string" },
  retries: { type: "string" },
  out: { type: "string" },
} as const;

/** A positive integer option, or `fallback` when it was not given. */
export function positive(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

/** How long and how often a harness measures each cell. */
export interface Timing {
  reps: number;
  warmupSec: number;
  durationSec: number;
  /** How often a cell that other processes disturbed is measured again. */
  retries: number;
}

/** The timing options given (COMMON_OPTIONS), with `defaults` for those that were not; --retries defaults to 2. */
export function timingOptions(
  values: { reps?: string; warmup?: string; duration?: string; retries?: string },
  defaults: Omit<Timing, "retries">,
): Timing {
  return {
    reps: positive("reps", values.reps, defaults.reps),
    warmupSec: positive("warmup", values.warmup, defaults.warmupSec),
    durationSec: positive("duration", values.duration, defaults.durationSec),
    retries: retriesOption(values.retries),
  };
}

/** --retries: how often a disturbed cell is measured again; default 2, and 0 is allowed. */
function retriesOption(v: string | undefined): number {
  return v === "0" ? 0 : positive("retries", v, 2);
}

/** The items a comma-separated list names (all of them without a list); an unknown name is an error. */
export function pick<T>(all: T[], key: (t: T) => string, list: string | undefined, what: string): T[] {
  if (list === undefined) return all;
  const wanted = list.split(",").map((x) => x.trim());
  const unknown = wanted.filter((w) => !all.some((t) => key(t) === w));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(", ")}; known: ${all.map(key).join(", ")}`);
  return all.filter((t) => wanted.includes(key(t)));
}

/** How this harness was started, for the report: `npm run <script> -- <args>`. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length ? ` -- ${args.join(" ")}` : ""}`;
}

/** Writes the report to `out` and prints it. */
export async function publish(report: string, out: string): Promise<void> {
  await writeFile(out, report);
  process.stdout.write(`\n${report}`);
  console.error(`wrote ${path.relative(process.cwd(), out)}`);
}

/** What every harness's cells report: whether they were measured, and how busy other processes were meanwhile. */
interface Cell {
  kind: string;
  otherPercent?: number;
}

/**
 * Measures one cell once the machine is quiet (or after QUIET_WAIT_SEC), and
 * again while other processes disturbed it, up to `retries` times; `show`
 * sees every attempt.
 */
export async function measureQuietly<T extends Cell>(
  measure: () => Promise<T>,
  retries: number,
  show: (cell: T) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (!(await waitForQuiet(QUIET_WAIT_SEC))) console.error("warning: the machine is busy with other processes");
    const cell = await measure();
    show(cell);
    if (cell.kind !== "ok" || (cell.otherPercent ?? 0) <= DISTURBED_PERCENT || attempt >= retries) return cell;
    console.error("  disturbed by other processes: measuring again");
  }
}

/** " (0.93 of limit)": a cell's throughput over another's, when that one was measured. */
export function ratioTo(
  c: { load: { throughput: number } },
  base: { kind: string; load?: { throughput: number } } | undefined,
  name: string,
): string {
  return base?.load ? ` (${(c.load.throughput / base.load.throughput).toFixed(2)} of ${name})` : "";
}
