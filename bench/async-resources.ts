// Async resources created per call, by type: `npx tsx bench/async-resources.ts`.
// Each promise, tick and stream object a call creates runs every enabled async
// hook; on Node 20 an AsyncLocalStorage context manager (OpenTelemetry's) is
// one, so this count is what tracing costs a server per call, beyond its spans
// (issue 15), and a measure of the promises and ticks a call makes (issue 17).
// It is a count, not a timing, so a busy machine does not change it.
//
// Options: --requests N (default 20000), --only id,id (unary scenarios; default
// grpc-c1,connect-proto-h1,grpc-web-h1), --servers name,name (default
// limit,fastify-floor,ours).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildEntries, type Entry } from "./build.js";
import { sendRequests } from "./load/send-requests.js";
import { SCENARIOS } from "./scenarios.js";
import { startServer } from "./servers/launch.js";

const { values } = parseArgs({
  options: { requests: { type: "string" }, only: { type: "string" }, servers: { type: "string" } },
});
const requests = Number(values.requests ?? 20_000);
const ids = (values.only ?? "grpc-c1,connect-proto-h1,grpc-web-h1").split(",");
const serverNames = (values.servers ?? "limit,fastify-floor,ours").split(",") as Entry[];
const counter = path.join(path.dirname(fileURLToPath(import.meta.url)), "load", "count-async.mjs");

const entries = await buildEntries();
const workDir = await mkdtemp(path.join(os.tmpdir(), "fcr-async-"));
const countsFile = path.join(workDir, "counts.json");
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --import ${counter}`;
process.env.FCR_ASYNC_COUNTS = countsFile;

async function countsAfterSignal(pid: number): Promise<Record<string, number>> {
  await rm(countsFile, { force: true });
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 100; i++) {
    try {
      return JSON.parse(await readFile(countsFile, "utf8"));
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error("the server wrote no counts");
}

try {
  for (const id of ids) {
    const scenario = SCENARIOS.find((s) => s.id === id);
    if (!scenario || scenario.load.tool === "stream" || scenario.load.tool === "bidi") {
      throw new Error(`not a unary scenario: ${id}`);
    }
    const rows: Record<string, Record<string, number>> = {};
    for (const name of serverNames) {
      const server = await startServer(entries[name]);
      try {
        const port = (scenario.http === "h1" ? server.ports.h1 : server.ports.h2) as number;
        await sendRequests(port, scenario, 2000, workDir); // warm-up: connections, JIT, pools
        await countsAfterSignal(server.pid);
        const done = await sendRequests(port, scenario, requests, workDir);
        if (done < requests) throw new Error(`${name} ${id}: ${requests - done} of ${requests} requests failed`);
        const counts = await countsAfterSignal(server.pid);
        rows[name] = Object.fromEntries(Object.entries(counts).map(([type, c]) => [type, c / done]));
      } finally {
        await server.stop();
      }
    }
    const types = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))].sort();
    console.log(`\n${id}: async resources per call`);
    console.log(["type", ...serverNames].map((c) => c.padStart(16)).join(""));
    for (const type of [...types, "total"]) {
      const cells = serverNames.map((n) => {
        const r = rows[n] ?? {};
        const v = type === "total" ? Object.values(r).reduce((a, b) => a + b, 0) : (r[type] ?? 0);
        return v.toFixed(2).padStart(16);
      });
      console.log(type.padStart(16) + cells.join(""));
    }
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}
