// h2load (nghttp2) for the unary scenarios over h2c. It reports counts and
// throughput but no percentiles, so latencies come from its per-request log.
import { readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { runPinned } from "../proc.js";
import type { UnaryRequest } from "../scenarios.js";
import { type LoadResult, quantile } from "./result.js";

export interface H2loadOptions {
  port: number;
  request: UnaryRequest;
  clients: number;
  streams: number;
  durationSec: number;
  /** A directory for the body file and the request log. */
  workDir: string;
}

export async function h2load(o: H2loadOptions): Promise<LoadResult> {
  const bodyFile = path.join(o.workDir, "h2load-body.bin");
  const logFile = path.join(o.workDir, "h2load-requests.log");
  await writeFile(bodyFile, o.request.body);
  // h2load appends to its log: without this, every earlier run's requests would count too.
  await rm(logFile, { force: true });
  const headerArgs = Object.entries(o.request.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const { stdout } = await runPinned("h2load", [
    `--clients=${o.clients}`,
    `--max-concurrent-streams=${o.streams}`,
    "--threads=1",
    `--duration=${o.durationSec}`,
    `--data=${bodyFile}`,
    `--log-file=${logFile}`,
    ...headerArgs,
    `http://127.0.0.1:${o.port}${o.request.path}`,
  ]);
  const seconds = num(stdout, /finished in ([\d.]+)(m?s)/, (m) => Number(m[1]) / (m[2] === "ms" ? 1000 : 1));
  const req = stdout.match(
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/,
  );
  const codes = stdout.match(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  if (!req || !codes) throw new Error(`cannot read h2load's output:\n${stdout}`);
  const [, , , done, succeeded, failed, errored, timeout] = req.map(Number);
  const [, , , c4xx, c5xx] = codes.map(Number);
  const latencies = await readLatencies(logFile);
  return {
    throughput: succeeded / seconds,
    completed: succeeded,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    // h2load counts errored streams among the failed ones, timeouts apart.
    errors: failed + timeout,
    errorDetail:
      failed + timeout > 0
        ? `h2load: ${done} done, ${failed} failed (${errored} errored, ${c4xx} 4xx, ${c5xx} 5xx), ${timeout} timeout`
        : "",
  };
}

function num(text: string, re: RegExp, get: (m: RegExpMatchArray) => number): number {
  const m = text.match(re);
  if (!m) throw new Error(`cannot find ${re} in h2load's output:\n${text}`);
  return get(m);
}

/** Request times in ms, ascending. The log has one line per request: start (µs), status, duration (µs). */
async function readLatencies(logFile: string): Promise<Float64Array> {
  const lines = (await readFile(logFile, "utf8")).split("\n");
  const out = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const tab = line.lastIndexOf("\t");
    if (tab > 0) out[n++] = Number(line.slice(tab + 1)) / 1000;
  }
  return out.subarray(0, n).sort();
}
