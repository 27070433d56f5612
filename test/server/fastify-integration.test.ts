// The plugin inside a real Fastify app: REST routes, hooks, prefixes, the
// request object, option validation and interceptors.
import { AsyncLocalStorage } from "node:async_hooks";
import { fromBinary } from "@bufbuild/protobuf";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import t, { type Test } from "tap";
import {
  Code,
  ConnectError,
  type FastifyConnectRpcOptions,
  fastifyConnectRpc,
  type Interceptor,
} from "../../lib/index.js";
import { EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { echoBytes, endStreamOf, envelope, h1, h2, logCapture, SERVICE } from "../helpers/raw-http.js";
import { startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" };
const STREAM_PROTO = { "content-type": "application/connect+proto", "connect-protocol-version": "1" };

function addRestRoutes(app: FastifyInstance): void {
  app.post("/items", async (request) => ({ received: request.body, type: typeof request.body }));
  app.get("/health", async () => ({ ok: true }));
}

/** An app with the REST routes and, optionally, the plugin. */
async function restApp(t: Test, withPlugin: boolean): Promise<FastifyInstance> {
  const app = Fastify();
  t.teardown(() => app.close());
  addRestRoutes(app);
  if (withPlugin) {
    await app.register(fastifyConnectRpc, {
      routes(router) {
        router.service(TestService, testServiceImpl);
      },
    });
  }
  await app.ready();
  return app;
}

t.test("REST JSON routes parse exactly as they do without the plugin", async (t) => {
  const plain = await restApp(t, false);
  const withPlugin = await restApp(t, true);
  const cases: { name: string; headers?: Record<string, string>; payload?: string }[] = [
    { name: "a JSON object", headers: { "content-type": "application/json" }, payload: '{"name":"a","n":1}' },
    { name: "JSON with charset", headers: { "content-type": "application/json; charset=utf-8" }, payload: "[1,2]" },
    { name: "invalid JSON", headers: { "content-type": "application/json" }, payload: '{"name":' },
    { name: "an empty JSON body", headers: { "content-type": "application/json" }, payload: "" },
    { name: "text/plain", headers: { "content-type": "text/plain" }, payload: "hello" },
    { name: "application/proto (ours, not theirs)", headers: { "content-type": "application/proto" }, payload: "x" },
  ];
  for (const c of cases) {
    const a = await plain.inject({ method: "POST", url: "/items", headers: c.headers, payload: c.payload });
    const b = await withPlugin.inject({ method: "POST", url: "/items", headers: c.headers, payload: c.payload });
    t.equal(b.statusCode, a.statusCode, `${c.name}: same status (${a.statusCode})`);
    t.same(b.json(), a.json(), `${c.name}: same body`);
  }
  const ok = await withPlugin.inject({
    method: "POST",
    url: "/items",
    headers: { "content-type": "application/json" },
    payload: '{"name":"a"}',
  });
  t.same(ok.json(), { received: { name: "a" }, type: "object" });
  const health = await withPlugin.inject({ method: "GET", url: "/health" });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { ok: true });
});

t.test("RPCs work through app.inject, without a listening port", async (t) => {
  const app = await restApp(t, true);
  const res = await app.inject({
    method: "POST",
    url: `${SERVICE}/Unary`,
    headers: PROTO,
    payload: Buffer.from(echoBytes({ text: "injected" })),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/proto");
  t.equal(fromBinary(EchoResponseSchema, res.rawPayload).text, "injected");

  const stream = await app.inject({
    method: "POST",
    url: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    payload: envelope(0, echoBytes({ text: "s", count: 2 })),
  });
  t.equal(stream.statusCode, 200);
  const { messages, end } = endStreamOf(stream.rawPayload);
  t.equal(messages.length, 2);
  t.same(end, {});
});

t.test("an auth onRequest hook registered before the plugin guards RPCs", async (t) => {
  const s = await startServer({
    setup(app) {
      app.decorateRequest("user", "");
      app.addHook("onRequest", async (request, reply) => {
        if (request.headers.authorization !== "Bearer ok") {
          await reply.code(401).send({ error: "unauthorized" });
          return reply;
        }
        (request as FastifyRequest & { user: string }).user = "alice";
      });
      addRestRoutes(app);
    },
    plugin: {
      routes(router) {
        router.service(TestService, {
          ...testServiceImpl,
          unary(req, ctx) {
            const user = (ctx.request as FastifyRequest & { user: string }).user;
            ctx.request.log.info({ user }, "handler saw the user");
            return { text: `${req.text} for ${user}` };
          },
        });
      },
    },
  });
  t.teardown(s.close);

  const denied = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "x" }) });
  t.equal(denied.status, 401, "no credentials: the hook answers 401");
  t.same(JSON.parse(denied.body.toString()), { error: "unauthorized" });

  const wrong = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, authorization: "Bearer nope" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(wrong.status, 401, "wrong credentials: 401");

  const allowed = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, authorization: "Bearer ok" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(allowed.status, 200);
  t.equal(fromBinary(EchoResponseSchema, allowed.body).text, "x for alice", "the handler sees the hook's decoration");

  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.status, 401, "streaming RPCs are guarded too");

  const rest = await h1(s.port, { method: "GET", path: "/health", headers: { authorization: "Bearer ok" } });
  t.equal(rest.status, 200);
});

