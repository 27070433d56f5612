// createInjectTransport: the library's client calling an app through app.inject(), no port.
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import t from "tap";
import { createClient } from "../../lib/client/index.js";
import {
  Code,
  type ConnectError,
  createGrpcHealth,
  createInjectTransport,
  fastifyConnectRpc,
  type InjectTransportOptions,
} from "../../lib/index.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../lib/services/gen/grpc/health/v1/health_pb.js";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection, within } from "../helpers/client-calls.js";
import { testServiceImpl } from "../helpers/test-service.js";

/** Handler-side observations: whether a call's signal fired, and what the hooks decorated. */
interface Seen {
  aborted: Promise<void>;
  users: string[];
}

async function app(opts: { prefix?: string } = {}): Promise<{ app: FastifyInstance; seen: Seen }> {
  const app = Fastify();
  let onAbort!: () => void;
  const seen: Seen = { aborted: new Promise((r) => (onAbort = r)), users: [] };
  app.decorateRequest("user", "");
  app.addHook("onRequest", async (request, reply) => {
    if (request.headers.authorization !== "Bearer ok") {
      await reply.code(401).send({ error: "unauthorized" });
      return reply;
    }
    (request as FastifyRequest & { user: string }).user = "alice";
  });
  await app.register(fastifyConnectRpc, {
    prefix: opts.prefix,
    routes(router) {
      router.service(TestService, {
        ...testServiceImpl,
        async unary(req, ctx) {
          seen.users.push((ctx.request as FastifyRequest & { user: string }).user);
          ctx.request.log.info("request.log works under inject");
          ctx.signal.addEventListener("abort", onAbort);
          return testServiceImpl.unary(req, ctx);
        },
        async *serverStream(req, ctx) {
          ctx.signal.addEventListener("abort", onAbort);
          yield* testServiceImpl.serverStream(req, ctx);
        },
      });
    },
  } as Parameters<typeof fastifyConnectRpc>[1]);
  return { app, seen };
}

const auth = { authorization: "Bearer ok" };
const protocols: [string, InjectTransportOptions][] = [
  ["connect (proto, the default)", {}],
  ["connect (json)", { protocol: "connect", useBinaryFormat: false }],
  ["grpc-web (proto)", { protocol: "grpc-web" }],
];

