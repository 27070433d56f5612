// The benchmark harness: `npm run bench` (3 repetitions, 2 s warm-up, 10 s
// per cell) or `npm run bench -- --quick` (1 repetition, 1 s + 2 s). Servers
// run one at a time, each in its own process; within a repetition every
// scenario runs the servers of servers/registry.ts in turn (limit,
// fastify-floor, ours, ...), so that a slow drift of the machine affects all
// of them alike. Writes bench/RESULTS.md and
// prints the same report.
//
// Options: --quick, --reps N, --warmup S, --duration S,
//   --only id,id (scenario ids, see scenarios.ts), --servers name,name,
//   --retries N (re-measure a cell that other processes disturbed; default 2),
//   --out FILE (write the report there instead of bench/RESULTS.md).
//
// The machine may be shared: a cell during which processes outside the
// benchmark used CPU is measured again once the machine is quiet (up to
// --retries times); one still disturbed is flagged in the report.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildEntries } from "./build.js";
import { DISTURBED_PERCENT, waitForQuiet } from "./cpu.js";
import { describeMachine } from "./machine.js";
import { type CellOutcome, measureCell } from "./measure.js";
import { LOAD_CORE } from "./proc.js";
import { type Outcomes, renderReport } from "./report.js";
import { SCENARIOS } from "./scenarios.js";
import { SERVERS } from "./servers/registry.js";

/** How long to wait for other processes to go quiet before each cell. */
const QUIET_WAIT_SEC = 30;

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "RESULTS.md");

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    warmup: { type: "string" },
    duration: { type: "string" },
    only: { type: "string" },
    servers: { type: "string" },
    retries: { type: "string" },
    out: { type: "string" },
  },
});

function positive(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

function pick<T>(all: T[], key: (t: T) => string, list: string | undefined, what: string): T[] {
  if (list === undefined) return all;
  const wanted = list.split(",").map((x) => x.trim());
  const unknown = wanted.filter((w) => !all.some((t) => key(t) === w));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(", ")}; known: ${all.map(key).join(", ")}`);
  return all.filter((t) => wanted.includes(key(t)));
}

const reps = positive("reps", values.reps, values.quick ? 1 : 3);
const warmupSec = positive("warmup", values.warmup, values.quick ? 1 : 2);
const durationSec = positive("duration", values.duration, values.quick ? 2 : 10);
const retries = values.retries === "0" ? 0 : positive("retries", values.retries, 2);
const scenarios = pick(SCENARIOS, (s) => s.id, values.only, "scenario");
const servers = pick(SERVERS, (s) => s.name, values.servers, "server");
// The ratios need the limit server in every repetition.
if (!servers.some((s) => s.name === "limit")) servers.unshift(SERVERS[0]);

// Read before pinning: nproc counts only the CPUs this process may use.
const machine = describeMachine();

// The harness itself idles on the load generators' core, away from the server's.
try {
  execFileSync("taskset", ["-a", "-cp", LOAD_CORE, String(process.pid)], { stdio: "ignore" });
} catch {
  console.error("warning: could not pin the harness to the load core");
}

const cliArgs = process.argv.slice(2);
const command = `npm run bench${cliArgs.length ? ` -- ${cliArgs.join(" ")}` : ""}`;
const started = performance.now();
const entries = await buildEntries();
const workDir = await mkdtemp(path.join(os.tmpdir(), "fcr-bench-"));
const outcomes: Outcomes = [];

/** " (0.93 of limit)": the cell's throughput over another server's, when that one was measured. */
function ratioTo(c: CellOutcome & { kind: "ok" }, base: CellOutcome | undefined, name: string): string {
  return base?.kind === "ok" ? ` (${(c.load.throughput / base.load.throughput).toFixed(2)} of ${name})` : "";
}

function progress(rep: number, scenario: string, server: string, row: Record<string, CellOutcome>) {
  const where = `[rep ${rep + 1}/${reps}] ${scenario} ${server}`;
  const c = row[server];
  if (c.kind === "na") return;
  if (c.kind === "fail") {
    console.error(`${where}: FAIL ${c.reason}`);
    return;
  }
  const ratio = ratioTo(c, row.limit, "limit") + ratioTo(c, row["fastify-floor"], "floor");
  console.error(
    `${where}: ${c.load.throughput.toFixed(0)}/s${ratio}, p50 ${c.load.p50Ms.toFixed(2)} ms, p99 ${c.load.p99Ms.toFixed(2)} ms, ` +
      `RSS ${c.peakRssMib.toFixed(0)} MiB, CPU ${c.cpuPercent.toFixed(0)}% (load core ${c.loadCorePercent.toFixed(0)}%, others ${c.otherPercent.toFixed(0)}%)` +
      `${c.load.errors ? `, ${c.load.errors} errors` : ""}`,
  );
}

try {
  for (let rep = 0; rep < reps; rep++) {
    const byScenario: Record<string, Record<string, CellOutcome>> = {};
    outcomes.push(byScenario);
    for (const s of scenarios) {
      const row: Record<string, CellOutcome> = {};
      byScenario[s.id] = row;
      for (const server of servers) {
        for (let attempt = 0; ; attempt++) {
          if (!(await waitForQuiet(QUIET_WAIT_SEC))) console.error("warning: the machine is busy with other processes");
          try {
            row[server.name] = await measureCell(server, s, { warmupSec, durationSec, entries, workDir });
          } catch (e) {
            row[server.name] = { kind: "fail", reason: (e as Error).message };
          }
          progress(rep, s.id, server.name, row);
          const c = row[server.name];
          if (c.kind !== "ok" || c.otherPercent <= DISTURBED_PERCENT || attempt >= retries) break;
          console.error("  disturbed by other processes: measuring again");
        }
      }
    }
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

const report = renderReport(
  scenarios,
  servers.map((s) => s.name),
  outcomes,
  machine,
  { command, reps, warmupSec, durationSec, elapsedSec: (performance.now() - started) / 1000 },
);
const out = values.out ?? RESULTS;
await writeFile(out, report);
process.stdout.write(`\n${report}`);
console.error(`wrote ${path.relative(process.cwd(), out)}`);
