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
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildEntries } from "./build.js";
import { COMMON_OPTIONS, commandLine, measureQuietly, pick, publish, ratioTo, timingOptions } from "./harness.js";
import { describeMachine } from "./machine.js";
import { type CellOutcome, measureCell } from "./measure.js";
import { pinToLoadCore } from "./proc.js";
import { type Outcomes, renderReport } from "./report.js";
import { SCENARIOS } from "./scenarios.js";
import { SERVERS } from "./servers/registry.js";

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "RESULTS.md");

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    ...COMMON_OPTIONS,
    servers: { type: "string" },
  },
});

const { reps, warmupSec, durationSec, retries } = timingOptions(
  values,
  values.quick ? { reps: 1, warmupSec: 1, durationSec: 2 } : { reps: 3, warmupSec: 2, durationSec: 10 },
);
const scenarios = pick(SCENARIOS, (s) => s.id, values.only, "scenario");
const servers = pick(SERVERS, (s) => s.name, values.servers, "server");
// The ratios need the limit server in every repetition.
if (!servers.some((s) => s.name === "limit")) servers.unshift(SERVERS[0]);

// Read before pinning: nproc counts only the CPUs this process may use.
const machine = describeMachine();

// The harness itself idles on the load generators' core, away from the server's.
pinToLoadCore();

const command = commandLine("bench");
const started = performance.now();
const entries = await buildEntries();
const workDir = await mkdtemp(path.join(os.tmpdir(), "fcr-bench-"));
const outcomes: Outcomes = [];

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
        const measure = () =>
          measureCell(server, s, { warmupSec, durationSec, entries, workDir }).catch(
            (e): CellOutcome => ({ kind: "fail", reason: (e as Error).message }),
          );
        row[server.name] = await measureQuietly(measure, retries, (c) => {
          row[server.name] = c;
          progress(rep, s.id, server.name, row);
        });
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
await publish(report, values.out ?? RESULTS);
