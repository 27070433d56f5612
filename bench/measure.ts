// One cell of one repetition: start the server, check its answer, warm it
// up, measure, read its peak RSS and CPU time, stop it. A fresh process per
// cell keeps cells independent (VmHWM is a high-water mark for the process's
// whole life, and one cell's garbage must not slow the next).
import type { Entry } from "./build.js";
import { check } from "./check.js";
import { coreBusySeconds, foreignCpuSeconds, snapshotCpu } from "./cpu.js";
import { h2load } from "./load/h2load.js";
import type { LoadResult } from "./load/result.js";
import { streamClient } from "./load/stream.js";
import { wrk } from "./load/wrk.js";
import { LOAD_CORE } from "./proc.js";
import { type Scenario, unaryRequest } from "./scenarios.js";
import { startServer } from "./servers/launch.js";
import type { ServerSpec } from "./servers/registry.js";

export type CellOutcome =
  | { kind: "na" }
  | { kind: "fail"; reason: string }
  | {
      kind: "ok";
      load: LoadResult;
      peakRssMib: number;
      /** The server's CPU time over the measured window, in % of one core. */
      cpuPercent: number;
      /** CPU time used by processes outside the benchmark during the window, in % of one core: noise. */
      otherPercent: number;
      /** How busy the load generator's core was, in %: near 100 with a server below 100 means the client was the bottleneck. */
      loadCorePercent: number;
    };

export interface MeasureOptions {
  warmupSec: number;
  durationSec: number;
  /** Compiled entry points (bench/build.ts). */
  entries: Record<Entry, string>;
  workDir: string;
}

export async function measureCell(server: ServerSpec, s: Scenario, o: MeasureOptions): Promise<CellOutcome> {
  if (!server.serves(s)) return { kind: "na" };
  const running = await startServer(o.entries[server.entry]);
  try {
    const port = running.ports[s.http];
    if (port === undefined) return { kind: "fail", reason: `the server has no ${s.http} port` };
    const wrong = await check(s, port);
    if (wrong) return { kind: "fail", reason: wrong };
    try {
      await runLoad(s, port, o.warmupSec, o); // warm-up: JIT, pools, connection set-up; discarded
      const cpuBefore = running.cpuSeconds();
      const othersBefore = snapshotCpu();
      const loadCoreBefore = coreBusySeconds(LOAD_CORE);
      const t0 = performance.now();
      const load = await runLoad(s, port, o.durationSec, o);
      const wallSec = (performance.now() - t0) / 1000;
      const cpuSec = running.cpuSeconds() - cpuBefore;
      const otherSec = foreignCpuSeconds(othersBefore, snapshotCpu());
      const loadCoreSec = coreBusySeconds(LOAD_CORE) - loadCoreBefore;
      const gone = running.exited();
      if (gone) return { kind: "fail", reason: gone };
      return {
        kind: "ok",
        load,
        peakRssMib: running.peakRssKib() / 1024,
        cpuPercent: (cpuSec / wallSec) * 100,
        otherPercent: (otherSec / wallSec) * 100,
        loadCorePercent: (loadCoreSec / wallSec) * 100,
      };
    } catch (e) {
      return { kind: "fail", reason: running.exited() ?? `load generator failed: ${(e as Error).message}` };
    }
  } finally {
    await running.stop();
  }
}

function runLoad(s: Scenario, port: number, durationSec: number, o: MeasureOptions): Promise<LoadResult> {
  const l = s.load;
  switch (l.tool) {
    case "h2load":
      return h2load({
        port,
        request: unaryRequest(s),
        clients: l.clients,
        streams: l.streams,
        durationSec,
        workDir: o.workDir,
      });
    case "wrk":
      return wrk({ port, request: unaryRequest(s), connections: l.connections, durationSec, workDir: o.workDir });
    case "stream":
    case "bidi":
      return streamClient(o.entries["stream-client"], {
        mode: l.tool,
        port,
        connections: l.connections,
        concurrency: l.concurrency,
        count: l.tool === "stream" ? l.count : 0,
        payloadSize: s.payloadSize,
        warmupSec: 0,
        durationSec,
      });
  }
}
