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
import { type CallEnd, connect, PingPong, serverStream } from "./h2-calls.js";
import { type LoadResult, quantile } from "./result.js";

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

// The window is opened and closed by timers, so counting needs no clock read per message.
let measuring = false;
let stopping = false;
let windowStart = 0;
let windowEnd = 0;
let completed = 0;
let errors = 0;
const errorSamples = new Set<string>();
const latencies: number[] = [];

function fail(why: string): void {
  errors++;
  if (errorSamples.size < 3) errorSamples.add(why);
}

function badEnd(end: CallEnd): string | undefined {
  if (end.status !== 200) return `HTTP ${end.status}`;
  if (end.grpcStatus !== "0") return `grpc-status ${end.grpcStatus} ${end.grpcMessage ?? ""}`;
  if (end.leftover !== 0) return "truncated message";
  return undefined;
}

async function streamLoop(session: Awaited<ReturnType<typeof connect>>): Promise<void> {
  const body = envelope(requestBinary(args.payloadSize, args.count));
  while (!stopping) {
    const started = performance.now();
    const inWindow = measuring;
    let n = 0;
    let wrongLength = 0;
    try {
      const end = await serverStream(session, body, (env) => {
        n++;
        if (env.data.byteLength !== replyLength) wrongLength++;
        if (measuring) completed++;
      });
      const bad = badEnd(end) ?? (wrongLength ? `${wrongLength} replies of the wrong length` : undefined);
      if (bad || n !== args.count) fail(bad ?? `${n} of ${args.count} messages`);
      else if (inWindow && measuring) latencies.push(performance.now() - started);
    } catch (e) {
      fail((e as Error).message);
    }
  }
}

async function bidiLoop(session: Awaited<ReturnType<typeof connect>>): Promise<void> {
  const request = envelope(requestBinary(args.payloadSize));
  const call = new PingPong(session);
  try {
    while (!stopping) {
      const started = performance.now();
      const reply = await call.roundTrip(request);
      if (reply.data.byteLength !== replyLength) fail("reply of the wrong length");
      else if (measuring) {
        completed++;
        latencies.push(performance.now() - started);
      }
    }
    const bad = badEnd(await call.finish());
    if (bad) fail(bad);
  } catch (e) {
    fail((e as Error).message);
  }
}

const sessions = await Promise.all(Array.from({ length: args.connections }, () => connect(args.port)));
setTimeout(() => {
  measuring = true;
  windowStart = performance.now();
}, args.warmupSec * 1000);
setTimeout(
  () => {
    measuring = false;
    stopping = true;
    windowEnd = performance.now();
  },
  (args.warmupSec + args.durationSec) * 1000,
);
const loop = args.mode === "stream" ? streamLoop : bidiLoop;
await Promise.all(sessions.flatMap((session) => Array.from({ length: args.concurrency }, () => loop(session))));
for (const session of sessions) session.close();

latencies.sort((a, b) => a - b);
const seconds = (windowEnd - windowStart) / 1000;
const result: LoadResult = {
  throughput: completed / seconds,
  completed,
  p50Ms: quantile(latencies, 0.5),
  p99Ms: quantile(latencies, 0.99),
  errors,
  errorDetail: errors ? `failed calls ${errors}: ${[...errorSamples].join("; ")}` : "",
};
process.stdout.write(`${JSON.stringify(result)}\n`);
