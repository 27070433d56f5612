import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildEntries } from "../build.js";
import { COMMON_OPTIONS, commandLine, measureQuietly, pick, publish, ratioTo, timingOptions } from "../harness.js";
import { describeMachine } from "../machine.js";
import { pinToLoadCore } from "../proc.js";
import { type ClientOutcome, measureClient } from "./measure.js";
import { CLIENTS } from "./registry.js";
import { type ClientOutcomes, renderClientReport } from "./report.js";
import { CLIENT_SCENARIOS } from "./scenarios.js";

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "CLIENT-RESULTS.md");

const { values } = parseArgs({
  options: {
    ...COMMON_OPTIONS,
    clients: { type: "string" },
  },
});

const { reps, warmupSec, durationSec, retries } = timingOptions(values, { reps: 3, warmupSec: 2, durationSec: 10 });
const scenarios = pick(CLIENT_SCENARIOS, (s) => s.id, values.only, "scenario");
const clients = pick([...CLIENTS], (c) => c.name, values.clients, "client");
// The ratios need the raw client in every repetition.
if (!clients.some((c) => c.name === "raw")) clients.unshift(CLIENTS[0]);

const machine = describeMachine();
pinToLoadCore();
const command = commandLine("bench:client");
const started = performance.now();
const entries = await buildEntries();
const outcomes: ClientOutcomes = [];

function progress(rep: number, scenario: string, client: string, c: ClientOutcome, raw: ClientOutcome | undefined) {
  const where = `[rep ${rep + 1}/${reps}] ${scenario} ${client}`;
  if (c.kind === "na") return;
  if (c.kind === "fail") {
    console.error(`${where}: FAIL ${c.reason}`);
    return;
  }
  const ratio = ratioTo(c, raw, "raw");
  console.error(
    `${where}: ${c.load.throughput.toFixed(0)}/s${ratio}, p50 ${c.load.p50Ms.toFixed(2)} ms, client CPU ${c.load.clientCpuPercent.toFixed(0)}%, ` +
      `server CPU ${c.serverCpuPercent.toFixed(0)}%, others ${c.otherPercent.toFixed(0)}%${c.load.errors ? `, ${c.load.errors} errors` : ""}`,
  );
}

for (let rep = 0; rep < reps; rep++) {
  const byScenario: Record<string, Record<string, ClientOutcome>> = {};
  outcomes.push(byScenario);
  for (const s of scenarios) {
    const row: Record<string, ClientOutcome> = {};
    byScenario[s.id] = row;
    for (const client of clients) {
      if (!client.serves(s)) {
        row[client.name] = { kind: "na" };
        continue;
      }
      const measure = () => measureClient(client.name, s, { warmupSec, durationSec, entries });
      row[client.name] = await measureQuietly(measure, retries, (c) => progress(rep, s.id, client.name, c, row.raw));
    }
  }
}

const report = renderClientReport(
  scenarios,
  clients.map((c) => c.name),
  outcomes,
  machine,
  { command, reps, warmupSec, durationSec, elapsedSec: (performance.now() - started) / 1000 },
);
await publish(report, values.out ?? RESULTS);
