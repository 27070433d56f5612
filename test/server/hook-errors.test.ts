// Errors a Fastify app raises around our routes reach RPC clients as RPC
// errors: a ConnectError (ours or @connectrpc/connect's) thrown in an
// onRequest or preHandler hook keeps its code, message, metadata and details
// in the protocol the request spoke; a Fastify error with a statusCode gets
// the Connect spec's code for that status; anything else is internal, logged
// once. REST routes keep Fastify's own error handling. Real clients only:
// this library's, connect-node's, grpc-js and curl.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient as createEsClient, Code as EsCode, ConnectError as EsConnectError } from "@connectrpc/connect";
import {
  createConnectTransport as createEsConnectTransport,
  createGrpcTransport as createEsGrpcTransport,
  createGrpcWebTransport as createEsGrpcWebTransport,
} from "@connectrpc/connect-node";
import sensible from "@fastify/sensible";
import * as grpc from "@grpc/grpc-js";
import Fastify, { type FastifyInstance } from "fastify";
import t, { type Test } from "tap";
import {
  Code,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  fastifyConnectRpc,
  type Transport,
} from "../../lib/index.js";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection } from "../helpers/client-calls.js";
import { createGrpcJsClient, grpcServerStream, grpcUnary } from "../helpers/grpc-js-client.js";
import { rejection as esRejection } from "../helpers/peer.js";
import { logCapture } from "../helpers/raw-http.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const run = promisify(execFile);

/**
 * curl's POST without a body (an empty Connect request message). The hooks
 * fail before the body is read; with a body, curl 7.88 over HTTP/2 may report
 * the server's RST_STREAM(NO_ERROR) after the response as an error (exit 92),
 * the answer servers give to an upload they no longer need (RFC 9113, 8.1).
 */
const bodyless = ["-X", "POST"];

/** An error with an HTTP status, as `http-errors` (fastify.httpErrors, @fastify/sensible) and Fastify make them. */
function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { statusCode, expose: statusCode < 500 });
}

/** What the `x-hook` request header makes the onRequest hook throw. */
function hookError(kind: string): unknown {
  const details = [{ desc: ErrorInfoSchema, value: { reason: "hook", fields: { kind } } }];
  switch (kind) {
    case "connect":
      return new ConnectError("no token", Code.PermissionDenied, { metadata: { "x-why": "auth" }, details });
    case "connect-es":
      return new EsConnectError("slow down", EsCode.ResourceExhausted, { "x-why": "quota" }, details);
    case "crash":
      return new TypeError("secret internal detail");
    default:
      return httpError(Number(kind.replace("status-", "")), `status error ${kind}`);
  }
}

/** The app's hooks: onRequest throws what `x-hook` says, preHandler refuses `x-pre: no`. */
function addHooks(app: FastifyInstance): void {
  app.addHook("onRequest", async (request) => {
    const kind = request.headers["x-hook"];
    if (typeof kind === "string") throw hookError(kind);
  });
  app.addHook("preHandler", async (request) => {
    if (request.headers["x-pre"] === "no") {
      throw new ConnectError("pre-handler refused", Code.Unauthenticated, { metadata: { "x-pre": "refused" } });
    }
  });
}

async function hookedServer(t: Test, http2: boolean): Promise<StartedServer & { logs: Record<string, unknown>[] }> {
  const { stream, lines } = logCapture();
  const s = await startServer({ http2, fastify: { logger: { stream, level: "info" } } as never, setup: addHooks });
  t.teardown(s.close);
  return { ...s, logs: lines };
}

function checkPermissionDenied(t: Test, err: { code: number; rawMessage: string; metadata: Headers }, details = true) {
  t.equal(err.code, Code.PermissionDenied, "code permission_denied");
  t.equal(err.rawMessage, "no token", "the hook's message");
  t.equal(err.metadata.get("x-why"), "auth", "the hook's metadata");
  if (details && err instanceof ConnectError) {
    t.same(
      err.findDetails(ErrorInfoSchema).map((d) => d.reason),
      ["hook"],
      "the hook's ErrorInfo detail",
    );
  }
}

