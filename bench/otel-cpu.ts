// The CPU cost of otelServerInterceptor per call: `npx tsx bench/otel-cpu.ts`.
// Each server (ours, ours+passthrough, ours+otel-sdk, ours+otel-api) answers a fixed number of
// requests from h2load (gRPC unary) and wrk is not needed: the server's CPU
// time from /proc over the run, divided by the requests, is its cost per
// call. On a shared machine this holds up better than throughput, which
// drops whenever other processes take the server's core; the servers take
// turns so that a drift of the machine hits all of them alike.
//
// Options: --requests N (default 40000), --rounds N (default 3), --only id,id
// (grpc-c1, connect-proto-h2).
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { buildEntries, type Entry } from "./build.js";
import { sendRequests } from "./load/send-requests.js";
import { median } from "./report.js";
import { SCENARIOS, type Scenario } from "./scenarios.js";
import { startServer } from "./servers/launch.js";

const { values } = parseArgs({
  options: { requests: { type: "string" }, rounds: { type: "string" }, only: { type: "string" } },
});
const requests = Number(values.requests ?? 40_000);
const rounds = Number(values.rounds ?? 3);
const ids = (values.only ?? "grpc-c1,connect-proto-h2").split(",");
const servers: { name: string; entry: Entry }[] = [
  { name: "ours", entry: "ours" },
  { name: "ours+passthrough", entry: "ours-passthrough" },
  { name: "ours+sdk-context", entry: "ours-sdk-context" },
  { name: "ours+otel-sdk", entry: "ours-otel-sdk" },
  { name: "ours+otel-api", entry: "ours-otel-api" },
];

/** Sends the requests; a few failures are reported and left out of the count, many end the run. */
async function h2load(port: number, scenario: Scenario, n: number, workDir: string): Promise<number> {
  const ok = await sendRequests(port, scenario, n, workDir);
  if (ok < n / 2) throw new Error(`h2load: ${ok} of ${n} requests succeeded`);
  if (ok < n) console.error(`  h2load: ${n - ok} of ${n} requests failed (counted: the ${ok} that succeeded)`);
  return ok;
}

const entries = await buildEntries();
const workDir = await mkdtemp(path.join(os.tmpdir(), "fcr-otel-cpu-"));
const perCall: Record<string, Record<string, number[]>> = {};
try {
  for (let round = 0; round < rounds; round++) {
    for (const id of ids) {
      const scenario = SCENARIOS.find((s) => s.id === id);
      if (!scenario) throw new Error(`unknown scenario ${id}`);
      for (const server of servers) {
        const running = await startServer(entries[server.entry]);
        try {
          const port = running.ports.h2 as number;
          await h2load(port, scenario, Math.ceil(requests / 4), workDir); // warm-up
          const before = running.cpuSeconds();
          const done = await h2load(port, scenario, requests, workDir);
          const us = ((running.cpuSeconds() - before) / done) * 1e6;
          ((perCall[id] ??= {})[server.name] ??= []).push(us);
          console.error(`[round ${round + 1}/${rounds}] ${id} ${server.name}: ${us.toFixed(1)} us CPU per call`);
        } finally {
          await running.stop();
        }
      }
    }
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

const lines = [
  `| Scenario | server | CPU per call (us, median of ${rounds}) | CPU-bound throughput vs ours |`,
  "| --- | --- | --- | --- |",
];
for (const id of ids) {
  const off = median(perCall[id].ours);
  for (const server of servers) {
    const us = median(perCall[id][server.name]);
    lines.push(`| ${id} | ${server.name} | ${us.toFixed(1)} | ${(off / us).toFixed(2)} |`);
  }
}
console.log(lines.join("\n"));
