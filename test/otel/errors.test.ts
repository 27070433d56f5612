// How a failed call shows in its spans: the system's status code attribute,
// and the span status as the conventions set it (v1.37.0, grpc.md "gRPC
// Status", connect-rpc.md "Connect RPC Status"); deadlines and cancellation
// end the spans of streams too.
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import t, { type Test } from "tap";
import {
  Code,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "../../lib/client/index.js";
import { otelClientInterceptor, otelServerInterceptor } from "../../lib/otel/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection } from "../helpers/client-calls.js";
import { createTestTelemetry, spanOf } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";

const SERVICE = "fcr.test.v1.TestService";
const protocols = [
  { name: "Connect", make: createConnectTransport, system: "connect_rpc" },
  { name: "gRPC", make: createGrpcTransport, system: "grpc" },
  { name: "gRPC-Web", make: createGrpcWebTransport, system: "grpc" },
] as const;

async function setup(t: Test, make: (typeof protocols)[number]["make"]) {
  const tel = createTestTelemetry();
  const server = await startServer({ http2: true, plugin: { interceptors: [otelServerInterceptor(tel.options)] } });
  const transport = make({
    baseUrl: server.baseUrl,
    httpVersion: "2",
    interceptors: [otelClientInterceptor(tel.options)],
  });
  t.teardown(async () => {
    transport.close();
    await server.close();
  });
  return { tel, client: createClient(TestService, transport) };
}

for (const p of protocols) {
  const grpc = p.system === "grpc";
  const codeAttribute = (code: Code, name: string) =>
    grpc ? { "rpc.grpc.status_code": code } : { "rpc.connect_rpc.error_code": name };

  t.test(`${p.name}: an application error (not_found)`, async (t) => {
    const { tel, client } = await setup(t, p.make);
    t.equal((await rejection(client.unary({ text: "error:not_found:nope" }))).code, Code.NotFound);
    const spans = await tel.spans(2);
    const clientSpan = spanOf(spans, `${SERVICE}/Unary`, SpanKind.CLIENT);
    const serverSpan = spanOf(spans, `${SERVICE}/Unary`, SpanKind.SERVER);
    for (const s of [clientSpan, serverSpan]) t.match(s.attributes, codeAttribute(Code.NotFound, "not_found"));
    t.equal(clientSpan.status.code, SpanStatusCode.ERROR, "client: every error is an Error status");
    t.equal(clientSpan.status.message, "nope");
    // gRPC: a server span is Error only for the server's own faults; Connect: for every error.
    t.equal(serverSpan.status.code, grpc ? SpanStatusCode.UNSET : SpanStatusCode.ERROR, "server status");
  });

  t.test(`${p.name}: a handler that throws a plain Error is internal, an Error on both sides`, async (t) => {
    const { tel, client } = await setup(t, p.make);
    t.equal((await rejection(client.unary({ text: "error:throw" }))).code, Code.Internal);
    const spans = await tel.spans(2);
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      const s = spanOf(spans, `${SERVICE}/Unary`, kind);
      t.match(s.attributes, codeAttribute(Code.Internal, "internal"));
      t.equal(s.status.code, SpanStatusCode.ERROR);
    }
    t.equal(
      spanOf(spans, `${SERVICE}/Unary`, SpanKind.CLIENT).status.message,
      "internal error",
      "the client saw no detail",
    );
  });

  t.test(`${p.name}: a server stream that fails after two messages`, async (t) => {
    const { tel, client } = await setup(t, p.make);
    const { messages, error } = await collect(client.serverStream({ text: "error:aborted:late", count: 2 }));
    t.equal(messages.length, 2);
    t.equal(error?.code, Code.Aborted);
    const spans = await tel.spans(2);
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      t.match(spanOf(spans, `${SERVICE}/ServerStream`, kind).attributes, codeAttribute(Code.Aborted, "aborted"));
    }
  });

  t.test(`${p.name}: a deadline ends both spans with deadline_exceeded`, async (t) => {
    const { tel, client } = await setup(t, p.make);
    const e = await rejection(client.unary({ text: "slow", delayMs: 2000 }, { timeoutMs: 100 }));
    t.equal(e.code, Code.DeadlineExceeded);
    const { error } = await collect(client.serverStream({ text: "slow", count: 3, delayMs: 2000 }, { timeoutMs: 100 }));
    t.equal(error?.code, Code.DeadlineExceeded);
    const spans = await tel.spans(4);
    for (const method of ["Unary", "ServerStream"]) {
      const clientSpan = spanOf(spans, `${SERVICE}/${method}`, SpanKind.CLIENT);
      t.match(clientSpan.attributes, codeAttribute(Code.DeadlineExceeded, "deadline_exceeded"), `${method} client`);
      t.equal(clientSpan.status.code, SpanStatusCode.ERROR, "deadline_exceeded is an Error");
      // Both ends start the same clock; the client's starts first, so the server
      // sees either its own deadline pass or the reset the client's deadline sent.
      const serverSpan = spanOf(spans, `${SERVICE}/${method}`, SpanKind.SERVER);
      const serverCode = serverSpan.attributes[grpc ? "rpc.grpc.status_code" : "rpc.connect_rpc.error_code"];
      t.ok(
        grpc
          ? serverCode === Code.DeadlineExceeded || serverCode === Code.Canceled
          : serverCode === "deadline_exceeded" || serverCode === "cancelled",
        `${method} server: ended by the deadline (${serverCode})`,
      );
      for (const s of [clientSpan, serverSpan]) {
        // The span ends at the deadline, not when the handler's 2 s sleep would have.
        const ms = (s.duration[0] * 1e9 + s.duration[1]) / 1e6;
        t.ok(ms < 1500, `${method} ${s.kind}: ended at the deadline (${ms.toFixed(0)} ms)`);
      }
    }
  });

  t.test(`${p.name}: cancelling a stream ends both spans with canceled`, async (t) => {
    const { tel, client } = await setup(t, p.make);
    const controller = new AbortController();
    const got: unknown[] = [];
    const e = await rejection(
      (async () => {
        for await (const m of client.serverStream(
          { text: "x", count: 100, delayMs: 20 },
          { signal: controller.signal },
        )) {
          got.push(m);
          if (got.length === 2) controller.abort();
        }
      })(),
    );
    t.equal(e.code, Code.Canceled);
    const spans = await tel.spans(2);
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      t.match(spanOf(spans, `${SERVICE}/ServerStream`, kind).attributes, codeAttribute(Code.Canceled, "cancelled"));
    }
  });
}

t.test("a reader that stops early (break) ends the client span as canceled", async (t) => {
  const { tel, client } = await setup(t, createGrpcTransport);
  for await (const _ of client.serverStream({ text: "x", count: 10 })) break;
  const spans = await tel.spans(1);
  t.match(spanOf(spans, `${SERVICE}/ServerStream`, SpanKind.CLIENT).attributes, {
    "rpc.grpc.status_code": Code.Canceled,
  });
});
