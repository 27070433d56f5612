// One CLIENT span per call made and one SERVER span per call handled, for
// every call kind over Connect, gRPC and gRPC-Web, with the attributes of the
// OpenTelemetry semantic conventions v1.37.0 for RPC, the real SDK recording.
import { createClient as createPeerClient } from "@connectrpc/connect";
import { createGrpcTransport as createPeerGrpcTransport } from "@connectrpc/connect-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
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
import { createTestTelemetry, spanOf } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";

const SERVICE = "fcr.test.v1.TestService";
const protocols = [
  { name: "Connect", make: createConnectTransport, system: "connect_rpc" },
  { name: "gRPC", make: createGrpcTransport, system: "grpc" },
  { name: "gRPC-Web", make: createGrpcWebTransport, system: "grpc" },
] as const;

for (const p of protocols) {
  t.test(`${p.name}: every call kind has a CLIENT span and a SERVER span, its child`, async (t) => {
    const tel = createTestTelemetry();
    const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
    const transport = p.make({
      baseUrl: server.baseUrl,
      httpVersion: "2",
      interceptors: [otelClientInterceptor(tel.options)],
    });
    t.teardown(async () => {
      transport.close();
      await server.close();
      await tel.shutdown();
    });
    const client = createClient(TestService, transport);
    await client.unary({ text: "a" });
    t.equal((await collect(client.serverStream({ text: "b", count: 3 }))).messages.length, 3);
    await client.clientStream([{ text: "c" }, { text: "d" }]);
    t.equal((await collect(client.bidi([{ text: "e" }, { text: "f" }]))).messages.length, 2);
    const spans = await tel.spans(8);
    t.equal(spans.length, 8, "one span per call on each side, nothing more");
    for (const method of ["Unary", "ServerStream", "ClientStream", "Bidi"]) {
      const name = `${SERVICE}/${method}`;
      const clientSpan = spanOf(spans, name, SpanKind.CLIENT);
      const serverSpan = spanOf(spans, name, SpanKind.SERVER);
      t.equal(serverSpan.spanContext().traceId, clientSpan.spanContext().traceId, `${method}: one trace`);
      t.equal(
        serverSpan.parentSpanContext?.spanId,
        clientSpan.spanContext().spanId,
        `${method}: server span is the client span's child`,
      );
      t.notOk(clientSpan.parentSpanContext, `${method}: the client span is a root`);
      const common = {
        "rpc.system": p.system,
        "rpc.service": SERVICE,
        "rpc.method": method,
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "network.protocol.name": "http",
        "network.protocol.version": "2",
        "network.transport": "tcp",
      };
      t.match(clientSpan.attributes, common, `${method}: client attributes`);
      t.match(serverSpan.attributes, { ...common, "network.peer.address": "127.0.0.1", "network.type": "ipv4" });
      t.type(serverSpan.attributes["network.peer.port"], "number", `${method}: network.peer.port`);
      for (const s of [clientSpan, serverSpan]) {
        if (p.system === "grpc") t.equal(s.attributes["rpc.grpc.status_code"], 0, `${method}: gRPC status 0`);
        else t.notOk("rpc.connect_rpc.error_code" in s.attributes, `${method}: no Connect error code on success`);
        t.equal(s.status.code, SpanStatusCode.UNSET, `${method}: status unset on success`);
        t.same(s.events, [], `${method}: no message events unless asked for`);
      }
    }
  });
}

t.test("the HTTP version is the one the call used: 1.1", async (t) => {
  const tel = createTestTelemetry();
  const server = await startServer({ plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    interceptors: [otelClientInterceptor(tel.options)],
  });
  t.teardown(async () => {
    transport.close();
    await server.close();
  });
  await createClient(TestService, transport).unary({ text: "a" });
  const spans = await tel.spans(2);
  for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
    t.equal(spanOf(spans, `${SERVICE}/Unary`, kind).attributes["network.protocol.version"], "1.1");
  }
});

t.test("a connect-node gRPC client's traceparent is the server span's parent", async (t) => {
  const tel = createTestTelemetry();
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
  t.teardown(() => server.close());
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const parentId = "b7ad6b7169203331";
  const client = createPeerClient(TestService, createPeerGrpcTransport({ baseUrl: server.baseUrl }));
  await client.unary({ text: "a" }, { headers: { traceparent: `00-${traceId}-${parentId}-01` } });
  const [span] = await tel.spans(1);
  t.equal(span.kind, SpanKind.SERVER);
  t.equal(span.spanContext().traceId, traceId, "the trace id came from the header");
  t.equal(span.parentSpanContext?.spanId, parentId, "the parent is the caller's span");
  t.equal(span.parentSpanContext?.isRemote, true, "a remote parent");
});

t.test("no traceparent: the server span is a root", async (t) => {
  const tel = createTestTelemetry();
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
  t.teardown(() => server.close());
  await createPeerClient(TestService, createPeerGrpcTransport({ baseUrl: server.baseUrl })).unary({ text: "a" });
  const [span] = await tel.spans(1);
  t.notOk(span.parentSpanContext, "no parent");
});
