// Turning the cells of every repetition into the results tables: per
// scenario and server, the median over repetitions of the throughput ratio to
// the limit server (measured in the same repetition), of the throughput and
// of the latencies; the highest peak RSS; all errors summed.
import { DISTURBED_PERCENT } from "./cpu.js";
import type { Machine } from "./machine.js";
import type { CellOutcome } from "./measure.js";
import type { Scenario } from "./scenarios.js";

/** outcomes[rep][scenarioId][serverName] */
export type Outcomes = Record<string, Record<string, CellOutcome>>[];

export interface RunSettings {
  command: string;
  reps: number;
  warmupSec: number;
  durationSec: number;
  elapsedSec: number;
}

interface Summary {
  kind: "na" | "fail" | "ok";
  reason?: string;
  ratio?: number;
  /** Throughput over fastify-floor's, NaN when it was not run. */
  floorRatio?: number;
  throughput?: number;
  p50Ms?: number;
  p99Ms?: number;
  peakRssMib?: number;
  cpuPercent?: number;
  otherPercent?: number;
  loadCorePercent?: number;
  errors?: number;
  errorDetail?: string;
}

export function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The Fastify server that answers with the limit's code: the ceiling of any Fastify plugin. */
const FLOOR = "fastify-floor";

/** Cells by repetition, row and column; a measured cell has a load result (this and the client benchmark's). */
export type Throughputs = Record<string, Record<string, { kind: string; load?: { throughput: number } }>>[];

/** The median over repetitions of `column`'s throughput over `base`'s in the same repetition. */
export function medianRatio(outcomes: Throughputs, row: string, column: string, base: string): number {
  const ratios = outcomes.map((rep) => {
    const mine = rep[row]?.[column]?.load;
    const other = rep[row]?.[base]?.load;
    return mine && other ? mine.throughput / other.throughput : Number.NaN;
  });
  return median(ratios);
}

function summarize(outcomes: Outcomes, scenario: string, server: string): Summary {
  const cells = outcomes.map((rep) => rep[scenario]?.[server]).filter((c) => c !== undefined);
  if (cells.length === 0 || cells.every((c) => c.kind === "na")) return { kind: "na" };
  const failures = cells.filter((c) => c.kind === "fail");
  if (failures.length > 0) {
    const reps = failures.length === cells.length ? "" : ` (${failures.length} of ${cells.length} repetitions)`;
    return { kind: "fail", reason: `${failures[0].reason}${reps}` };
  }
  const ok = cells.filter((c) => c.kind === "ok");
  const details = ok.map((c) => c.load.errorDetail).filter(Boolean);
  return {
    kind: "ok",
    ratio: medianRatio(outcomes, scenario, server, "limit"),
    floorRatio: medianRatio(outcomes, scenario, server, FLOOR),
    throughput: median(ok.map((c) => c.load.throughput)),
    p50Ms: median(ok.map((c) => c.load.p50Ms)),
    p99Ms: median(ok.map((c) => c.load.p99Ms)),
    peakRssMib: Math.max(...ok.map((c) => c.peakRssMib)),
    cpuPercent: median(ok.map((c) => c.cpuPercent)),
    otherPercent: Math.max(...ok.map((c) => c.otherPercent)),
    loadCorePercent: median(ok.map((c) => c.loadCorePercent)),
    errors: ok.reduce((n, c) => n + c.load.errors, 0),
    errorDetail: details.join(" / "),
  };
}

export const fmtRatio = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(2));
export const fmtMs = (x: number | undefined) =>
  x === undefined || Number.isNaN(x) ? "n/a" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
export function fmtRate(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return "n/a";
  return x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

/** A Markdown table with its columns padded to one width, readable as plain text (and as Biome formats it). */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** The OpenTelemetry variants and the throughput each should keep, as a ratio to "ours" (issue 15's targets). */
const OTEL_TARGETS: Record<string, number> = { "ours+otel-sdk": 0.85, "ours+otel-api": 0.97 };

/**
 * The cost of otelServerInterceptor: each variant's throughput over ours
 * without it, in the same repetition (median over repetitions).
 */
function otelSection(scenarios: Scenario[], servers: string[], outcomes: Outcomes): string[] {
  const variants = servers.filter((s) => s in OTEL_TARGETS);
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const v of variants) {
      const on = summarize(outcomes, s.id, v);
      const off = summarize(outcomes, s.id, "ours");
      if (on.kind !== "ok" || off.kind !== "ok") continue;
      const ratio = medianRatio(outcomes, s.id, v, "ours");
      const target = OTEL_TARGETS[v];
      rows.push([
        s.title,
        v,
        fmtRatio(ratio),
        `>= ${target.toFixed(2)} ${ratio >= target ? "met" : "missed"}`,
        `${fmtRate(on.throughput)} / ${fmtRate(off.throughput)} ${s.unit}`,
        `${fmtMs(on.p50Ms)} / ${fmtMs(off.p50Ms)}`,
      ]);
    }
  }
  if (rows.length === 0) return [];
  return [
    "",
    "## OpenTelemetry: throughput with otelServerInterceptor, as a ratio to ours without it",
    "",
    "`ours+otel-sdk`: the real SDK (2.x: AsyncLocalStorage context, W3C propagators, every span sampled into a BatchSpanProcessor, metrics aggregated) with exporters that drop what they get. `ours+otel-api`: the interceptor with the API alone, no SDK registered. Ratio: over `ours` in the same repetition (median over repetitions).",
    "",
    ...table(["Scenario", "server", "vs ours", "target", "throughput (on / off)", "p50 ms (on / off)"], rows),
  ];
}

