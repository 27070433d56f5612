// One cell of the client benchmark: a fresh limit server on the server core,
// one client's worker on the load core, what the server and other processes
// used meanwhile.
import type { Entry } from "../build.js";
import { foreignCpuSeconds, snapshotCpu } from "../cpu.js";
import { runNodePinned } from "../proc.js";
import { type RunningServer, startServer } from "../servers/launch.js";
import type { ClientName } from "./registry.js";
import type { ClientScenario } from "./scenarios.js";
import type { WorkerArgs, WorkerResult } from "./worker-args.js";

export type ClientOutcome =
  | { kind: "na" }
  | { kind: "fail"; reason: string }
  | {
      kind: "ok";
      load: WorkerResult;
      /** The server's CPU time over the worker's whole run (warm-up included), in % of one core. */
      serverCpuPercent: number;
      /** CPU time used by processes outside the benchmark during the run, in % of one core: noise. */
      otherPercent: number;
    };

export interface ClientMeasureOptions {
  warmupSec: number;
  durationSec: number;
  entries: Record<Entry, string>;
}

export async function measureClient(
  client: ClientName,
  s: ClientScenario,
  o: ClientMeasureOptions,
): Promise<ClientOutcome> {
  let server: RunningServer;
  try {
    server = await startServer(o.entries.limit);
  } catch (e) {
    return { kind: "fail", reason: (e as Error).message };
  }
  try {
    const port = server.ports[s.http];
    if (port === undefined) return { kind: "fail", reason: `the limit server has no ${s.http} port` };
    const args: WorkerArgs = { client, scenario: s, port, warmupSec: o.warmupSec, durationSec: o.durationSec };
    const cpuBefore = server.cpuSeconds();
    const othersBefore = snapshotCpu();
    const t0 = performance.now();
    const load = await runNodePinned<WorkerResult>(o.entries["client-worker"], args);
    const wallSec = (performance.now() - t0) / 1000;
    const gone = server.exited();
    if (gone) return { kind: "fail", reason: gone };
    return {
      kind: "ok",
      load,
      serverCpuPercent: ((server.cpuSeconds() - cpuBefore) / wallSec) * 100,
      otherPercent: (foreignCpuSeconds(othersBefore, snapshotCpu()) / wallSec) * 100,
    };
  } catch (e) {
    return { kind: "fail", reason: server.exited() ?? `client failed: ${(e as Error).message}` };
  } finally {
    await server.stop();
  }
}
