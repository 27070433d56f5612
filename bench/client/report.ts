// The client benchmark's tables: per scenario and client, the median over
// repetitions of the throughput ratio to the raw client (same repetition), of
// the throughput, latencies and CPU; errors summed.
import { DISTURBED_PERCENT } from "../cpu.js";
import type { Machine } from "../machine.js";
import {
  fmtMs,
  fmtRate,
  fmtRatio,
  median,
  medianRatio,
  problemSections,
  type RunSettings,
  runLines,
  table,
} from "../report.js";
import type { ClientOutcome } from "./measure.js";
import type { ClientScenario } from "./scenarios.js";

/** outcomes[rep][scenarioId][clientName] */
export type ClientOutcomes = Record<string, Record<string, ClientOutcome>>[];

const pct = (x: number) => (Number.isNaN(x) ? "n/a" : `${x.toFixed(0)}%`);

interface Cell {
  /** "-", "FAIL", or the ratio with the throughput. */
  summary: string;
  /** The every-cell row, when measured. */
  row?: string[];
}

function cellOf(outcomes: ClientOutcomes, s: ClientScenario, client: string, notes: Notes): Cell {
  const cells = outcomes.map((rep) => rep[s.id]?.[client]).filter((c) => c !== undefined);
  if (cells.length === 0 || cells.every((c) => c.kind === "na")) return { summary: "-" };
  const failure = cells.find((c) => c.kind === "fail");
  if (failure) {
    notes.failures.push(`- ${s.title}, ${client}: ${failure.reason}`);
    return { summary: "FAIL" };
  }
  const ok = cells.filter((c) => c.kind === "ok");
  const ratio = medianRatio(outcomes, s.id, client, "raw");
  const throughput = median(ok.map((c) => c.load.throughput));
  const errors = ok.reduce((n, c) => n + c.load.errors, 0);
  const other = Math.max(...ok.map((c) => c.otherPercent));
  if (errors)
    notes.errors.push(`- ${s.title}, ${client}: ${errors} errors (${ok.map((c) => c.load.errorDetail).join(" / ")})`);
  if (other > DISTURBED_PERCENT)
    notes.disturbed.push(`- ${s.title}, ${client}: other processes used ${other.toFixed(0)}% of a core`);
  return {
    summary: `${fmtRatio(ratio)} (${fmtRate(throughput)})`,
    row: [
      s.id,
      client,
      fmtRatio(ratio),
      `${fmtRate(throughput)} ${s.unit}`,
      fmtMs(median(ok.map((c) => c.load.p50Ms))),
      fmtMs(median(ok.map((c) => c.load.p99Ms))),
      pct(median(ok.map((c) => c.load.clientCpuPercent))),
      pct(median(ok.map((c) => c.serverCpuPercent))),
      pct(other),
      String(errors),
    ],
  };
}

interface Notes {
  failures: string[];
  errors: string[];
  disturbed: string[];
}

export function renderClientReport(
  scenarios: ClientScenario[],
  clients: string[],
  outcomes: ClientOutcomes,
  machine: Machine,
  settings: RunSettings,
): string {
  const notes: Notes = { failures: [], errors: [], disturbed: [] };
  const summaryRows: string[][] = [];
  const cellRows: string[][] = [];
  for (const s of scenarios) {
    const cells = clients.map((c) => cellOf(outcomes, s, c, notes));
    summaryRows.push([s.title, s.unit, ...cells.map((c) => c.summary)]);
    for (const c of cells) if (c.row) cellRows.push(c.row);
  }
  const header = ["Scenario", "client", "vs raw", "throughput", "p50 ms", "p99 ms", "client CPU", "server CPU"];
  return `${[
    "# Client benchmark results",
    "",
    ...runLines(machine, settings.command),
    `- ${settings.reps} repetition(s); per cell a fresh limit server on core 1 and the client in its own process on core 0 (taskset), ${settings.warmupSec} s warm-up, ${settings.durationSec} s measured; run took ${Math.round(settings.elapsedSec)} s`,
    "- Ratio: the client's throughput over the raw client's (bare node:http2/node:http with @bufbuild/protobuf) in the same repetition, median over repetitions. `-`: the client cannot make that call.",
    "",
    "## Throughput, as a ratio to the raw client (absolute in parentheses)",
    "",
    ...table(["Scenario", "unit", ...clients], summaryRows),
    "",
    "## Every cell",
    "",
    "Latency is per call (unary; closed loop, so it grows with the calls in flight), per whole 10,000-message call (stream), per round trip (bidi). Client CPU: the client process over the measured window, in % of one core; near 100% means the client was the bottleneck, as it should be. Server CPU: the limit server over the client's whole run, warm-up included.",
    "",
    ...table([...header, "other processes", "errors"], cellRows),
    "",
    "Scenario ids (for `--only`):",
    "",
    ...scenarios.map((s) => `- \`${s.id}\`: ${s.title}`),
    ...problemSections(notes.failures, "the clients", notes.errors, notes.disturbed),
  ].join("\n")}\n`;
}
