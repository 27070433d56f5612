// The per-call log line ("rpc completed") follows Fastify's conventions: one
// line per RPC through request.log, silenced by Fastify's
// disableRequestLogging (a boolean or a function of the request), filtered
// by the plugin's logLevel register option, and decided outright by the
// plugin's logCalls option.
import Fastify, { type FastifyRequest, type FastifyServerOptions, LogController } from "fastify";
import t, { type Test } from "tap";
import { createClient, createGrpcTransport, fastifyConnectRpc } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection } from "../helpers/client-calls.js";
import { logCapture } from "../helpers/raw-http.js";
import { testServiceImpl } from "../helpers/test-service.js";

interface Setup {
  fastify?: Partial<FastifyServerOptions>;
  logCalls?: boolean;
  logLevel?: string;
}

/** An h2c app with a capturing logger; makes a unary, a failing unary and a server-stream call; returns the lines. */
async function linesOf(t: Test, setup: Setup): Promise<Record<string, unknown>[]> {
  const { stream, lines } = logCapture();
  const app = Fastify({ http2: true, logger: { stream, level: "info" }, ...setup.fastify } as FastifyServerOptions);
  t.teardown(() => app.close());
  app.get("/rest", async () => ({ ok: true }));
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, testServiceImpl);
    },
    ...(setup.logCalls === undefined ? {} : { logCalls: setup.logCalls }),
    ...(setup.logLevel === undefined ? {} : { logLevel: setup.logLevel as "warn" }),
  });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  lines.length = 0; // the "Server listening" line
  const transport = createGrpcTransport({ baseUrl });
  t.teardown(() => transport.close());
  const client = createClient(TestService, transport);
  await client.unary({ text: "a" });
  await rejection(client.unary({ text: "error:not_found:x" }));
  await collect(client.serverStream({ text: "s", count: 2 }));
  await app.inject({ url: "/rest" });
  return lines;
}

const rpcLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === "rpc completed");

t.test("by default each RPC writes one rpc completed line, next to Fastify's request lines", async (t) => {
  const lines = await linesOf(t, {});
  t.same(
    rpcLines(lines).map((l) => [l.rpc, l.protocol, l.code, l.level, typeof l.durationMs, typeof l.reqId]),
    [
      ["fcr.test.v1.TestService/Unary", "grpc", "ok", 30, "number", "string"],
      ["fcr.test.v1.TestService/Unary", "grpc", "not_found", 30, "number", "string"],
      ["fcr.test.v1.TestService/ServerStream", "grpc", "ok", 30, "number", "string"],
    ],
    "one info line per call, with the request's id",
  );
  t.equal(lines.filter((l) => l.msg === "incoming request").length, 4, "Fastify still logs its own lines");
});

t.test("disableRequestLogging: true silences it like Fastify's own request lines", async (t) => {
  const lines = await linesOf(t, { fastify: { disableRequestLogging: true } });
  t.same(lines, [], "no line at all");
});

t.test("disableRequestLogging as a function decides per request", async (t) => {
  // Keep Fastify's lines for REST, and only ours for RPCs: one line per RPC in all.
  const isRpc = (req: { url?: string }) => req.url?.startsWith("/fcr.") === true;
  const lines = await linesOf(t, { fastify: { disableRequestLogging: isRpc } as never, logCalls: true });
  t.equal(rpcLines(lines).length, 3, "logCalls: true writes ours even though Fastify's are off for RPCs");
  t.same(
    lines.filter((l) => l.msg !== "rpc completed").map((l) => (l.req as { url?: string } | undefined)?.url ?? l.msg),
    ["/rest", "request completed"],
    "exactly one line per RPC; the REST route keeps Fastify's two",
  );
  const off = await linesOf(t, { fastify: { disableRequestLogging: isRpc } as never });
  t.equal(rpcLines(off).length, 0, "left to follow Fastify, ours is off where Fastify's are");
});

t.test("a Fastify log controller (Fastify >= 5.12) that disables request logging silences it too", async (t) => {
  class RpcQuiet extends LogController {
    override isLogDisabled(req: FastifyRequest): boolean {
      return req.url.startsWith("/fcr.");
    }
  }
  const lines = await linesOf(t, { fastify: { logController: new RpcQuiet() } as never });
  t.equal(rpcLines(lines).length, 0, "off where the controller turns Fastify's off");
  t.equal(lines.length, 2, "the REST route's two lines remain");
});

t.test("logCalls: false turns it off, Fastify's lines stay", async (t) => {
  const lines = await linesOf(t, { logCalls: false });
  t.equal(rpcLines(lines).length, 0);
  t.equal(lines.filter((l) => l.msg === "incoming request").length, 4);
});

t.test("the plugin's logLevel register option filters it like any request log", async (t) => {
  const lines = await linesOf(t, { logLevel: "warn" });
  t.equal(rpcLines(lines).length, 0, "info lines of RPC routes are filtered");
  t.equal(lines.filter((l) => l.msg === "incoming request").length, 1, "the REST route's level is untouched");
});

t.test("a bad logCalls fails register with a clear message", async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await t.rejects(
    (async () => {
      await app.register(fastifyConnectRpc, { routes() {}, logCalls: "yes" as never });
    })(),
    /logCalls.*a boolean/,
  );
});
