// How a call ends, with the real peer: deadlines (the client's and the one the
// server enforces from connect-timeout-ms), the client aborting mid-call, and
// readMaxBytes. Each is observed from the server side through the handler's
// context, with bounded waits.
import type { Socket } from "node:net";
import { Code, type ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import type { FastifyInstance } from "fastify";
import t, { type Test } from "tap";
import type { FastifyConnectRpcOptions, HandlerContext, ServiceImpl } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection, requests } from "../helpers/peer.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

/** How long the server may take to notice an abort. Generous; a pass is fast. */
const ABORT_WAIT_MS = 2000;

/** TestService, recording the context of every unary, server-stream and bidi call. */
async function probedServer(
  http2: boolean,
  plugin: Partial<FastifyConnectRpcOptions> = {},
  setup?: (app: FastifyInstance) => void,
) {
  const contexts: HandlerContext[] = [];
  let onCall: (() => void) | undefined;
  const record = (ctx: HandlerContext) => {
    contexts.push(ctx);
    onCall?.();
  };
  const impl: ServiceImpl<typeof TestService> = {
    ...testServiceImpl,
    unary(req, ctx) {
      record(ctx);
      return testServiceImpl.unary(req, ctx);
    },
    serverStream(req, ctx) {
      record(ctx);
      return testServiceImpl.serverStream(req, ctx);
    },
    bidi(reqs, ctx) {
      record(ctx);
      return testServiceImpl.bidi(reqs, ctx);
    },
  };
  const server: StartedServer = await startServer({
    http2,
    setup,
    plugin: { ...plugin, routes: (router) => void router.service(TestService, impl) },
  });
  /** The context of the next call's handler, once it has started. */
  const nextCall = (): Promise<HandlerContext> => {
    const n = contexts.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the handler was not called")), ABORT_WAIT_MS);
      onCall = () => {
        if (contexts.length > n) {
          clearTimeout(timer);
          onCall = undefined;
          resolve(contexts[n]);
        }
      };
    });
  };
  return { server, nextCall };
}

/** Resolves true once `signal` aborts, false if it has not within `ms`. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
  });
}

function reasonCode(signal: AbortSignal): unknown {
  return (signal.reason as { code?: unknown } | undefined)?.code;
}

/** Makes the peer ask the server for a deadline shorter than its own, so the server's timer fires first. */
const serverDeadline =
  (ms: number): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("connect-timeout-ms", String(ms));
    return next(req);
  };