for (const [name, options] of protocols) {
  t.test(`${name}: every call kind, metadata and errors through app.inject()`, async (t) => {
    const { app: a, seen } = await app();
    t.teardown(() => a.close());
    const client = createClient(TestService, createInjectTransport(a, options));

    const res = await client.unary({ text: "hi" }, { headers: auth });
    t.equal(res.text, "hi", "unary");
    t.same(seen.users, ["alice"], "the onRequest hook's decoration reached the handler");

    const stream = await collect(client.serverStream({ text: "s", count: 3 }, { headers: auth }));
    t.same(
      stream.messages.map((m) => m.index),
      [0, 1, 2],
      "server stream",
    );
    t.notOk(stream.error);

    const client1 = await client.clientStream([{ text: "a" }, { text: "b" }, { text: "c" }], { headers: auth });
    t.same([client1.text, client1.index], ["a,b,c", 3], "client stream");

    const bidi = await collect(client.bidi([{ text: "x" }, { text: "y" }], { headers: auth }));
    t.same(
      bidi.messages.map((m) => m.text),
      ["x", "y"],
      "bidi, half duplex: the requests went whole, then the replies came",
    );

    let header: Headers | undefined;
    let trailer: Headers | undefined;
    await client.unary(
      { text: "meta" },
      {
        headers: { ...auth, "x-echo-header": "h1", "x-echo-trailer": "t1" },
        onHeader: (h) => (header = h),
        onTrailer: (tr) => (trailer = tr),
      },
    );
    t.equal(header?.get("x-echo-header"), "h1", "response header");
    t.equal(trailer?.get("x-echo-trailer"), "t1", "response trailer");

    let streamTrailer: Headers | undefined;
    await collect(
      client.serverStream(
        { text: "s", count: 1 },
        { headers: { ...auth, "x-echo-trailer": "st" }, onTrailer: (tr) => (streamTrailer = tr) },
      ),
    );
    t.equal(streamTrailer?.get("x-echo-trailer"), "st", "stream trailer");

    const err = await rejection(client.unary({ text: "error:not_found:nope" }, { headers: auth }));
    t.equal(err.code, Code.NotFound, "error code");
    t.equal(err.rawMessage, "nope", "error message");
    t.equal(err.metadata.get("x-error-meta"), "yes", "error metadata");
    const details = err.findDetails(ErrorInfoSchema);
    t.equal(details[0]?.reason, "on-purpose", "error details");

    const streamErr = await collect(client.serverStream({ text: "error:aborted:late", count: 2 }, { headers: auth }));
    t.equal(streamErr.messages.length, 2, "messages before a stream's error");
    t.equal(streamErr.error?.code, Code.Aborted, "a stream's error");
  });

  t.test(`${name}: an onRequest auth hook rejects the call with unauthenticated`, async (t) => {
    const { app: a, seen } = await app();
    t.teardown(() => a.close());
    const client = createClient(TestService, createInjectTransport(a, options));
    const err = await rejection(client.unary({ text: "hi" }));
    t.equal(err.code, Code.Unauthenticated, "unary: unauthenticated");
    const stream = await collect(client.serverStream({ text: "s", count: 2 }));
    t.equal(stream.error?.code, Code.Unauthenticated, "server stream: unauthenticated");
    t.same(seen.users, [], "the handler never ran");
  });

  t.test(`${name}: timeoutMs and signal end the call, and the handler sees it`, async (t) => {
    const { app: a, seen } = await app();
    t.teardown(() => a.close());
    const client = createClient(TestService, createInjectTransport(a, options));
    const slow = await rejection(client.unary({ text: "slow", delayMs: 5000 }, { headers: auth, timeoutMs: 100 }));
    t.equal(slow.code, Code.DeadlineExceeded, "deadline_exceeded after timeoutMs");
    await within(seen.aborted, 2000, "the handler's signal fires");

    const controller = new AbortController();
    const { app: b, seen: seenB } = await app();
    t.teardown(() => b.close());
    const clientB = createClient(TestService, createInjectTransport(b, options));
    const messages: number[] = [];
    const ended = (async () => {
      try {
        for await (const m of clientB.serverStream(
          { text: "s", count: 1000, delayMs: 20 },
          { headers: auth, signal: controller.signal },
        )) {
          messages.push(m.index);
          if (m.index === 1) controller.abort();
        }
      } catch (e) {
        return e as ConnectError;
      }
      return undefined;
    })();
    const err = await within(ended, 2000, "the cancelled stream ends");
    t.equal(err?.code, Code.Canceled, "canceled by the signal");
    t.same(messages, [0, 1], "no message after the cancel");
    await within(seenB.aborted, 2000, "the handler's signal fires on cancel");
  });

  t.test(`${name}: interceptors wrap the calls`, async (t) => {
    const { app: a } = await app();
    t.teardown(() => a.close());
    const log: string[] = [];
    const client = createClient(
      TestService,
      createInjectTransport(a, {
        ...options,
        interceptors: [
          (next) => async (req) => {
            req.header.set("authorization", "Bearer ok");
            req.header.set("x-echo-header", "from-interceptor");
            log.push(`> ${req.method.name}`);
            const res = await next(req);
            log.push(`< ${res.header.get("x-echo-header")}`);
            return res;
          },
        ],
      }),
    );
    t.equal((await client.unary({ text: "i" })).text, "i");
    t.same(log, ["> Unary", "< from-interceptor"], "the interceptor set the auth header and saw the response");
  });
}

t.test("the app never listens and no socket is opened", async (t) => {
  const sockets = () =>
    process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap").length;
  const before = sockets();
  const { app: a } = await app();
  t.teardown(() => a.close());
  const client = createClient(TestService, createInjectTransport(a));
  for (let i = 0; i < 5; i++) await client.unary({ text: "x" }, { headers: auth });
  await collect(client.serverStream({ text: "s", count: 3 }, { headers: auth }));
  t.equal(a.server.listening, false, "app.server is not listening");
  t.equal(a.server.address(), null, "app.server has no address");
  t.equal(sockets(), before, "no TCP handle was opened");
});