const ourTransports = (baseUrl: string, http2: boolean): [string, Transport][] => {
  const v = http2 ? "2" : "1.1";
  const list: [string, Transport][] = [
    ["connect", createConnectTransport({ baseUrl, httpVersion: v })],
    ["connect json", createConnectTransport({ baseUrl, httpVersion: v, useBinaryFormat: false })],
    ["grpc-web", createGrpcWebTransport({ baseUrl, httpVersion: v })],
  ];
  if (http2) list.push(["grpc", createGrpcTransport({ baseUrl })]);
  return list;
};

for (const http2 of [false, true]) {
  const h = http2 ? "HTTP/2" : "HTTP/1.1";

  t.test(`${h}: a ConnectError from an onRequest hook reaches this library's clients, every protocol`, async (t) => {
    const s = await hookedServer(t, http2);
    for (const [name, transport] of ourTransports(s.baseUrl, http2)) {
      t.teardown(() => transport.close());
      const client = createClient(TestService, transport);
      const headers = { "x-hook": "connect" };
      const unary = await rejection(client.unary({ text: "x" }, { headers }));
      t.test(`${name} unary`, async (t) => checkPermissionDenied(t, unary));
      const { messages, error } = await collect(client.serverStream({ text: "x", count: 2 }, { headers }));
      t.equal(messages.length, 0, `${name} server stream: no messages`);
      t.ok(error, `${name} server stream fails`);
      if (error) t.test(`${name} server stream`, async (t) => checkPermissionDenied(t, error));
      const pre = await rejection(client.unary({ text: "x" }, { headers: { "x-pre": "no" } }));
      t.equal(pre.code, Code.Unauthenticated, `${name}: a preHandler's ConnectError keeps its code`);
      t.equal(pre.rawMessage, "pre-handler refused", `${name}: and its message`);
      t.equal(pre.metadata.get("x-pre"), "refused", `${name}: and its metadata`);
    }
    const lines = s.logs.filter((l) => l.msg === "rpc completed" && l.code === "permission_denied");
    t.ok(lines.length >= 2, "each refused call writes its rpc completed line with the hook's code");
    t.equal(lines[0]?.rpc, "fcr.test.v1.TestService/Unary", "the line names the rpc");
  });

  t.test(`${h}: connect-node clients (Connect, gRPC-Web, gRPC) see the hook's ConnectError`, async (t) => {
    const s = await hookedServer(t, http2);
    const v = http2 ? "2" : "1.1";
    const transports = [
      ["connect", createEsConnectTransport({ baseUrl: s.baseUrl, httpVersion: v })],
      ["connect json", createEsConnectTransport({ baseUrl: s.baseUrl, httpVersion: v, useBinaryFormat: false })],
      ["grpc-web", createEsGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: v })],
    ] as const;
    const all = http2 ? [...transports, ["grpc", createEsGrpcTransport({ baseUrl: s.baseUrl })] as const] : transports;
    for (const [name, transport] of all) {
      const client = createEsClient(TestService, transport);
      const headers = { "x-hook": "connect" };
      const unary = await esRejection(client.unary({ text: "x" }, { headers }));
      t.equal(unary.code, EsCode.PermissionDenied, `${name} unary: code`);
      t.equal(unary.rawMessage, "no token", `${name} unary: message`);
      t.equal(unary.metadata.get("x-why"), "auth", `${name} unary: metadata`);
      t.same(
        unary.findDetails(ErrorInfoSchema).map((d) => d.reason),
        ["hook"],
        `${name} unary: details`,
      );
      const stream = await esRejection(
        (async () => {
          for await (const _ of client.serverStream({ text: "x", count: 2 }, { headers }));
        })(),
      );
      t.equal(stream.code, EsCode.PermissionDenied, `${name} server stream: code`);
      t.equal(stream.rawMessage, "no token", `${name} server stream: message`);
      t.equal(stream.metadata.get("x-why"), "auth", `${name} server stream: metadata`);
    }
  });

  t.test(`${h}: curl gets a Connect JSON error, not Fastify's JSON`, async (t) => {
    const s = await hookedServer(t, http2);
    const { stdout } = await run("curl", [
      "-s",
      "-i",
      ...(http2 ? ["--http2-prior-knowledge"] : ["--http1.1"]),
      "-H",
      "content-type: application/json",
      "-H",
      "x-hook: connect",
      ...bodyless,
      `${s.baseUrl}/fcr.test.v1.TestService/Unary`,
    ]);
    const [head, body] = stdout.split(/\r\n\r\n/);
    t.match(head, http2 ? /^HTTP\/2 403/ : /^HTTP\/1\.1 403/, "403, the status of permission_denied");
    t.match(head, /\r\ncontent-type: application\/json\r\n/i, "a JSON error body");
    t.match(head, /\r\nx-why: auth\r\n/i, "the hook's metadata as a header");
    const json = JSON.parse(body);
    t.equal(json.code, "permission_denied");
    t.equal(json.message, "no token");
    t.equal(json.details?.[0]?.type, "fcr.test.v1.ErrorInfo", "the detail");
    t.equal(json.statusCode, undefined, "none of Fastify's error fields");
  });
}

