// The load generator of the streaming scenarios, run in its own process on
// core 0 like h2load and wrk: `concurrency` loops on each of `connections` h2c connections,
// either calling the server-streaming method over and over (counting reply
// messages) or, in one long bidi call each, sending a message and awaiting
// its echo (counting round trips). Prints one JSON LoadResult line.
//
// Messages are checked by length only (the full check, decoding each one, ran
// before the load): decoding 100k messages a second here would make the
// client, not the server, the bottleneck.
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoResponseSchema, payload, requestBinary } from "../service.js";
import { envelope } from "../wire.js";
import { callFailure, connect, PingPong, serverStream } from "./h2-calls.js";
import { MeasureWindow } from "./window.js";

export interface StreamClientArgs {
  mode: "stream" | "bidi";
  port: number;
  /** h2c connections, each carrying `concurrency` loops. */
  connections: number;
  concurrency: number;
  /** Messages per server-streaming call. */
  count: number;
  payloadSize: number;
  warmupSec: number;
  durationSec: number;
}

const args = JSON.parse(process.argv[2]) as StreamClientArgs;
const replyLength = toBinary(
  EchoResponseSchema,
  create(EchoResponseSchema, { payload: payload(args.payloadSize) }),
).byteLength;

async function streamLoop(session: Awaited<ReturnType<typeof connect>>, w: MeasureWindow): Promise<void> {
  const body = envelope(requestBinary(args.payloadSize, args.count));
  while (!w.stopping) {
    const started = performance.now();
    const inWindow = w.measuring;
    let n = 0;
    let wrongLength = 0;
    try {
      const end = await serverStream(session, body, (env) => {
        n++;
        if (env.data.byteLength !== replyLength) wrongLength++;
        w.count();
      });
      const bad = callFailure(end) ?? (wrongLength ? `${wrongLength} replies of the wrong length` : undefined);
      if (bad || n !== args.count) w.fail(bad ?? `${n} of ${args.count} messages`);
      else if (inWindow) w.sample(started);
    } catch (e) {
      w.fail((e as Error).message);
    }
  }
}

async function bidiLoop(session: Awaited<ReturnType<typeof connect>>, w: MeasureWindow): Promise<void> {
  const request = envelope(requestBinary(args.payloadSize));
  const call = new PingPong(session);
  try {
    while (!w.stopping) {
      const started = performance.now();
      const reply = await call.roundTrip(request);
      if (reply.data.byteLength !== replyLength) w.fail("reply of the wrong length");
      else w.record(started);
    }
    const bad = callFailure(await call.finish());
    if (bad) w.fail(bad);
  } catch (e) {
    w.fail((e as Error).message);
  }
}

const sessions = await Promise.all(Array.from({ length: args.connections }, () => connect(args.port)));
const w = new MeasureWindow(args.warmupSec, args.durationSec);
const loop = args.mode === "stream" ? streamLoop : bidiLoop;
const loops = sessions.flatMap((session) => Array.from({ length: args.concurrency }, () => loop(session, w)));
await Promise.all([w.closed, ...loops]);
for (const session of sessions) session.close();
process.stdout.write(`${JSON.stringify(w.result())}\n`);
