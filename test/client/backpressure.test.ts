// Flow control end to end: a client that reads a 100 MB server stream slowly
// holds the server back (it produces only what fits in the windows and
// buffers), and a server that reads a client stream slowly holds the client's
// request iterable back. Memory stays far below the stream's size. Over h2c
// (gRPC, Connect) and HTTP/1.1 (Connect, gRPC-Web).
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t, { type Test } from "tap";
import {
  Code,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import type { HandlerContext } from "../../lib/index.js";
import { type EchoRequest, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const MESSAGES = 100_000;
// Random bytes, and no compression offered (below): every message really is 1 KiB on the wire.
const PAYLOAD = new Uint8Array(randomBytes(1024));
/** The payload bytes of the whole stream: 100,000 messages of 1 KiB. */
const STREAM_BYTES = MESSAGES * PAYLOAD.byteLength;
/**
 * What a slow reader may let the server get ahead by: the HTTP/2 stream
 * window (1 MiB), or the loopback TCP buffers on HTTP/1.1 (a few MiB), plus
 * the stream buffers on both sides. A tenth of the stream is far above that,
 * and far below a server that ignores backpressure.
 */
const MAX_AHEAD = MESSAGES / 10;
/**
 * Memory the process (client and server both) may hold on to while the reader
 * pauses: a sixth of the stream, several times what the windows and buffers allow.
 */
const MAX_GROWTH_BYTES = STREAM_BYTES / 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the server saw of one call. */
interface ServerCall {
  /** Messages the handler produced (server stream) or read (client stream). */
  count: number;
  /** The handler's generator or loop ended (finished, failed, or was abandoned). */
  ended: boolean;
  signal: AbortSignal;
  /** Resolves when the handler's signal aborts. */
  aborted: Promise<void>;
}

function track(calls: ServerCall[], ctx: HandlerContext): ServerCall {
  const call: ServerCall = {
    count: 0,
    ended: false,
    signal: ctx.signal,
    aborted: new Promise((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    }),
  };
  calls.push(call);
  return call;
}

/** A clientStream request with this header is answered once released, without reading the rest. */
const ANSWER_EARLY = "x-answer-early";

/**
 * Serves TestService with counting handlers: serverStream counts every
 * message it yields; clientStream counts what it reads, and after 5 messages
 * waits for `release` before reading on (or answering, see ANSWER_EARLY).
 */
async function serve(t: Test, http2: boolean) {
  const calls: ServerCall[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server: StartedServer = await startServer({
    http2,
    plugin: {
      shutdownGraceMs: 100,
      routes(router) {
        router.service(TestService, {
          ...testServiceImpl,
          async *serverStream(req: EchoRequest, ctx: HandlerContext) {
            const call = track(calls, ctx);
            try {
              for (let i = 0; i < req.count; i++) {
                call.count++;
                yield { index: i, payload: req.payload };
              }
            } finally {
              call.ended = true;
            }
          },
          async clientStream(reqs: AsyncIterable<EchoRequest>, ctx: HandlerContext) {
            const call = track(calls, ctx);
            const answerEarly = ctx.requestHeader.get(ANSWER_EARLY) !== null;
            try {
              let bytes = 0;
              for await (const r of reqs) {
                bytes += r.payload.byteLength;
                if (++call.count === 5) {
                  await released;
                  if (answerEarly) return { text: "enough", index: call.count };
                }
              }
              return { text: `${bytes}`, index: call.count };
            } finally {
              call.ended = true;
            }
          },
        });
      },
    },
  });
  t.teardown(() => server.close());
  return { server, calls, release };
}

function transport(t: Test, make: () => Transport): Transport {
  const tr = make();
  t.teardown(() => tr.close());
  return tr;
}

/**
 * Waits until `value()` has not changed for `quietMs` (checked every 50 ms),
 * or `maxMs` passed: the producer has stopped. Under load it may stop early,
 * which only makes the bound checks below easier to pass, never flaky.
 */
async function settled(value: () => number, quietMs = 500, maxMs = 15_000): Promise<number> {
  const start = Date.now();
  let last = value();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() - start < maxMs) {
    await sleep(50);
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
  return last;
}

// A full GC before each reading, so memory() counts what is held, not garbage.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * Heap and off-heap (Buffer) memory held, after full GCs. Buffers' memory is
 * released a little after the GC that found them dead, hence the pauses.
 */
async function memory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Resolves, or rejects after `ms`: what must end must not hang. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type Finish = "read the rest" | "abort" | "break";
const finishes: Record<Finish, string> = {
  "read the rest": "reads the rest",
  abort: "aborts",
  break: "breaks out of the loop",
};

const cases: { name: string; http2: boolean; finish: Finish; make: (baseUrl: string) => Transport }[] = [
  {
    name: "gRPC over h2c",
    http2: true,
    finish: "read the rest",
    make: (baseUrl) => createGrpcTransport({ baseUrl, acceptCompression: [] }),
  },
  {
    name: "Connect over h2c",
    http2: true,
    finish: "abort",
    make: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", acceptCompression: [] }),
  },
  {
    name: "Connect over HTTP/1.1",
    http2: false,
    finish: "break",
    make: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", acceptCompression: [] }),
  },
  {
    name: "gRPC-Web over HTTP/1.1",
    http2: false,
    finish: "abort",
    make: (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", acceptCompression: [] }),
  },
];

for (const { name, http2, finish, make } of cases) {
  t.test(`${name}: a slow reader holds back a 100 MB server stream, then ${finishes[finish]}`, async (t) => {
    const { server, calls } = await serve(t, http2);
    const client = createClient(
      TestService,
      transport(t, () => make(server.baseUrl)),
    );
    const controller = new AbortController();
    const before = await memory();
    const responses = client.serverStream(
      { text: "flood", count: MESSAGES, payload: PAYLOAD },
      { signal: controller.signal },
    );
    const it = responses[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) {
      const r = await it.next();
      t.equal(r.done ? -1 : r.value.index, i, `message ${i} arrives`);
    }
    const [call] = calls;
    const ahead = await settled(() => call.count);
    const grown = (await memory()) - before;
    t.ok(ahead >= 5, `the server produced ${ahead} messages while the client read 5`);
    t.ok(ahead < MAX_AHEAD, `the server stopped well short of the stream: ${ahead} of ${MESSAGES} messages`);
    t.ok(grown < MAX_GROWTH_BYTES, `memory grew by ${MiB(grown)} for a ${MiB(STREAM_BYTES)} stream`);
    t.notOk(call.ended, "the handler is waiting to write, not done");

    if (finish === "read the rest") {
      let next = 5;
      let inOrder = true;
      await within(
        60_000,
        "reading the rest of the stream",
        (async () => {
          for (let r = await it.next(); !r.done; r = await it.next()) {
            if (r.value.index !== next++) inOrder = false;
          }
        })(),
      );
      t.equal(next, MESSAGES, "the client read every message");
      t.ok(inOrder, "in order");
      t.equal(call.count, MESSAGES);
      t.ok(call.ended, "the handler finished");
      t.notOk(call.signal.aborted, "and was not aborted");
    } else {
      if (finish === "abort") {
        controller.abort();
        // Messages the client had already decoded may still come out (see the
        // test at the end); then the read must fail with canceled.
        const { extra, err } = await within(
          10_000,
          "reading after abort()",
          (async () => {
            let extra = 0;
            for (;;) {
              try {
                if ((await it.next()).done) return { extra, err: new Error("the stream ended normally after abort()") };
                extra++;
              } catch (err) {
                return { extra, err };
              }
            }
          })(),
        );
        t.type(err, ConnectError, `the read fails with a ConnectError (${(err as Error).message})`);
        t.equal((err as ConnectError).code, Code.Canceled, "canceled");
        t.ok(extra < ahead, `after at most a few buffered messages (${extra})`);
      } else {
        // What breaking out of for-await does.
        await within(10_000, "the iterator's return()", Promise.resolve(it.return?.()));
      }
      await within(10_000, "the server handler's signal", call.aborted);
      t.ok(call.signal.aborted, "the server's handler signal aborted");
      await within(
        10_000,
        "the handler's generator closing",
        waitFor(() => call.ended),
      );
      t.ok(call.ended, "the handler's generator was closed");
      t.ok(call.count < MAX_AHEAD, `after ${call.count} messages`);
    }
  });
}

const uploads: {
  name: string;
  http2: boolean;
  finish: "read all" | "answer early";
  make: (baseUrl: string) => Transport;
}[] = [
  {
    name: "gRPC over h2c",
    http2: true,
    finish: "read all",
    make: (baseUrl) => createGrpcTransport({ baseUrl, acceptCompression: [] }),
  },
  {
    name: "Connect over HTTP/1.1",
    http2: false,
    finish: "answer early",
    make: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", acceptCompression: [] }),
  },
];

for (const { name, http2, finish, make } of uploads) {
  const then = finish === "read all" ? "reads the rest" : "answers without reading the rest";
  t.test(`${name}: a slow server holds back the client's 100 MB request stream, then ${then}`, async (t) => {
    const { server, calls, release } = await serve(t, http2);
    const client = createClient(
      TestService,
      transport(t, () => make(server.baseUrl)),
    );
    let pulled = 0;
    let closed = false;
    async function* requests() {
      try {
        for (let i = 0; i < MESSAGES; i++) {
          pulled++;
          yield { index: i, payload: PAYLOAD };
        }
      } finally {
        closed = true;
      }
    }
    const before = await memory();
    const headers: Record<string, string> = finish === "answer early" ? { [ANSWER_EARLY]: "1" } : {};
    const result = client.clientStream(requests(), { headers }).then(
      (r) => r,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    // The server reads 5 messages and then stops reading until released.
    await within(
      10_000,
      "the server reading 5 messages",
      waitFor(() => calls[0]?.count === 5),
    );
    const ahead = await settled(() => pulled);
    const grown = (await memory()) - before;
    t.ok(ahead < MAX_AHEAD, `the client pulled ${ahead} of ${MESSAGES} request messages while the server read 5`);
    t.ok(grown < MAX_GROWTH_BYTES, `memory grew by ${MiB(grown)} for a ${MiB(STREAM_BYTES)} stream`);
    release();
    const res = await within(
      60_000,
      `the call after the server ${finish === "read all" ? "read on" : "answered"}`,
      result,
    );
    t.notOk(res instanceof Error, `the call succeeds (${res instanceof Error ? res.message : "ok"})`);
    if (res instanceof Error) return;
    if (finish === "read all") {
      t.equal(res.index, MESSAGES, "the server read every message");
      t.equal(res.text, `${STREAM_BYTES}`);
      t.equal(pulled, MESSAGES);
    } else {
      t.same({ text: res.text, index: res.index }, { text: "enough", index: 5 }, "the server's early answer");
      t.ok(pulled <= ahead + MAX_AHEAD, `the client stopped pulling requests (${pulled})`);
      await within(
        10_000,
        "the request iterable closing",
        waitFor(() => closed),
      );
      t.ok(closed, "and closed the request iterable");
    }
  });
}

/** Polls `predicate` every 10 ms until it holds. */
async function waitFor(predicate: () => boolean): Promise<void> {
  while (!predicate()) await sleep(10);
}

// BUG (lib/client/envelope-call.ts, messages() in runEnveloped; EnvelopeReader
// in lib/protocol/body-reader.ts): after the caller aborts, the messages the
// reader had already decoded (up to its high-water mark of 16, and more from
// the last chunk) are still yielded before the call fails with canceled. An
// aborted call should fail on the next read, as a fetch body does.
t.test("after abort(), the next read of a server stream fails with canceled", async (t) => {
  const { server, calls } = await serve(t, true);
  const client = createClient(
    TestService,
    transport(t, () => createGrpcTransport({ baseUrl: server.baseUrl, acceptCompression: [] })),
  );
  const controller = new AbortController();
  const it = client
    .serverStream({ text: "few", count: 100, payload: PAYLOAD }, { signal: controller.signal })
    [Symbol.asyncIterator]();
  const first = await it.next();
  t.equal(first.done ? -1 : first.value.index, 0);
  // All 100 messages (100 KiB) fit in the stream window: they reach the client unread.
  await within(
    10_000,
    "the server producing all messages",
    waitFor(() => calls[0]?.ended === true),
  );
  controller.abort();
  const err = await it.next().then(
    (r) => new Error(r.done ? "the stream ended normally" : `read message ${r.value.index} after abort()`),
    (e: unknown) => e,
  );
  t.type(err, ConnectError, `the read after abort() fails (${(err as Error).message})`);
  t.equal((err as ConnectError).code, Code.Canceled);
});
