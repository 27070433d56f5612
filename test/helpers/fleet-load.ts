// A steady, bounded load through the proxy: unary workers sharing a rate cap, and a few long server
// streams called back to back. Every call is counted; a failed call is kept by its code and message.
// Nothing is retried: a call that fails counts as failed.

import type { Transport as EsTransport } from "@connectrpc/connect";
import { createClient as createConnectEsClient, ConnectError as EsConnectError } from "@connectrpc/connect";
import { ElizaService } from "../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";
import { ConnectError, createClient, type Transport } from "../../lib/client/index.js";

/** A client for the load: this library's or connect-node's, under a name for the report. */
export interface LoadTransport {
  name: string;
  transport: Transport | EsTransport;
  library: "fastify-connectrpc" | "connect-node";
}

/** What a load run made and lost. */
export interface LoadReport {
  unary: { made: number; failed: number; failures: Record<string, number> };
  streams: { made: number; cut: number; failures: Record<string, number> };
}

export interface LoadOptions {
  /** Unary transports; worker i uses unaryTransports[i % length]. */
  unaryTransports: LoadTransport[];
  /** One long-stream loop per entry. */
  streamTransports: LoadTransport[];
  unaryWorkers: number;
  /** Calls per second over all unary workers, at most. */
  maxUnaryPerSecond: number;
  /** The sentences each stream must deliver (the example's introduction has three). */
  streamMessages: number;
  /** Every call's deadline, so that no call can hang the run. */
  timeoutMs: number;
}

function say(t: LoadTransport, sentence: string, timeoutMs: number) {
  if (t.library === "connect-node") {
    return createConnectEsClient(ElizaService, t.transport as EsTransport).say({ sentence }, { timeoutMs });
  }
  return createClient(ElizaService, t.transport as Transport).say({ sentence }, { timeoutMs });
}

function introduce(t: LoadTransport, name: string, timeoutMs: number): AsyncIterable<{ sentence: string }> {
  if (t.library === "connect-node") {
    return createConnectEsClient(ElizaService, t.transport as EsTransport).introduceServer({ name }, { timeoutMs });
  }
  return createClient(ElizaService, t.transport as Transport).introduceServer({ name }, { timeoutMs });
}

function describe(t: LoadTransport, err: unknown): string {
  if (err instanceof ConnectError || err instanceof EsConnectError) return `${t.name}: ${err.code} ${err.message}`;
  return `${t.name}: ${String(err)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the load until `stop` resolves, then lets the calls in flight end and reports. */
export async function runLoad(opts: LoadOptions, stop: Promise<void>): Promise<LoadReport> {
  const report: LoadReport = {
    unary: { made: 0, failed: 0, failures: {} },
    streams: { made: 0, cut: 0, failures: {} },
  };
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const count = (into: Record<string, number>, key: string) => {
    into[key] = (into[key] ?? 0) + 1;
  };
  // Each worker starts a call at most every `interval` ms, so the total stays under the cap.
  const interval = (1000 * opts.unaryWorkers) / opts.maxUnaryPerSecond;
  const unaryWorker = async (i: number) => {
    const t = opts.unaryTransports[i % opts.unaryTransports.length];
    while (!stopped) {
      const started = Date.now();
      report.unary.made++;
      try {
        const res = await say(t, "I feel fine", opts.timeoutMs);
        if (!res.sentence) throw new Error("an empty answer");
      } catch (err) {
        report.unary.failed++;
        count(report.unary.failures, describe(t, err));
      }
      await sleep(Math.max(0, interval - (Date.now() - started)));
    }
  };
  const streamWorker = async (t: LoadTransport) => {
    while (!stopped) {
      report.streams.made++;
      let received = 0;
      try {
        for await (const m of introduce(t, "Ada", opts.timeoutMs)) if (m.sentence) received++;
        if (received !== opts.streamMessages) throw new Error(`${received} of ${opts.streamMessages} messages`);
      } catch (err) {
        report.streams.cut++;
        count(report.streams.failures, describe(t, err));
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: opts.unaryWorkers }, (_, i) => unaryWorker(i)),
    ...opts.streamTransports.map(streamWorker),
  ]);
  return report;
}