t.test("a plugin prefix is reached through basePath; bad options fail at once", async (t) => {
  const { app: a } = await app({ prefix: "/api" });
  t.teardown(() => a.close());
  const client = createClient(TestService, createInjectTransport(a, { basePath: "/api" }));
  t.equal((await client.unary({ text: "p" }, { headers: auth })).text, "p", "call under /api");
  const missing = createClient(TestService, createInjectTransport(a));
  t.equal(
    (await rejection(missing.unary({ text: "p" }, { headers: auth }))).code,
    Code.Unimplemented,
    "404 without it",
  );

  t.throws(
    () => createInjectTransport(a, { protocol: "grpc" } as unknown as InjectTransportOptions),
    /option "protocol" must be "connect" or "grpc-web" \(gRPC needs HTTP\/2 trailers/,
    'protocol "grpc" is refused with the reason',
  );
  t.throws(() => createInjectTransport({} as FastifyInstance), /option "app" must be a Fastify instance/);
  t.throws(() => createInjectTransport(a, { basePath: "api" }), /option "basePath" must be a path starting with "\/"/);
  t.throws(() => createInjectTransport(a, { sendCompression: "zip" }), /option "sendCompression"/);
});

t.test("Connect GET and compression work through inject too", async (t) => {
  const { app: a } = await app();
  t.teardown(() => a.close());
  const client = createClient(
    TestService,
    createInjectTransport(a, { useHttpGet: true, sendCompression: "gzip", compressMinBytes: 0 }),
  );
  let header: Headers | undefined;
  const res = await client.echo(
    { text: "get" },
    { headers: { ...auth, "x-echo-header": "g" }, onHeader: (h) => (header = h) },
  );
  t.equal(res.text, "get", "idempotent method over GET");
  t.equal(header?.get("x-echo-header"), "g");
  const big = await client.unary({ text: "gz", payload: new Uint8Array(4096).fill(7) }, { headers: auth });
  t.equal(big.payload.byteLength, 4096, "gzip request and response");
});

t.test("a transport's close() stops later calls; a closed app fails them with unavailable", async (t) => {
  const { app: a } = await app();
  const transport = createInjectTransport(a);
  const client = createClient(TestService, transport);
  await client.unary({ text: "x" }, { headers: auth });
  transport.close();
  t.equal((await rejection(client.unary({ text: "x" }, { headers: auth }))).code, Code.Unavailable);
  await a.close();
  const after = createClient(TestService, createInjectTransport(a));
  const err = await rejection(after.unary({ text: "x" }, { headers: auth }));
  t.equal(err.code, Code.Unavailable, "unavailable once the app is closed");
});

t.test("server streams arrive message by message: a health Watch sees a change made after it began", async (t) => {
  const a = Fastify();
  const health = createGrpcHealth();
  await a.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, testServiceImpl);
    },
    grpcHealth: health,
  });
  t.teardown(() => a.close());
  for (const protocol of ["connect", "grpc-web"] as const) {
    health.setStatus("fcr.test.v1.TestService", "SERVING");
    const client = createClient(Health, createInjectTransport(a, { protocol }));
    const seen: Status[] = [];
    const controller = new AbortController();
    const done = (async () => {
      try {
        for await (const m of client.watch({ service: "fcr.test.v1.TestService" }, { signal: controller.signal })) {
          seen.push(m.status);
          if (seen.length === 1) health.setStatus("fcr.test.v1.TestService", "NOT_SERVING");
          else controller.abort();
        }
      } catch (e) {
        return (e as ConnectError).code;
      }
      return undefined;
    })();
    t.equal(await within(done, 2000, `${protocol} Watch`), Code.Canceled, `${protocol}: cancelled after the change`);
    t.same(seen, [Status.SERVING, Status.NOT_SERVING], `${protocol}: the first status, then the change`);
  }
});

t.test("request.log works as for a real request: the handler's line and the plugin's share the reqId", async (t) => {
  const lines: { msg: string; reqId?: string; code?: string; protocol?: string }[] = [];
  const a = Fastify({ logger: { level: "info", stream: { write: (line: string) => lines.push(JSON.parse(line)) } } });
  await a.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, {
        unary(req, ctx) {
          ctx.request.log.info("handler line");
          return { text: req.text };
        },
      });
    },
  });
  t.teardown(() => a.close());
  const client = createClient(TestService, createInjectTransport(a, { protocol: "grpc-web" }));
  await client.unary({ text: "log" });
  const handler = lines.find((l) => l.msg === "handler line");
  const completed = lines.find((l) => l.msg === "rpc completed");
  t.ok(handler?.reqId, "the handler logged through request.log, with a reqId");
  t.equal(completed?.reqId, handler?.reqId, "the plugin's per-call line has the same reqId");
  t.equal(completed?.protocol, "grpc-web");
});