for (const http2 of [false, true]) {
  const httpVersion = http2 ? "2" : "1.1";
  const label = http2 ? "h2c" : "HTTP/1.1";

  t.test(`${label}: deadlines`, async (t) => {
    const { server, nextCall } = await probedServer(http2);
    t.teardown(server.close);
    const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion }));
    const enforced = createClient(
      TestService,
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion, interceptors: [serverDeadline(100)] }),
    );

    t.test("unary: the client's timeoutMs ends the call and aborts the handler", async (t) => {
      const called = nextCall();
      const err = await rejection(client.unary({ text: "slow", delayMs: 5000 }, { timeoutMs: 200 }));
      t.equal(err.code, Code.DeadlineExceeded);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
    });

    t.test("unary: the server enforces connect-timeout-ms (Connect protocol: Timeout)", async (t) => {
      const called = nextCall();
      const started = Date.now();
      const err = await rejection(enforced.unary({ text: "slow", delayMs: 5000 }, { timeoutMs: 10_000 }));
      t.equal(err.code, Code.DeadlineExceeded, "deadline_exceeded comes from the server");
      t.ok(Date.now() - started < 2000, "well before the client's own 10 s timer");
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.DeadlineExceeded, "with deadline_exceeded as the reason");
    });

    t.test("server streaming: the server's deadline ends the stream after some messages", async (t) => {
      const called = nextCall();
      const { messages, error } = await collect(
        enforced.serverStream({ text: "s", count: 1000, delayMs: 10 }, { timeoutMs: 10_000 }),
      );
      t.ok(messages.length < 1000, `the stream was cut short (${messages.length} messages)`);
      t.equal(error?.code, Code.DeadlineExceeded);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.DeadlineExceeded);
    });

    t.test("server streaming: the client's timeoutMs aborts the handler", async (t) => {
      const called = nextCall();
      const { error } = await collect(client.serverStream({ text: "s", count: 3, delayMs: 5000 }, { timeoutMs: 200 }));
      t.equal(error?.code, Code.DeadlineExceeded);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
    });

    t.test("a call within its deadline succeeds, and the handler sees the time left", async (t) => {
      const called = nextCall();
      const r = await client.unary({ text: "quick", delayMs: 5 }, { timeoutMs: 5000 });
      t.equal(r.text, "quick");
      const left = (await called).timeoutMs();
      t.ok(left !== undefined && left > 0 && left <= 5000, `timeoutMs() is in (0, 5000]: ${left}`);
    });
  });

  t.test(`${label}: the client aborting aborts the handler`, async (t) => {
    const { server, nextCall } = await probedServer(http2);
    t.teardown(server.close);
    const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion }));

    t.test("unary", async (t) => {
      const ac = new AbortController();
      const called = nextCall();
      const result = rejection(client.unary({ text: "slow", delayMs: 5000 }, { signal: ac.signal }));
      const ctx = await called;
      ac.abort();
      t.equal((await result).code, Code.Canceled);
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.Canceled);
    });

    t.test("server streaming, mid-stream", async (t) => {
      const ac = new AbortController();
      const called = nextCall();
      const got: number[] = [];
      const err = await rejection(
        (async () => {
          for await (const m of client.serverStream({ text: "s", count: 1000, delayMs: 5 }, { signal: ac.signal })) {
            got.push(m.index);
            if (got.length === 2) ac.abort();
          }
        })(),
      );
      t.equal(err.code, Code.Canceled);
      t.same(got, [0, 1]);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.Canceled);
    });

    t.test("bidi, mid-stream", async (t) => {
      const ac = new AbortController();
      const called = nextCall();
      const got: number[] = [];
      // Many requests, each answered after 5 ms: over HTTP/1.1 the peer sends
      // them all first, then reads; the responses are still coming when it aborts.
      const reqs = Array.from({ length: 400 }, (_, i) => ({ text: `r${i}`, delayMs: 5 }));
      const err = await rejection(
        (async () => {
          for await (const m of client.bidi(requests(...reqs), { signal: ac.signal })) {
            got.push(m.index);
            if (got.length === 2) ac.abort();
          }
        })(),
      );
      t.equal(err.code, Code.Canceled);
      t.same(got, [0, 1]);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.Canceled);
    });

    t.test("the server keeps serving", async (t) => {
      t.equal((await client.unary({ text: "after" })).text, "after");
    });
  });

  t.test(`${label}: readMaxBytes`, async (t) => {
    const max = 1024;
    const { server } = await probedServer(http2, { readMaxBytes: max, acceptCompression: ["gzip"] });
    t.teardown(server.close);
    const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion }));
    const gzipped = createClient(
      TestService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion,
        sendCompression: compressionGzip,
        compressMinBytes: 1,
      }),
    );
    // {payload: n bytes} encodes as tag (1) + length varint (2) + n.
    const exactly = { payload: new Uint8Array(max - 3) };
    // With count: 1 (two more bytes), for server streaming.
    const exactlyStream = { payload: new Uint8Array(max - 5), count: 1 };
    const oneOver = { payload: new Uint8Array(max - 2) };
    // Zeros compress to a few dozen bytes: the limit applies after decompression.
    const bomb = { payload: new Uint8Array(256 * 1024) };

    const exhausted = (t: Test, err: ConnectError | undefined) => {
      t.equal(err?.code, Code.ResourceExhausted, `resource_exhausted: ${err?.rawMessage}`);
    };

    t.test("a message of exactly readMaxBytes is accepted", async (t) => {
      t.equal((await client.unary(exactly)).payload.byteLength, max - 3, "unary");
      const { messages, error } = await collect(client.serverStream(exactlyStream));
      t.equal(error, undefined);
      t.equal(messages[0]?.payload.byteLength, max - 5, "server streaming");
      t.equal((await client.clientStream(requests(exactly))).index, 1, "client streaming");
    });

    t.test("unary, one byte over", async (t) => {
      exhausted(t, await rejection(client.unary(oneOver)));
    });
    t.test("unary, gzipped small but larger once decompressed", async (t) => {
      exhausted(t, await rejection(gzipped.unary(bomb)));
    });
    t.test("server streaming", async (t) => {
      const { messages, error } = await collect(client.serverStream({ ...oneOver, count: 1 }));
      t.same(messages, []);
      exhausted(t, error);
    });
    t.test("server streaming, gzipped", async (t) => {
      exhausted(t, (await collect(gzipped.serverStream({ ...bomb, count: 1 }))).error);
    });
    t.test("client streaming, on the second message", async (t) => {
      exhausted(t, await rejection(client.clientStream(requests({ text: "small" }, oneOver))));
    });
    t.test("client streaming, gzipped", async (t) => {
      exhausted(t, await rejection(gzipped.clientStream(requests(bomb))));
    });
    t.test("bidi, after a reply", async (t) => {
      const { messages, error } = await collect(client.bidi(requests({ text: "small" }, oneOver)));
      t.ok(messages.length <= 1);
      exhausted(t, error);
    });

    t.test("the server keeps serving afterwards, on the same clients", async (t) => {
      for (const c of [client, gzipped]) {
        t.equal((await c.unary({ text: "after" })).text, "after");
        const { messages, error } = await collect(c.serverStream({ text: "after", count: 2 }));
        t.equal(error, undefined);
        t.equal(messages.length, 2);
        t.equal((await c.clientStream(requests({ text: "a" }, { text: "b" }))).text, "a,b");
        t.same(
          (await collect(c.bidi(requests({ text: "a" }, { text: "b" })))).messages.map((m) => m.text),
          ["a", "b"],
        );
      }
    });
  });

  t.test(`${label}: fastify.close() ends in-flight calls after shutdownGraceMs`, async (t) => {
    const graceMs = 50;
    /** Starts a server whose sockets the test can see, and can destroy should close() hang. */
    const start = async () => {
      const sockets = new Set<Socket>();
      const probed = await probedServer(http2, { shutdownGraceMs: graceMs }, (app) => {
        app.server.on("connection", (socket: Socket) => {
          sockets.add(socket);
          socket.once("close", () => sockets.delete(socket));
        });
      });
      let closing: Promise<void> | undefined;
      const close = () => (closing ??= probed.server.close());
      t.teardown(() => {
        for (const s of sockets) s.destroy();
        return close();
      });
      /** Whether close() finished within `ms`. */
      const closesWithin = async (ms: number) => {
        let timer: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          close().then(() => true),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
        ]);
        clearTimeout(timer);
        return done;
      };
      return { ...probed, close, closesWithin };
    };

    t.test("a stream the client is reading ends with unavailable", async (t) => {
      const { server, nextCall, close } = await start();
      const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion }));
      const called = nextCall();
      let closed: Promise<void> | undefined;
      const got: number[] = [];
      const started = Date.now();
      const err = await rejection(
        (async () => {
          for await (const m of client.serverStream({ text: "s", count: 1000, delayMs: 5 })) {
            got.push(m.index);
            if (got.length === 2) closed = close();
          }
        })(),
      );
      t.equal(err.code, Code.Unavailable, "the server's shutdown reaches the client as unavailable");
      t.ok(got.length >= 2 && got.length < 1000, `the stream ran during the grace period (${got.length} messages)`);
      const ctx = await called;
      t.ok(await abortedWithin(ctx.signal, ABORT_WAIT_MS), "the handler's signal aborted");
      t.equal(reasonCode(ctx.signal), Code.Unavailable);
      await closed;
      t.ok(Date.now() - started < 2000, "close() finished soon after the grace period");
    });

    // connect-es does not cancel a server stream when the caller breaks out
    // of its loop: the call stays open and unread. The plugin documents that
    // whatever still runs after shutdownGraceMs is aborted; close() must then
    // finish, whatever the peer does (over HTTP/2, Node's graceful session
    // close waits for the peer to close the socket, which this one never does).
    t.test("a stream the client stopped reading does not keep close() waiting", async (t) => {
      const { server, nextCall, closesWithin } = await start();
      const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion }));
      const called = nextCall();
      for await (const m of client.serverStream({ text: "s", count: 1000, delayMs: 5 })) {
        if (m.index === 1) break;
      }
      const ctx = await called;
      t.ok(await closesWithin(graceMs + 1000), "close() finished within shutdownGraceMs + 1 s");
      t.ok(ctx.signal.aborted, "the handler's signal aborted");
    });
  });
}

