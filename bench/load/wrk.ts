// wrk for the unary scenarios over HTTP/1.1, with post.lua sending the body
// and reporting wrk's own numbers (requests, errors, percentiles) as JSON.
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runPinned } from "../proc.js";
import type { UnaryRequest } from "../scenarios.js";
import type { LoadResult } from "./result.js";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "post.lua");

export interface WrkOptions {
  port: number;
  request: UnaryRequest;
  connections: number;
  durationSec: number;
  workDir: string;
}

interface WrkReport {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  connect: number;
  read: number;
  write: number;
  /** Responses with a status of 400 or more. */
  status: number;
  timeout: number;
}

export async function wrk(o: WrkOptions): Promise<LoadResult> {
  const bodyFile = path.join(o.workDir, "wrk-body.bin");
  await writeFile(bodyFile, o.request.body);
  const { stdout } = await runPinned(
    "wrk",
    [
      "--threads=1",
      `--connections=${o.connections}`,
      `--duration=${o.durationSec}s`,
      `--script=${SCRIPT}`,
      `http://127.0.0.1:${o.port}${o.request.path}`,
    ],
    {
      BENCH_BODY_FILE: bodyFile,
      BENCH_HEADERS: Object.entries(o.request.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join("\n"),
    },
  );
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk printed no report:\n${stdout}`);
  const r = JSON.parse(line.slice("BENCH_JSON ".length)) as WrkReport;
  const socketErrors = r.connect + r.read + r.write + r.timeout;
  const ok = r.requests - r.status;
  return {
    throughput: ok / (r.durationUs / 1e6),
    completed: ok,
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
    errors: r.status + socketErrors,
    errorDetail:
      r.status + socketErrors > 0
        ? `wrk: ${r.requests} responses, ${r.status} non-2xx/3xx; socket errors connect ${r.connect}, read ${r.read}, write ${r.write}, timeout ${r.timeout}`
        : "",
  };
}
