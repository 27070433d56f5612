// The interceptors' options: bad ones fail when the interceptor is made,
// message events are off unless asked for, and the global providers are the
// default (the API alone, with no SDK, passes every call through).
import { metrics, propagation, SpanKind, trace } from "@opentelemetry/api";
import t from "tap";
import { createClient, createGrpcTransport, createGrpcWebTransport } from "../../lib/client/index.js";
import { type OtelInterceptorOptions, otelClientInterceptor, otelServerInterceptor } from "../../lib/otel/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect } from "../helpers/client-calls.js";
import { createTestTelemetry, spanOf } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";

const SERVICE = "fcr.test.v1.TestService";

t.test("bad options fail at once, naming the option", async (t) => {
  const bad: [unknown, RegExp][] = [
    ["yes", /option "options" must be an object/],
    [{ tracerProvider: {} }, /option "tracerProvider" must be an object with a getTracer\(\) method/],
    [{ meterProvider: 1 }, /option "meterProvider" must be an object with a getMeter\(\) method/],
    [{ propagator: null }, /option "propagator" must be an object with a inject\(\) method/],
    [{ messageEvents: "on" }, /option "messageEvents" must be a boolean; got "on"/],
  ];
  for (const [options, message] of bad) {
    t.throws(() => otelServerInterceptor(options as OtelInterceptorOptions), message);
    t.throws(() => otelClientInterceptor(options as OtelInterceptorOptions), message);
  }
});

t.test("messageEvents: a message event per message, with id and uncompressed size", async (t) => {
  const tel = createTestTelemetry();
  const options = { ...tel.options, messageEvents: true };
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(options)] } });
  const transport = createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [otelClientInterceptor(options)] });
  t.teardown(async () => {
    transport.close();
    await server.close();
  });
  await collect(createClient(TestService, transport).bidi([{ text: "a" }, { text: "bbbb" }]));
  const spans = await tel.spans(2);
  const events = (kind: SpanKind) =>
    spanOf(spans, `${SERVICE}/Bidi`, kind).events.map(
      (e): Record<string, unknown> => ({ name: e.name, ...e.attributes }),
    );
  const sent = (id: number, size: number) => ({
    name: "message",
    "rpc.message.type": "SENT",
    "rpc.message.id": id,
    "rpc.message.uncompressed_size": size,
  });
  const received = (id: number, size: number) => ({ ...sent(id, size), "rpc.message.type": "RECEIVED" });
  // "a" is 3 bytes as an EchoRequest (tag, length, byte); the response adds index 1 (2 bytes) to the second.
  const clientEvents = events(SpanKind.CLIENT);
  t.same(
    clientEvents.filter((e) => e["rpc.message.type"] === "SENT"),
    [sent(1, 3), sent(2, 6)],
    "client: requests sent",
  );
  t.same(
    clientEvents.filter((e) => e["rpc.message.type"] === "RECEIVED"),
    [received(1, 3), received(2, 8)],
    "client: responses received",
  );
  const serverEvents = events(SpanKind.SERVER);
  t.same(
    serverEvents.filter((e) => e["rpc.message.type"] === "RECEIVED"),
    [received(1, 3), received(2, 6)],
    "server: requests received",
  );
  t.same(
    serverEvents.filter((e) => e["rpc.message.type"] === "SENT"),
    [sent(1, 3), sent(2, 8)],
    "server: responses sent (a handler's plain object is sized as its message)",
  );
});

t.test("the global providers are the default", async (t) => {
  const tel = createTestTelemetry();
  trace.setGlobalTracerProvider(tel.tracerProvider);
  metrics.setGlobalMeterProvider(tel.options.meterProvider);
  propagation.setGlobalPropagator(tel.options.propagator);
  t.teardown(() => {
    trace.disable();
    metrics.disable();
    propagation.disable();
  });
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor()] } });
  const transport = createGrpcWebTransport({
    baseUrl: server.baseUrl,
    httpVersion: "2",
    interceptors: [otelClientInterceptor()],
  });
  t.teardown(async () => {
    transport.close();
    await server.close();
  });
  await createClient(TestService, transport).unary({ text: "a" });
  const spans = await tel.spans(2);
  const serverSpan = spanOf(spans, `${SERVICE}/Unary`, SpanKind.SERVER);
  t.equal(
    serverSpan.parentSpanContext?.spanId,
    spanOf(spans, `${SERVICE}/Unary`, SpanKind.CLIENT).spanContext().spanId,
  );
  t.equal((await tel.histogram("rpc.server.duration")).length, 1, "the global meter provider measured");
});

t.test("the API alone (no SDK registered): calls pass through unchanged", async (t) => {
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor()] } });
  const seen: (string | null)[] = [];
  const transport = createGrpcTransport({
    baseUrl: server.baseUrl,
    interceptors: [
      otelClientInterceptor(),
      (next) => (req) => {
        seen.push(req.header.get("traceparent"));
        return next(req);
      },
    ],
  });
  t.teardown(async () => {
    transport.close();
    await server.close();
  });
  const client = createClient(TestService, transport);
  t.equal((await client.unary({ text: "a" })).text, "a");
  t.equal((await collect(client.serverStream({ text: "s", count: 3 }))).messages.length, 3);
  t.equal(await client.clientStream([{ text: "x" }, { text: "y" }]).then((r) => r.text), "x,y");
  t.same(seen, [null, null, null], "no propagator, no traceparent");
});
