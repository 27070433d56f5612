// With @fastify/otel (0.21, on the 2.x SDK and Node 20) tracing the HTTP
// requests, the RPC span is a child of the HTTP request's span rather than a
// second root, over every protocol, and the trace is the caller's.
import { FastifyOtelInstrumentation } from "@fastify/otel";
import { context, propagation, SpanKind } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import t from "tap";
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "../../lib/client/index.js";
import { otelClientInterceptor, otelServerInterceptor } from "../../lib/otel/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect } from "../helpers/client-calls.js";
import { createTestTelemetry, spanOf, useAsyncContext } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";

const SERVICE = "fcr.test.v1.TestService";

useAsyncContext();
const tel = createTestTelemetry();
// @fastify/otel extracts with the global propagator.
propagation.setGlobalPropagator(tel.options.propagator);
t.teardown(() => {
  propagation.disable();
  context.disable();
});

const fastifyOtel = new FastifyOtelInstrumentation();
fastifyOtel.setTracerProvider(tel.tracerProvider);

const server = await startServer({
  http2: true,
  setup: async (app) => {
    await app.register(fastifyOtel.plugin());
  },
  plugin: { interceptors: [otelServerInterceptor(tel.options)] },
});
t.teardown(() => server.close());

/** The span chain from `span` up to the root of its trace, as names. */
function ancestry(spans: ReadableSpan[], span: ReadableSpan): string[] {
  const names: string[] = [];
  let parentId = span.parentSpanContext?.spanId;
  while (parentId) {
    const parent = spans.find((s) => s.spanContext().spanId === parentId);
    if (!parent) break;
    names.push(`${parent.name} (${SpanKind[parent.kind]})`);
    parentId = parent.parentSpanContext?.spanId;
  }
  return names;
}

const transports = [
  { name: "Connect", make: createConnectTransport },
  { name: "gRPC", make: createGrpcTransport },
  { name: "gRPC-Web", make: createGrpcWebTransport },
] as const;

for (const p of transports) {
  t.test(`${p.name}: client -> HTTP request span -> RPC server span`, async (t) => {
    tel.exporter.reset();
    const transport = p.make({
      baseUrl: server.baseUrl,
      httpVersion: "2",
      interceptors: [otelClientInterceptor(tel.options)],
    });
    t.teardown(() => transport.close());
    const client = createClient(TestService, transport);
    await client.unary({ text: "a" });
    await collect(client.serverStream({ text: "s", count: 2 }));
    const spans = await tel.spans(6);
    for (const method of ["Unary", "ServerStream"]) {
      const clientSpan = spanOf(spans, `${SERVICE}/${method}`, SpanKind.CLIENT);
      const rpcSpan = spanOf(spans, `${SERVICE}/${method}`, SpanKind.SERVER);
      const chain = ancestry(spans, rpcSpan);
      t.not(
        rpcSpan.parentSpanContext?.spanId,
        clientSpan.spanContext().spanId,
        `${method}: not a sibling of the HTTP span`,
      );
      t.match(
        chain,
        [/^(request|handler - .*) \(/],
        `${method}: the parent is @fastify/otel's span (${chain.join(" <- ")})`,
      );
      t.ok(chain.includes("request (SERVER)"), `${method}: under the HTTP request span`);
      t.equal(
        chain[chain.length - 1],
        `${SERVICE}/${method} (CLIENT)`,
        `${method}: the trace starts at the client call`,
      );
      t.equal(rpcSpan.spanContext().traceId, clientSpan.spanContext().traceId, `${method}: one trace`);
    }
  });
}
