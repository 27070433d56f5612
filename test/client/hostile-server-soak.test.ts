// The client against a hostile server, part 3: 10,000 calls that the server
// kills at random points (a seeded PRNG, so a failure can be replayed):
// refused streams, RST_STREAM before and after the head and mid-message,
// graceful and fatal GOAWAY, TCP resets, responses held past the deadline,
// missing trailers. Every call must end (answered, or a ConnectError), the
// pool must keep no more sessions than the load needs, and memory after GC
// must stay flat once warmed up.
import * as http2 from "node:http2";
import t from "tap";
import {
  Code,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
} from "../../lib/client/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type EchoH2Server, startEchoH2Server } from "../helpers/echo-h2-server.js";
import { echoBytes, envelope } from "../helpers/raw-http.js";
import { activeResources, heapAfterGc, leftOver, socketsTo } from "../helpers/resources.js";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR } =
  http2.constants;
const CALLS = 10_000;
const CONCURRENCY = 50;
const TIMEOUT_MS = 300;
const SEED = 0x16a;

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const message = envelope(0, echoBytes({ text: "m" }));

/** RST_STREAM without END_STREAM first (Node's close() ends a writable stream before resetting it). */
function reset(stream: http2.ServerHttp2Stream, code: number): void {
  stream.end = (() => stream) as typeof stream.end;
  stream.close(code);
}

/** What the server does to one stream, with the weight of each way; the rest are answered. */
function hostilePolicy(server: EchoH2Server, random: () => number, seen: Map<string, number>) {
  const ways: [string, number, (s: http2.ServerHttp2Stream, id: number, answer: () => void) => void][] = [
    ["refused", 0.05, (s) => s.close(NGHTTP2_REFUSED_STREAM)],
    ["rst before head", 0.05, (s) => reset(s, NGHTTP2_CANCEL)],
    [
      "rst after head",
      0.05,
      (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc+proto" });
        reset(s, NGHTTP2_INTERNAL_ERROR);
      },
    ],
    [
      "rst mid-message",
      0.05,
      (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc+proto" });
        s.write(message.subarray(0, 3), () => reset(s, NGHTTP2_CANCEL));
      },
    ],
    [
      "graceful goaway",
      0.02,
      (s, id, answer) => {
        s.session?.goaway(NGHTTP2_NO_ERROR, id);
        answer();
      },
    ],
    ["fatal goaway", 0.002, (s) => s.session?.goaway(NGHTTP2_PROTOCOL_ERROR)],
    [
      "tcp reset",
      0.002,
      (s) => server.sockets[server.sessions.indexOf(s.session as http2.ServerHttp2Session)]?.resetAndDestroy(),
    ],
    ["held past the deadline", 0.01, () => {}],
    [
      "no trailers",
      0.03,
      (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc+proto" });
        s.end(message);
      },
    ],
  ];
  server.policy = (stream, s, answer) => {
    let r = random();
    for (const [name, weight, act] of ways) {
      if (r < weight) {
        seen.set(name, (seen.get(name) ?? 0) + 1);
        return act(stream, s.id, answer);
      }
      r -= weight;
    }
    seen.set("answered", (seen.get("answered") ?? 0) + 1);
    answer();
  };
}

t.test(
  `${CALLS} calls killed at random points: every call ends, the pool stays small, memory stays flat`,
  async (t) => {
    const server = await startEchoH2Server();
    const baseline = activeResources();
    /** The client's connections, as the process holds them (the server keeps some of its own after GOAWAY). */
    const clientSockets = () => socketsTo(server.port);
    const heapStart = heapAfterGc();
    const serverSide = new Map<string, number>();
    hostilePolicy(server, prng(SEED), serverSide);
    const transports = [
      createGrpcTransport({ baseUrl: server.url }),
      createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
    ];
    const clients = transports.map((tr) => createClient(TestService, tr));
    const outcomes = new Map<string, number>();
    const strays: unknown[] = [];
    let peakOpenSessions = 0;
    let heapWarm = 0;
    let next = 0;
    const started = Date.now();
    const one = async (i: number) => {
      const client = clients[i % 2] as (typeof clients)[0];
      try {
        if (i % 3 === 0) {
          for await (const _ of client.serverStream({ text: "s", count: 2 }, { timeoutMs: TIMEOUT_MS }));
        } else await client.unary({ text: "u" }, { timeoutMs: TIMEOUT_MS });
        outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
      } catch (e) {
        if (!(e instanceof ConnectError)) strays.push(e);
        else {
          outcomes.set(Code[e.code], (outcomes.get(Code[e.code]) ?? 0) + 1);
        }
      }
    };
    const worker = async () => {
      for (let i = next++; i < CALLS; i = next++) {
        await one(i);
        if (i === 2000) heapWarm = heapAfterGc();
        if (i % 100 === 0) peakOpenSessions = Math.max(peakOpenSessions, clientSockets());
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = Date.now() - started;
    const heapEnd = heapAfterGc();
    const ended = [...outcomes.values()].reduce((a, b) => a + b, 0);
    t.equal(strays.length, 0, `every failure is a ConnectError${strays.length ? `: ${String(strays[0])}` : ""}`);
    t.equal(ended, CALLS, `all ${CALLS} calls ended in ${elapsed} ms: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    t.comment(
      `server did: ${JSON.stringify(Object.fromEntries(serverSide))}; ${server.sessions.length} sessions in all`,
    );
    t.ok(elapsed < 30_000, `under 30 s (${elapsed} ms)`);
    t.ok((outcomes.get("ok") ?? 0) > CALLS * 0.6, "most calls succeeded (refused ones were retried)");
    await new Promise((r) => setTimeout(r, 100));
    const openNow = clientSockets();
    t.ok(openNow <= 2, `the client holds ${openNow} connections after the run: one per transport at most`);
    t.ok(
      peakOpenSessions <= 16,
      `the client held at most ${peakOpenSessions} connections at once for ${CONCURRENCY} concurrent calls`,
    );
    const growth = heapEnd - heapWarm;
    t.ok(
      growth < 8 * 1024 * 1024,
      `heap after gc: ${(heapStart / 1048576).toFixed(1)} MiB at start, ${(heapWarm / 1048576).toFixed(1)} after 2,000 calls, ${(heapEnd / 1048576).toFixed(1)} after ${CALLS} (growth ${(growth / 1048576).toFixed(2)} MiB); rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
    );
    for (const tr of transports) tr.close();
    await server.close();
    t.same(await leftOver(baseline), [], "no active resources above the baseline after close");
  },
);