t.test("grpc-js sees the hook's ConnectError in a trailers-only response", async (t) => {
  const s = await hookedServer(t, true);
  const client = createGrpcJsClient(`127.0.0.1:${s.port}`);
  t.teardown(() => client.close());
  const metadata = new grpc.Metadata();
  metadata.set("x-hook", "connect");
  for (const [name, r] of [
    ["unary", await grpcUnary(client, { text: "x" }, { metadata })],
    ["server stream", await grpcServerStream(client, { text: "x", count: 2 }, { metadata })],
  ] as const) {
    t.equal(r.status.code, grpc.status.PERMISSION_DENIED, `${name}: code`);
    t.equal(r.status.details, "no token", `${name}: message`);
    t.same(r.status.metadata.get("x-why"), ["auth"], `${name}: metadata`);
    t.equal(r.status.metadata.get("grpc-status-details-bin").length, 1, `${name}: details travel`);
    t.equal(r.messages.length, 0, `${name}: no messages`);
  }
});

t.test("Fastify errors with a statusCode get the Connect spec's code for that status", async (t) => {
  const s = await hookedServer(t, true);
  // Connect protocol, "HTTP to Error Code".
  const cases = [
    ["status-400", Code.Internal, "status error status-400"],
    ["status-401", Code.Unauthenticated, "status error status-401"],
    ["status-403", Code.PermissionDenied, "status error status-403"],
    ["status-404", Code.Unimplemented, "status error status-404"],
    ["status-409", Code.Unknown, "status error status-409"],
    ["status-429", Code.Unavailable, "status error status-429"],
    ["status-502", Code.Unavailable, "HTTP 502"],
    ["status-503", Code.Unavailable, "HTTP 503"],
    ["status-500", Code.Unknown, "HTTP 500"],
  ] as const;
  for (const [name, transport] of ourTransports(s.baseUrl, true)) {
    t.teardown(() => transport.close());
    const client = createClient(TestService, transport);
    for (const [kind, code, message] of cases) {
      const err = await rejection(client.unary({ text: "x" }, { headers: { "x-hook": kind } }));
      t.equal(err.code, code, `${name} ${kind}: code ${Code[code]}`);
      t.equal(err.rawMessage, message, `${name} ${kind}: ${kind < "status-5" ? "the message" : "no server message"}`);
    }
  }
  const leaked = s.logs.filter((l) => (l.err as { message?: string } | undefined)?.message?.includes("status-50"));
  t.ok(leaked.length > 0, "5xx errors are logged on the server");
});

