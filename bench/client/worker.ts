// One client of the client benchmark, run in its own process on the load
// core (compiled, on bare node): makes the scenario's calls with one client
// library against the limit server, warms up, measures, and prints one JSON
// line, a WorkerResult.
import { create } from "@bufbuild/protobuf";
import { MeasureWindow } from "../load/window.js";
import { EchoRequestSchema, payload } from "../service.js";
import type { BenchClient, Target } from "./clients/bench-client.js";
import { connectNodeClient } from "./clients/connect-node.js";
import { grpcJsClient } from "./clients/grpc-js.js";
import { oursClient } from "./clients/ours.js";
import { rawClient } from "./clients/raw.js";
import type { ClientName } from "./registry.js";
import type { ClientScenario } from "./scenarios.js";
import type { WorkerArgs, WorkerResult } from "./worker-args.js";

const MAKERS: Record<ClientName, (t: Target) => Promise<BenchClient>> = {
  raw: rawClient,
  ours: oursClient,
  "connect-node": connectNodeClient,
  "grpc-js": grpcJsClient,
};

const args = JSON.parse(process.argv[2]) as WorkerArgs;
const s: ClientScenario = args.scenario;
const expected = Buffer.from(payload(s.payloadSize));
const req = create(EchoRequestSchema, { payload: expected, count: s.count });

/** The first reply is compared byte for byte, the rest by length (the libraries decoded them all). */
let verified = false;
function echoed(got: Uint8Array): boolean {
  if (verified) return got.byteLength === expected.length;
  verified = Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(expected);
  return verified;
}

async function unaryLoop(client: BenchClient, w: MeasureWindow): Promise<void> {
  while (!w.stopping) {
    const started = performance.now();
    try {
      if (echoed(await client.echo(req))) w.record(started);
      else w.fail("the reply does not echo the payload");
    } catch (e) {
      w.fail((e as Error).message);
    }
  }
}

async function streamLoop(client: BenchClient, w: MeasureWindow): Promise<void> {
  while (!w.stopping) {
    const started = performance.now();
    const inWindow = w.measuring;
    let n = 0;
    let wrong = 0;
    try {
      await client.stream(req, (got) => {
        n++;
        if (echoed(got)) w.count();
        else wrong++;
      });
      if (wrong || n !== s.count) w.fail(`${n} of ${s.count} messages, ${wrong} wrong`);
      else if (inWindow) w.sample(started);
    } catch (e) {
      w.fail((e as Error).message);
    }
  }
}

async function bidiLoop(client: BenchClient, w: MeasureWindow): Promise<void> {
  const call = client.pingPong();
  try {
    while (!w.stopping) {
      const started = performance.now();
      if (echoed(await call.roundTrip(req))) w.record(started);
      else w.fail("the reply does not echo the payload");
    }
    await call.finish();
  } catch (e) {
    w.fail((e as Error).message);
  }
}

const client = await MAKERS[args.client]({ port: args.port, protocol: s.protocol, http: s.http });
const w = new MeasureWindow(args.warmupSec, args.durationSec);
const loop = s.call === "unary" ? unaryLoop : s.call === "stream" ? streamLoop : bidiLoop;
await Promise.all([w.closed, ...Array.from({ length: s.concurrency }, () => loop(client, w))]);
client.close();
const result: WorkerResult = { ...w.result(), clientCpuPercent: w.cpuPercent };
process.stdout.write(`${JSON.stringify(result)}\n`);
// connect-node keeps its HTTP/2 session open for a while: nothing is left to wait for.
process.exit(0);