export function renderReport(
  scenarios: Scenario[],
  servers: string[],
  outcomes: Outcomes,
  machine: Machine,
  settings: RunSettings,
): string {
  const out: string[] = [];
  const failures: string[] = [];
  const errors: string[] = [];
  const disturbed: string[] = [];
  out.push("# Benchmark results", "", ...runLines(machine, settings.command));
  out.push(
    `- ${settings.reps} repetition(s); per cell a fresh server process, ${settings.warmupSec} s warm-up, ${settings.durationSec} s measured; servers on core 1, load generators on core 0 (taskset); run took ${Math.round(settings.elapsedSec)} s`,
  );
  out.push(
    "- Ratio: the server's throughput over the limit server's in the same repetition (median over repetitions); \"vs floor\" (every-cell table) is the same over `fastify-floor`, Fastify answering with the limit's code, the ceiling of any Fastify plugin. `-`: the server cannot serve that cell; FAIL: it answered the correctness check wrong (see below) and was not measured.",
    "",
  );
  out.push("## Throughput, as a ratio to the limit server (absolute in parentheses)", "");
  const summaryRows: string[][] = [];
  for (const s of scenarios) {
    const cells = servers.map((server) => {
      const sum = summarize(outcomes, s.id, server);
      if (sum.kind === "na") return "-";
      if (sum.kind === "fail") {
        failures.push(`- ${s.title}, ${server}: ${sum.reason}`);
        return "FAIL";
      }
      if (sum.errors) errors.push(`- ${s.title}, ${server}: ${sum.errors} errors (${sum.errorDetail})`);
      if ((sum.otherPercent ?? 0) > DISTURBED_PERCENT) {
        disturbed.push(`- ${s.title}, ${server}: other processes used ${sum.otherPercent?.toFixed(0)}% of a core`);
      }
      return `${fmtRatio(sum.ratio)} (${fmtRate(sum.throughput)})`;
    });
    summaryRows.push([s.title, s.unit, ...cells]);
  }
  out.push(...table(["Scenario", "unit", ...servers], summaryRows));
  out.push("", "## Every cell", "");
  out.push(
    "Latency is per request for h2load and wrk (closed loop, so it grows with the concurrency), per whole 10,000-message call for the server stream, per round trip for bidi. Server CPU is the server process's CPU time over the measured window: near 100% means the server was the bottleneck; well below it, with the load core near 100%, the load generator was (core 0 also carries part of the kernel's loopback work). Other processes: CPU time used during the window by processes outside the benchmark, in % of one core (highest over repetitions); above a few % the cell was disturbed.",
    "",
  );
  const header = [
    "Scenario",
    "server",
    "vs limit",
    "vs floor",
    "throughput",
    "p50 ms",
    "p99 ms",
    "peak RSS MiB",
    "server CPU",
    "load core",
    "other processes",
    "errors",
  ];
  const cellRows: string[][] = [];
  for (const s of scenarios) {
    for (const server of servers) {
      const sum = summarize(outcomes, s.id, server);
      if (sum.kind === "na") continue;
      if (sum.kind === "fail") {
        cellRows.push([s.id, server, "FAIL", ...header.slice(3).map(() => "")]);
        continue;
      }
      cellRows.push([
        s.id,
        server,
        fmtRatio(sum.ratio),
        fmtRatio(sum.floorRatio),
        `${fmtRate(sum.throughput)} ${s.unit}`,
        fmtMs(sum.p50Ms),
        fmtMs(sum.p99Ms),
        sum.peakRssMib?.toFixed(0) ?? "n/a",
        `${sum.cpuPercent?.toFixed(0)}%`,
        `${sum.loadCorePercent?.toFixed(0)}%`,
        `${sum.otherPercent?.toFixed(0)}%`,
        String(sum.errors),
      ]);
    }
  }
  out.push(...table(header, cellRows));
  out.push(...otelSection(scenarios, servers, outcomes));
  out.push("", "Scenario ids (for `--only`):", "");
  for (const s of scenarios) out.push(`- \`${s.id}\`: ${s.title}`);
  out.push(...problemSections(failures, "the load generators", errors, disturbed));
  return `${out.join("\n")}\n`;
}

/** The first lines of a report: when, on what, from which code, with which command. */
export function runLines(machine: Machine, command: string): string[] {
  return [
    `- Date: ${machine.date}`,
    `- Machine: ${machine.cpus} CPUs, ${machine.model}; Node ${machine.node}; ${machine.kernel}`,
    `- Code: ${machine.source}`,
    `- Command: \`${command}\``,
  ];
}

/** The closing sections: cells that failed, errors `reporter` counted, cells other processes disturbed. */
export function problemSections(failures: string[], reporter: string, errors: string[], disturbed: string[]): string[] {
  const listed = (items: string[]) => (items.length ? items : ["None."]);
  return [
    "",
    "## Correctness failures",
    "",
    ...listed(failures),
    "",
    `## Errors reported by ${reporter}`,
    "",
    ...listed(errors),
    "",
    `## Cells disturbed by other processes (over ${DISTURBED_PERCENT}% of a core)`,
    "",
    ...listed(disturbed),
  ];
}
