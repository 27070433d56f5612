// A fixed number of unary requests from h2load, for the harnesses that measure
// per call (CPU time, async resources, instructions) rather than throughput:
// over HTTP/1.1 on 10 connections, over h2c as 50 streams on one connection.
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { runPinned } from "../proc.js";
import { type Scenario, unaryRequest } from "../scenarios.js";

/** Sends `n` requests of the scenario; returns how many succeeded. */
export async function sendRequests(port: number, scenario: Scenario, n: number, workDir: string): Promise<number> {
  const request = unaryRequest(scenario);
  const body = path.join(workDir, "body.bin");
  await writeFile(body, request.body);
  const { stdout } = await runPinned("h2load", [
    ...(scenario.http === "h1" ? ["--h1", "--clients=10"] : ["--clients=1", "--max-concurrent-streams=50"]),
    "--threads=1",
    `--requests=${n}`,
    `--data=${body}`,
    ...Object.entries(request.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    `http://127.0.0.1:${port}${request.path}`,
  ]);
  return Number(/(\d+) succeeded/.exec(stdout)?.[1] ?? 0);
}
