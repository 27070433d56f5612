// Instructions per call, counted by valgrind's callgrind: `npx tsx bench/instructions.ts`.
// A count, not a timing: the same server and load give the same total within
// about 1%, whatever else the machine runs, where CPU time per call moves by
// 30% between rounds on a shared host. It counts work, not time (cache misses
// do not show), and between servers whose GC differs, whether a mark-compact
// falls inside the measured window moves the count by up to 10%. Each server runs
// alone under callgrind (about 50x slower), with instrumentation off through
// start-up and a warm-up, then on for the measured requests.
//
// Needs valgrind (Debian package). Options: --requests N (default 10000),
// --warmup N (default 20000; with 3000, the JIT's compiling made up a third of the count),
// --only id,id (unary scenarios; default grpc-c1,connect-proto-h1),
// --servers name,name (default fastify-floor,ours,ours-passthrough,ours-otel-api,ours-otel-sdk;
// the first is the reference of the ratio column).
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs, promisify } from "node:util";
import { buildEntries, type Entry } from "./build.js";
import { sendRequests } from "./load/send-requests.js";
import { SCENARIOS } from "./scenarios.js";
import { startServer } from "./servers/launch.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string" },
    warmup: { type: "string" },
    only: { type: "string" },
    servers: { type: "string" },
  },
});
const requests = Number(values.requests ?? 10_000);
const warmup = Number(values.warmup ?? 20_000);
const ids = (values.only ?? "grpc-c1,connect-proto-h1").split(",");
const serverNames = (values.servers ?? "fastify-floor,ours,ours-passthrough,ours-otel-api,ours-otel-sdk").split(
  ",",
) as Entry[];
const run = promisify(execFile);

/** callgrind with instrumentation off until `callgrind_control -i on`, writing its counts to `outDir`. */
function callgrind(outDir: string): string[] {
  return [
    "valgrind",
    "--tool=callgrind",
    "--instr-atstart=no",
    // V8 writes and rewrites machine code at run time.
    "--smc-check=all-non-file",
    `--callgrind-out-file=${path.join(outDir, "callgrind.%p")}`,
  ];
}

/** The instructions of every thread, summed over the dump files callgrind wrote. */
async function countedInstructions(outDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(outDir)) {
    const text = await readFile(path.join(outDir, name), "utf8");
    const m = /^summary: (\d+)/m.exec(text);
    if (m) total += Number(m[1]);
  }
  return total;
}

const entries = await buildEntries();
const workDir = await mkdtemp(path.join(os.tmpdir(), "fcr-instructions-"));
try {
  for (const id of ids) {
    const scenario = SCENARIOS.find((s) => s.id === id);
    if (!scenario || scenario.load.tool === "stream" || scenario.load.tool === "bidi") {
      throw new Error(`not a unary scenario: ${id}`);
    }
    const perCall: Record<string, number> = {};
    for (const name of serverNames) {
      const outDir = await mkdtemp(path.join(workDir, `${name}-`));
      const server = await startServer(entries[name], { wrapper: callgrind(outDir), startTimeoutMs: 180_000 });
      try {
        const port = (scenario.http === "h1" ? server.ports.h1 : server.ports.h2) as number;
        // Warm-up: connections, pools, and above all the JIT, whose compiling would otherwise be counted.
        await sendRequests(port, scenario, warmup, workDir);
        await run("callgrind_control", ["-i", "on", String(server.pid)]);
        const done = await sendRequests(port, scenario, requests, workDir);
        if (done < requests) throw new Error(`${name} ${id}: ${requests - done} of ${requests} requests failed`);
        await run("callgrind_control", ["-d", String(server.pid)]);
        perCall[name] = (await countedInstructions(outDir)) / done;
        console.error(`${id} ${name}: ${Math.round(perCall[name])} instructions per call`);
      } finally {
        await server.stop();
      }
    }
    const reference = perCall[serverNames[0]];
    console.log(`\n| ${id} | instructions per call | vs ${serverNames[0]} |\n| --- | ---: | ---: |`);
    for (const name of serverNames) {
      console.log(`| ${name} | ${Math.round(perCall[name])} | ${(perCall[name] / reference).toFixed(3)} |`);
    }
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}