// serveStream closes the handler's generator when the call ends early, so that its finally blocks release
// what it holds, even when it never looks at its signal.
t.test("a server-streaming handler's finally blocks run when the client aborts mid-stream", async (t) => {
  let released!: () => void;
  const finallyRan = new Promise<void>((resolve) => {
    released = resolve;
  });
  const impl: ServiceImpl<typeof TestService> = {
    ...testServiceImpl,
    async *serverStream() {
      try {
        for (let i = 0; ; i++) {
          await new Promise((r) => setTimeout(r, 5));
          yield { text: "s", index: i };
        }
      } finally {
        released();
      }
    },
  };
  const server = await startServer({
    http2: true,
    plugin: { routes: (router) => void router.service(TestService, impl) },
  });
  t.teardown(server.close);
  const client = createClient(TestService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2" }));
  const ac = new AbortController();
  const err = await rejection(
    (async () => {
      for await (const m of client.serverStream({ text: "s" }, { signal: ac.signal })) if (m.index === 1) ac.abort();
    })(),
  );
  t.equal(err.code, Code.Canceled);
  const timeout = new Promise<string>((r) => setTimeout(() => r("timed out"), ABORT_WAIT_MS));
  t.equal(await Promise.race([finallyRan.then(() => "ran"), timeout]), "ran", "the generator's finally ran");
});