t.test("a store an onRequest hook enters with AsyncLocalStorage reaches the handler, in every protocol", async (t) => {
  // What @fastify/request-context and @fastify/otel do: the hook runs the rest of the request inside
  // `als.run`. Node runs a request stream's 'data'/'end' listeners in the context of the socket read,
  // so a handler reached from them, not from a promise made in the route, would see no store.
  const als = new AsyncLocalStorage<string>();
  const handler = {
    ...testServiceImpl,
    unary: (req: { text: string }) => ({ text: `${req.text} in ${als.getStore() ?? "no store"}` }),
  };
  for (const http2 of [false, true]) {
    const s = await startServer({
      http2,
      setup(app) {
        app.addHook("onRequest", (request, _reply, done) => als.run(`request ${request.id}`, done));
      },
      plugin: { routes: (router) => router.service(TestService, handler) },
    });
    t.teardown(s.close);
    const send = http2 ? h2 : h1;
    const cases: { name: string; headers: Record<string, string>; body: Uint8Array; decode: (b: Buffer) => Buffer }[] =
      [
        { name: "Connect", headers: PROTO, body: echoBytes({ text: "x" }), decode: (b) => b },
        {
          name: "gRPC-Web",
          headers: { "content-type": "application/grpc-web+proto" },
          body: envelope(0, echoBytes({ text: "x" })),
          decode: (b) => b.subarray(5, 5 + b.readUInt32BE(1)),
        },
      ];
    if (http2) {
      cases.push({
        name: "gRPC",
        headers: { "content-type": "application/grpc+proto", te: "trailers" },
        body: envelope(0, echoBytes({ text: "x" })),
        decode: (b) => b.subarray(5, 5 + b.readUInt32BE(1)),
      });
    }
    for (const c of cases) {
      const res = await send(s.port, { path: `${SERVICE}/Unary`, headers: c.headers, body: c.body });
      t.equal(res.status, 200, `${c.name} over ${http2 ? "h2c" : "HTTP/1.1"}: 200`);
      t.match(
        fromBinary(EchoResponseSchema, c.decode(res.body)).text,
        /^x in request req-/,
        `${c.name} over ${http2 ? "h2c" : "HTTP/1.1"}: the handler sees the hook's store`,
      );
    }
  }
});

t.test("handlers log through ctx.request.log, with the request id", async (t) => {
  const { stream, lines } = logCapture();
  const s = await startServer({
    fastify: { logger: { level: "info", stream } },
    plugin: {
      routes(router) {
        router.service(TestService, {
          ...testServiceImpl,
          unary(_req, ctx) {
            ctx.request.log.info({ from: "handler" }, "inside the handler");
            return { text: String(ctx.request.id) };
          },
        });
      },
    },
  });
  t.teardown(s.close);
  const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes() });
  t.equal(res.status, 200);
  const reqId = fromBinary(EchoResponseSchema, res.body).text;
  const line = lines.find((l) => l.msg === "inside the handler");
  t.ok(line, "the handler's log line was written");
  t.equal(line?.reqId, reqId, "it carries the request id: it went through request.log");
  t.equal(line?.from, "handler");
});

