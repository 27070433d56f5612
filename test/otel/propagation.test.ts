// Trace context crosses processes in headers (W3C traceparent, tracestate,
// baggage) over every protocol, and a client call made inside a handler with
// `{ context: ctx }` is a child of the handler's span: one trace from the
// first client through two servers.
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import t, { type Test } from "tap";
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { otelClientInterceptor, otelServerInterceptor } from "../../lib/otel/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect } from "../helpers/client-calls.js";
import { createTestTelemetry, spanOf, useAsyncContext } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const SERVICE = "fcr.test.v1.TestService";

type Make = typeof createConnectTransport;

/**
 * Server B serves TestService; server A's unary and server-streaming
 * handlers call B through a client, passing their context.
 */
async function twoHops(t: Test, makeAtoB: Make, makeToA: Make) {
  const tel = createTestTelemetry();
  const serverB = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
  const toB: Transport = makeAtoB({
    baseUrl: serverB.baseUrl,
    httpVersion: "2",
    interceptors: [otelClientInterceptor(tel.options)],
  });
  const b = createClient(TestService, toB);
  const seenBaggage: (string | undefined)[] = [];
  const serverA = await startServer({
    http2: true,
    plugin: {
      interceptors: [otelServerInterceptor(tel.options)],
      routes(router) {
        router.service(TestService, {
          ...testServiceImpl,
          async unary(req, ctx) {
            seenBaggage.push(propagation.getBaggage(context.active())?.getEntry("tenant")?.value);
            const res = await b.unary({ text: `via A: ${req.text}` }, { context: ctx });
            return { text: res.text };
          },
          async *serverStream(req, ctx) {
            for await (const m of b.serverStream({ ...req }, { context: ctx })) yield { text: m.text, index: m.index };
          },
        });
      },
    },
  });
  const toA = makeToA({
    baseUrl: serverA.baseUrl,
    httpVersion: "2",
    interceptors: [otelClientInterceptor(tel.options)],
  });
  t.teardown(async () => {
    toA.close();
    toB.close();
    await serverA.close();
    await serverB.close();
  });
  return { tel, a: createClient(TestService, toA), seenBaggage };
}

/** The four spans of one two-hop call, in call order, checked to form one chain. */
function checkChain(t: Test, spans: ReadableSpan[], method: string) {
  const name = `${SERVICE}/${method}`;
  const mine = spans.filter((s) => s.name === name);
  t.equal(mine.length, 4, `${method}: four spans`);
  const root = mine.find((s) => s.kind === SpanKind.CLIENT && !s.parentSpanContext);
  t.ok(root, `${method}: the first client span is the root`);
  if (!root) return;
  const chain = [root];
  for (let i = 0; i < 3; i++) {
    const parent = chain[chain.length - 1];
    const child = mine.find((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
    t.ok(child, `${method}: span ${i + 2} is a child of span ${i + 1}`);
    if (!child) return;
    chain.push(child);
  }
  t.same(
    chain.map((s) => s.kind),
    [SpanKind.CLIENT, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.SERVER],
    `${method}: client -> server -> client -> server`,
  );
  t.equal(new Set(chain.map((s) => s.spanContext().traceId)).size, 1, `${method}: one trace`);
}

const pairs: [string, Make, Make][] = [
  ["Connect then gRPC", createConnectTransport, createGrpcTransport],
  ["gRPC then gRPC-Web", createGrpcTransport, createGrpcWebTransport as Make],
  ["gRPC-Web then Connect", createGrpcWebTransport as Make, createConnectTransport],
];

t.test("without a context manager, `{ context: ctx }` still links the hops", async (t) => {
  for (const [name, toA, aToB] of pairs) {
    await t.test(name, async (t) => {
      const { tel, a } = await twoHops(t, aToB, toA);
      t.equal((await a.unary({ text: "hi" })).text, "via A: hi");
      t.equal((await collect(a.serverStream({ text: "s", count: 2 }))).messages.length, 2);
      const spans = await tel.spans(8);
      checkChain(t, spans, "Unary");
      checkChain(t, spans, "ServerStream");
    });
  }
});

t.test("with the AsyncLocalStorage context manager", async (t) => {
  useAsyncContext();
  t.teardown(() => context.disable());
  await t.test("the handler sees its span as the active one and the caller's baggage", async (t) => {
    const { tel, a, seenBaggage } = await twoHops(t, createGrpcTransport, createConnectTransport);
    const baggage = propagation.createBaggage({ tenant: { value: "acme" } });
    await context.with(propagation.setBaggage(context.active(), baggage), () => a.unary({ text: "hi" }));
    t.same(seenBaggage, ["acme"], "baggage crossed in the baggage header");
    checkChain(t, await tel.spans(4), "Unary");
  });
  await t.test("a client span is a child of the active span; tracestate crosses too", async (t) => {
    const { tel, a } = await twoHops(t, createGrpcTransport, createGrpcTransport);
    const tracer = tel.tracerProvider.getTracer("test");
    await tracer.startActiveSpan("outer", async (outer) => {
      await a.unary({ text: "hi" });
      outer.end();
    });
    const spans = await tel.spans(5);
    const outer = spans.find((s) => s.name === "outer");
    const first = spans.find(
      (s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === outer?.spanContext().spanId,
    );
    t.ok(first, "the first client span's parent is the active span");
    t.equal(first?.name, `${SERVICE}/Unary`);
  });
  await t.test("a traceparent with tracestate reaches the server span", async (t) => {
    const tel = createTestTelemetry();
    const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
    const transport = createGrpcTransport({
      baseUrl: server.baseUrl,
      interceptors: [otelClientInterceptor(tel.options)],
    });
    t.teardown(async () => {
      transport.close();
      await server.close();
    });
    const parent = tel.options.propagator.extract(
      context.active(),
      {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate: "vendor=opaque",
      },
      { get: (c, k) => (c as Record<string, string>)[k], keys: (c) => Object.keys(c as object) },
    );
    t.ok(trace.getSpanContext(parent), "a remote parent to start from");
    await context.with(parent, () => createClient(TestService, transport).unary({ text: "x" }));
    const spans = await tel.spans(2);
    const serverSpan = spanOf(spans, `${SERVICE}/Unary`, SpanKind.SERVER);
    t.equal(serverSpan.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c");
    t.equal(serverSpan.spanContext().traceState?.get("vendor"), "opaque", "tracestate crossed");
  });
});
