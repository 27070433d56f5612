// What the client benchmark's harness tells a worker, and what the worker answers.
import type { LoadResult } from "../load/result.js";
import type { ClientName } from "./registry.js";
import type { ClientScenario } from "./scenarios.js";

export interface WorkerArgs {
  client: ClientName;
  scenario: ClientScenario;
  /** The limit server's port for the scenario's HTTP version. */
  port: number;
  warmupSec: number;
  durationSec: number;
}

export interface WorkerResult extends LoadResult {
  /** The worker's own CPU time over the measured window, in % of one core. */
  clientCpuPercent: number;
}