t.test("registration prefix: routes live under /prefix/<service>/<method>", async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(fastifyConnectRpc, {
    prefix: "/api",
    routes(router) {
      router.service(TestService, testServiceImpl);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const res = await h1(port, { path: `/api${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "p" }) });
  t.equal(res.status, 200);
  t.equal(fromBinary(EchoResponseSchema, res.body).text, "p");
  const unprefixed = await h1(port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "p" }) });
  t.equal(unprefixed.status, 404, "nothing at the unprefixed path");
  const injected = await app.inject({
    method: "POST",
    url: `/api${SERVICE}/Unary`,
    headers: PROTO,
    payload: Buffer.from(echoBytes({ text: "i" })),
  });
  t.equal(injected.statusCode, 200);
});

t.test("option validation: a bad option makes register and ready reject, naming the option", async (t) => {
  const routes: FastifyConnectRpcOptions["routes"] = (router) => {
    router.service(TestService, testServiceImpl);
  };
  const bad: [string, Record<string, unknown>][] = [
    ["readMaxBytes", { routes, readMaxBytes: -1 }],
    ["readMaxBytes", { routes, readMaxBytes: "x" }],
    ["readMaxBytes", { routes, readMaxBytes: 1.5 }],
    ["writeMaxBytes", { routes, writeMaxBytes: 0 }],
    ["compressMinBytes", { routes, compressMinBytes: -5 }],
    ["acceptCompression", { routes, acceptCompression: ["zstd"] }],
    ["acceptCompression", { routes, acceptCompression: "gzip" }],
    ["routes", {}],
    ["routes", { routes: "not a function" }],
    ["interceptors", { routes, interceptors: [1] }],
    ["interceptors", { routes, interceptors: () => {} }],
    ["requireConnectProtocolHeader", { routes, requireConnectProtocolHeader: "yes" }],
    ["maxTimeoutMs", { routes, maxTimeoutMs: 0 }],
    ["shutdownGraceMs", { routes, shutdownGraceMs: -1 }],
    ["jsonOptions", { routes, jsonOptions: 3 }],
  ];
  for (const [name, opts] of bad) {
    const label = `${name}: ${JSON.stringify(opts, (k, v) => (k === "routes" && typeof v === "function" ? "fn" : v))}`;
    const viaRegister = Fastify();
    await t.rejects(
      async () => {
        await viaRegister.register(fastifyConnectRpc, opts as unknown as FastifyConnectRpcOptions);
      },
      { message: new RegExp(`"${name}"`) },
      `register rejects: ${label}`,
    );
    await viaRegister.close().catch(() => {});
    const viaReady = Fastify();
    viaReady.register(fastifyConnectRpc, opts as unknown as FastifyConnectRpcOptions);
    await t.rejects(
      async () => {
        await viaReady.ready();
      },
      { message: new RegExp(`"${name}"`) },
      `ready rejects: ${label}`,
    );
    await viaReady.close().catch(() => {});
  }
  const good = Fastify();
  t.teardown(() => good.close());
  await good.register(fastifyConnectRpc, { routes, readMaxBytes: 10, acceptCompression: ["gzip"], interceptors: [] });
  await t.resolves(async () => {
    await good.ready();
  }, "valid options are accepted");
});

// ---------------------------------------------------------------------------
// Interceptors

t.test("interceptors run outermost first around unary and streaming calls", async (t) => {
  const trace: string[] = [];
  const named =
    (name: string): Interceptor =>
    (next) =>
    async (req) => {
      trace.push(`${name}>${req.stream ? "stream" : "unary"}:${req.method.name}`);
      const res = await next(req);
      trace.push(`${name}<`);
      return res;
    };
  const s = await startServer({ plugin: { interceptors: [named("a"), named("b")] } });
  t.teardown(s.close);

  const unary = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "u" }) });
  t.equal(unary.status, 200);
  t.same(trace, ["a>unary:Unary", "b>unary:Unary", "b<", "a<"]);

  trace.length = 0;
  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ count: 2 })),
  });
  t.equal(stream.status, 200);
  t.equal(endStreamOf(stream.body).messages.length, 2);
  t.same(trace, ["a>stream:ServerStream", "b>stream:ServerStream", "b<", "a<"]);
});

t.test("interceptors can read request headers and set response headers", async (t) => {
  const tenant: Interceptor = (next) => async (req) => {
    const seen = req.header.get("x-tenant") ?? "none";
    const res = await next(req);
    res.header.set("x-tenant-seen", seen);
    return res;
  };
  const s = await startServer({ plugin: { interceptors: [tenant] } });
  t.teardown(s.close);
  const unary = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "x-tenant": "acme" },
    body: echoBytes({ text: "u" }),
  });
  t.equal(unary.status, 200);
  t.equal(unary.headers["x-tenant-seen"], "acme");
  t.equal(fromBinary(EchoResponseSchema, unary.body).text, "u");

  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "x-tenant": "globex" },
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.status, 200);
  t.equal(stream.headers["x-tenant-seen"], "globex");
});

t.test(
  "a spread copy of the request keeps its header and signal for the next interceptor, or replaces them",
  async (t) => {
    // The request's header and signal are accessors of its class (made only when read), which a spread does
    // not copy: `next` must still hand the next interceptor a request that has them.
    const seen: string[] = [];
    const copy: Interceptor = (next) => (req) =>
      next(req.stream ? { ...req, message: req.message } : { ...req, message: req.message });
    const replaceOnStreams: Interceptor = (next) => (req) =>
      next(req.stream ? { ...req, header: new Headers({ "x-tenant": "replaced" }) } : { ...req });
    const read: Interceptor = (next) => (req) => {
      seen.push(`${req.method.name}:${req.header.get("x-tenant")}:${req.signal.aborted}:${req.url}`);
      return next(req);
    };
    const s = await startServer({ plugin: { interceptors: [copy, replaceOnStreams, read] } });
    t.teardown(s.close);
    const unary = await h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: { ...PROTO, "x-tenant": "acme" },
      body: echoBytes({ text: "u" }),
    });
    t.equal(fromBinary(EchoResponseSchema, unary.body).text, "u", "the copied message reached the handler");
    const stream = await h1(s.port, {
      path: `${SERVICE}/ServerStream`,
      headers: { ...STREAM_PROTO, "x-tenant": "globex" },
      body: envelope(0, echoBytes({ count: 1 })),
    });
    t.equal(endStreamOf(stream.body).messages.length, 1);
    t.same(seen, [`Unary:acme:false:${SERVICE}/Unary`, `ServerStream:replaced:false:${SERVICE}/ServerStream`]);
  },
);

t.test("interceptors can replace the response headers, or copy the response and keep them", async (t) => {
  // The innermost response's headers are the context's own Headers: a spread copy must carry what they
  // hold, and a response with headers of its own must send those.
  const setByInner: Interceptor = (next) => async (req) => {
    const res = await next(req);
    res.header.set("x-inner", "1");
    res.trailer.set("x-inner-trailer", "1");
    return res;
  };
  const copy: Interceptor = (next) => async (req) => ({ ...(await next(req)) });
  const replace: Interceptor = (next) => async (req) => {
    const res = await next(req);
    return req.method.name === "Unary" ? { ...res, header: new Headers({ "x-own": "1" }) } : res;
  };
  const s = await startServer({ plugin: { interceptors: [replace, copy, setByInner] } });
  t.teardown(s.close);
  const unary = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "u" }) });
  t.equal(unary.headers["x-own"], "1", "the replacing interceptor's headers");
  t.equal(unary.headers["x-inner"], undefined, "not the ones it replaced");
  t.equal(unary.headers["trailer-x-inner-trailer"], "1", "the trailers the copy carried");
  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.headers["x-inner"], "1", "a copied streaming response keeps the context's headers");
});

t.test("interceptors can turn an error into another", async (t) => {
  const remap = (e: unknown) =>
    e instanceof ConnectError && e.code === Code.NotFound
      ? new ConnectError(`hidden: ${e.rawMessage}`, Code.PermissionDenied)
      : e;
  async function* remapStream(messages: AsyncIterable<unknown>) {
    try {
      yield* messages;
    } catch (e) {
      throw remap(e);
    }
  }
  const mapper: Interceptor = (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: remapStream(res.message) } : res;
    } catch (e) {
      throw remap(e);
    }
  };
  const s = await startServer({ plugin: { interceptors: [mapper] } });
  t.teardown(s.close);

  const unary = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: PROTO,
    body: echoBytes({ text: "error:not_found:secret" }),
  });
  t.equal(unary.status, 403);
  t.match(JSON.parse(unary.body.toString()), { code: "permission_denied", message: "hidden: secret" });

  const other = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: PROTO,
    body: echoBytes({ text: "error:aborted:left alone" }),
  });
  t.equal(other.status, 409, "other errors pass through unchanged");

  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ text: "error:not_found:mid-stream", count: 1 })),
  });
  t.equal(stream.status, 200);
  const { messages, end } = endStreamOf(stream.body);
  t.equal(messages.length, 1);
  t.match(end.error, { code: "permission_denied", message: "hidden: mid-stream" });
});