t.test("@fastify/sensible's httpErrors and reply helpers in hooks become RPC errors", async (t) => {
  const s = await startServer({
    http2: true,
    async setup(app) {
      await app.register(sensible);
      app.addHook("onRequest", async (request, reply) => {
        switch (request.headers["x-sensible"]) {
          case "throw-401":
            throw app.httpErrors.unauthorized("token expired");
          case "throw-429":
            throw app.httpErrors.tooManyRequests();
          case "throw-503":
            throw app.httpErrors.serviceUnavailable("database password rejected");
          case "reply-403":
            return reply.forbidden("not your account");
        }
      });
    },
  });
  t.teardown(s.close);
  const cases = [
    ["throw-401", Code.Unauthenticated, "token expired"],
    ["throw-429", Code.Unavailable, "Too Many Requests"],
    ["throw-503", Code.Unavailable, "HTTP 503"],
    ["reply-403", Code.PermissionDenied, "not your account"],
  ] as const;
  for (const [name, transport] of ourTransports(s.baseUrl, true)) {
    t.teardown(() => transport.close());
    const client = createClient(TestService, transport);
    for (const [kind, code, message] of cases) {
      const err = await rejection(client.unary({ text: "x" }, { headers: { "x-sensible": kind } }));
      t.equal(err.code, code, `${name} ${kind}: ${Code[code]}`);
      t.equal(err.rawMessage, message, `${name} ${kind}: ${message}`);
    }
  }
});

t.test("any other error is internal, without its message or stack, and logged once", async (t) => {
  const s = await hookedServer(t, true);
  for (const [name, transport] of ourTransports(s.baseUrl, true)) {
    t.teardown(() => transport.close());
    const client = createClient(TestService, transport);
    const err = await rejection(client.unary({ text: "x" }, { headers: { "x-hook": "crash" } }));
    t.equal(err.code, Code.Internal, `${name}: internal`);
    t.equal(err.rawMessage, "internal error", `${name}: a generic message`);
    t.notMatch(err.message, /secret|TypeError|\.ts:\d+/, `${name}: nothing of the original`);
    for (const [k, v] of err.metadata) t.notMatch(v, /secret/, `${name}: metadata ${k} leaks nothing`);
  }
  const curl = await run("curl", [
    "-s",
    "--http2-prior-knowledge",
    "-H",
    "content-type: application/json",
    "-H",
    "x-hook: crash",
    ...bodyless,
    `${s.baseUrl}/fcr.test.v1.TestService/Unary`,
  ]);
  t.same(JSON.parse(curl.stdout), { code: "internal", message: "internal error" }, "curl: the whole body");
  const logged = s.logs.filter((l) => JSON.stringify(l).includes("secret internal detail"));
  t.equal(logged.length, 5, "one log line per failed call (4 clients and curl), with the original error");
  t.equal(logged[0]?.level, 50, "at error level");
  t.match(
    (logged[0]?.err as { stack?: string } | undefined)?.stack,
    /TypeError: secret internal detail/,
    "with its stack",
  );
});

t.test("a ConnectError of @connectrpc/connect thrown by a hook keeps code, message, metadata, details", async (t) => {
  const s = await hookedServer(t, true);
  for (const [name, transport] of ourTransports(s.baseUrl, true)) {
    t.teardown(() => transport.close());
    const err = await rejection(
      createClient(TestService, transport).unary({ text: "x" }, { headers: { "x-hook": "connect-es" } }),
    );
    t.equal(err.code, Code.ResourceExhausted, `${name}: code`);
    t.equal(err.rawMessage, "slow down", `${name}: message`);
    t.equal(err.metadata.get("x-why"), "quota", `${name}: metadata`);
    t.same(
      err.findDetails(ErrorInfoSchema).map((d) => d.fields),
      [{ kind: "connect-es" }],
      `${name}: details`,
    );
  }
});

