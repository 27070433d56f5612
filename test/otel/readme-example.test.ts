// The README's OpenTelemetry example, run: its lines are checked to be in
// this file (test/readme.test.ts, "excerpt"), and this file checks they work.
import { propagation, SpanKind, trace } from "@opentelemetry/api";
import Fastify from "fastify";
import { fastifyConnectRpc } from "fastify-connectrpc";
import { createClient, createGrpcTransport } from "fastify-connectrpc/client";
import { otelClientInterceptor, otelServerInterceptor } from "fastify-connectrpc/otel";
import t from "tap";
import { ElizaService } from "../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";
import { createTestTelemetry, spanOf, useAsyncContext } from "../helpers/otel.js";

// What an app does first: register an SDK (here the in-memory one of the tests) and the W3C propagators.
useAsyncContext();
const tel = createTestTelemetry();
trace.setGlobalTracerProvider(tel.tracerProvider);
propagation.setGlobalPropagator(tel.options.propagator);

const backendApp = Fastify({ http2: true });
await backendApp.register(fastifyConnectRpc, {
  interceptors: [otelServerInterceptor()],
  routes: (router) => router.service(ElizaService, { say: (req) => ({ sentence: `backend: ${req.sentence}` }) }),
});
const backendUrl = await backendApp.listen({ host: "127.0.0.1", port: 0 });

const transport = createGrpcTransport({ baseUrl: backendUrl, interceptors: [otelClientInterceptor()] });
const backend = createClient(ElizaService, transport);

const app = Fastify({ http2: true });
await app.register(fastifyConnectRpc, {
  interceptors: [otelServerInterceptor()],
  routes(router) {
    router.service(ElizaService, {
      // A call made with the handler's context is a child of the handler's span.
      say: (req, ctx) => backend.say(req, { context: ctx }),
    });
  },
});
const url = await app.listen({ host: "127.0.0.1", port: 0 });

t.teardown(async () => {
  transport.close();
  await app.close();
  await backendApp.close();
});

t.test("the example traces the call and the call its handler makes", async (t) => {
  const front = createGrpcTransport({ baseUrl: url });
  t.teardown(() => front.close());
  t.equal((await createClient(ElizaService, front).say({ sentence: "hi" })).sentence, "backend: hi");
  const spans = await tel.spans(3);
  const name = "connectrpc.eliza.v1.ElizaService/Say";
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER && s.name === name);
  const client = spanOf(spans, name, SpanKind.CLIENT);
  t.equal(servers.length, 2, "a SERVER span on each server");
  const [backendSpan] = servers.filter((s) => s.parentSpanContext?.spanId === client.spanContext().spanId);
  const [frontSpan] = servers.filter((s) => s !== backendSpan);
  t.ok(backendSpan, "the backend's span is a child of the client call");
  t.equal(
    client.parentSpanContext?.spanId,
    frontSpan?.spanContext().spanId,
    "the client call is a child of the handler's span",
  );
});