t.test("a connect-node client failing inside a handler: its @connectrpc/connect error passes through", async (t) => {
  const failing = await startServer({ http2: true });
  t.teardown(failing.close);
  const upstream = createEsClient(TestService, createEsGrpcTransport({ baseUrl: failing.baseUrl }));
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, {
        ...testServiceImpl,
        // The upstream call's rejection is not caught: a connect-es ConnectError reaches the plugin.
        unary: (req) => upstream.unary(req),
      });
    },
    interceptors: [
      // A connect-es-style interceptor that refuses with connect-es's ConnectError.
      (next) => async (req) => {
        if (req.header.get("x-interceptor") === "no") {
          throw new EsConnectError("interceptor refused", EsCode.Aborted, { "x-from": "interceptor" });
        }
        return next(req);
      },
    ],
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const transport = createConnectTransport({ baseUrl });
  t.teardown(() => transport.close());
  const client = createClient(TestService, transport);

  const err = await rejection(client.unary({ text: "error:not_found:no such item" }));
  t.equal(err.code, Code.NotFound, "the upstream's code, not internal");
  t.equal(err.rawMessage, "no such item", "the upstream's message");
  t.equal(err.metadata.get("x-error-meta"), "yes", "the upstream's metadata");
  t.same(
    err.findDetails(ErrorInfoSchema).map((d) => d.reason),
    ["on-purpose"],
    "the upstream's details",
  );

  for (const call of [
    () => client.unary({ text: "x" }, { headers: { "x-interceptor": "no" } }),
    () => collect(client.serverStream({ text: "x", count: 2 }, { headers: { "x-interceptor": "no" } })),
  ]) {
    const result = await call().then(
      (r) => ("error" in r ? (r.error as ConnectError | undefined) : undefined),
      (e: unknown) => e as ConnectError,
    );
    t.equal(result?.code, Code.Aborted, "the interceptor's code");
    t.equal(result?.rawMessage, "interceptor refused", "the interceptor's message");
    t.equal(result?.metadata.get("x-from"), "interceptor", "the interceptor's metadata");
  }
});

t.test("a client interceptor throwing @connectrpc/connect's ConnectError keeps its code", async (t) => {
  const s = await startServer();
  t.teardown(s.close);
  const transport = createConnectTransport({
    baseUrl: s.baseUrl,
    interceptors: [
      () => async () => {
        throw new EsConnectError("offline", EsCode.Unavailable, { "x-from": "client" });
      },
    ],
  });
  t.teardown(() => transport.close());
  const err = await rejection(createClient(TestService, transport).unary({ text: "x" }));
  t.equal(err.code, Code.Unavailable);
  t.equal(err.rawMessage, "offline");
  t.equal(err.metadata.get("x-from"), "client");
});

t.test("REST routes keep Fastify's own error handling", async (t) => {
  const build = async (withPlugin: boolean, appHandler: boolean) => {
    const app = Fastify();
    t.teardown(() => app.close());
    addHooks(app);
    if (appHandler) {
      app.setErrorHandler((error: Error, _request, reply) => {
        reply.code(418).send({ appHandler: true, message: error.message });
      });
    }
    app.get("/rest", async () => ({ ok: true }));
    if (withPlugin) {
      await app.register(fastifyConnectRpc, { routes: (router) => router.service(TestService, testServiceImpl) });
    }
    await app.ready();
    return app;
  };
  for (const kind of ["connect", "crash", "status-429"]) {
    const plain = await (await build(false, false)).inject({ url: "/rest", headers: { "x-hook": kind } });
    const ours = await (await build(true, false)).inject({ url: "/rest", headers: { "x-hook": kind } });
    t.equal(ours.statusCode, plain.statusCode, `${kind}: Fastify's default status (${plain.statusCode})`);
    t.same(ours.json(), plain.json(), `${kind}: Fastify's default error body`);
  }
  const app = await build(true, true);
  const rest = await app.inject({ url: "/rest", headers: { "x-hook": "connect" } });
  t.equal(rest.statusCode, 418, "the app's own error handler still answers REST routes");
  t.same(rest.json(), { appHandler: true, message: "[permission_denied] no token" });
  const rpc = await app.inject({
    method: "POST",
    url: "/fcr.test.v1.TestService/Unary",
    headers: { "content-type": "application/json", "x-hook": "connect" },
    payload: "{}",
  });
  t.equal(rpc.statusCode, 403, "while RPC routes answer with the RPC error");
  t.equal(rpc.json().code, "permission_denied");
});
