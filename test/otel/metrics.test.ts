// The RPC metrics of semantic conventions v1.37.0 (rpc-metrics.md): duration,
// request and response sizes, messages per call, with rpc.* attributes and
// the status code, on both sides, recorded by the real metrics SDK.
import { create, toBinary } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import { Code, createClient, createConnectTransport, createGrpcTransport } from "../../lib/client/index.js";
import type { Interceptor } from "../../lib/index.js";
import { otelClientInterceptor, otelServerInterceptor } from "../../lib/otel/index.js";
import { EchoRequestSchema, EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection } from "../helpers/client-calls.js";
import { createTestTelemetry } from "../helpers/otel.js";
import { startServer } from "../helpers/server.js";

const SERVICE = "fcr.test.v1.TestService";

async function setup(t: Test, make: typeof createGrpcTransport) {
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
  return { tel, server, client: createClient(TestService, transport) };
}

t.test("gRPC: every histogram of both sides, with rpc.* attributes and the status code", async (t) => {
  const { tel, server, client } = await setup(t, createGrpcTransport);
  await client.clientStream([{ text: "a" }, { text: "bb" }, { text: "ccc" }]);
  await collect(client.serverStream({ text: "s", count: 4 }));
  t.equal((await rejection(client.unary({ text: "error:not_found" }))).code, Code.NotFound);
  await tel.spans(6);
  for (const side of ["server", "client"]) {
    const duration = await tel.histogram(`rpc.${side}.duration`);
    t.equal(duration.length, 3, `${side}: one duration series per method and code`);
    const cs = duration.find((d) => d.attributes["rpc.method"] === "ClientStream");
    t.match(cs?.attributes, {
      "rpc.system": "grpc",
      "rpc.service": SERVICE,
      "rpc.method": "ClientStream",
      "rpc.grpc.status_code": 0,
      "network.protocol.version": "2",
    });
    if (side === "client") t.match(cs?.attributes, { "server.address": "127.0.0.1", "server.port": server.port });
    else t.notOk("network.peer.port" in (cs?.attributes ?? {}), "server: no per-connection attributes in metrics");
    t.equal(cs?.value.count, 1, `${side}: one call`);
    t.ok((cs?.value.sum ?? 0) > 0, `${side}: a duration in ms`);
    const failed = duration.find((d) => d.attributes["rpc.method"] === "Unary");
    t.equal(failed?.attributes["rpc.grpc.status_code"], Code.NotFound, `${side}: the failed call's code`);

    const requests = await tel.histogram(`rpc.${side}.requests_per_rpc`);
    const responses = await tel.histogram(`rpc.${side}.responses_per_rpc`);
    const of = (points: typeof requests, method: string) =>
      points.find((d) => d.attributes["rpc.method"] === method)?.value.sum;
    t.equal(of(requests, "ClientStream"), 3, `${side}: 3 requests in the client stream`);
    t.equal(of(responses, "ClientStream"), 1);
    t.equal(of(requests, "ServerStream"), 1);
    t.equal(of(responses, "ServerStream"), 4, `${side}: 4 responses in the server stream`);
    t.equal(of(responses, "Unary"), undefined, `${side}: messages per call are recorded for streams only`);

    const requestSize = (await tel.histogram(`rpc.${side}.request.size`)).find(
      (d) => d.attributes["rpc.method"] === "ClientStream",
    );
    const sizes = ["a", "bb", "ccc"].map(
      (text) =>
        toBinary(EchoRequestSchema, {
          $typeName: "fcr.test.v1.EchoRequest",
          text,
          count: 0,
          payload: new Uint8Array(0),
          delayMs: 0,
        }).byteLength,
    );
    t.equal(requestSize?.value.count, 3, `${side}: one request size per message of a stream`);
    t.equal(
      requestSize?.value.sum,
      sizes.reduce((a, b) => a + b),
      `${side}: uncompressed protobuf sizes`,
    );
    const responseSize = (await tel.histogram(`rpc.${side}.response.size`)).find(
      (d) => d.attributes["rpc.method"] === "ServerStream",
    );
    t.equal(responseSize?.value.count, 4, `${side}: one response size per message`);
  }
});

t.test("Connect: the error code attribute is on failed calls only", async (t) => {
  const { tel, client } = await setup(t, createConnectTransport);
  await client.unary({ text: "ok" });
  await rejection(client.unary({ text: "error:permission_denied" }));
  await tel.spans(4);
  for (const side of ["server", "client"]) {
    const points = await tel.histogram(`rpc.${side}.duration`);
    t.same(
      points.map((p) => p.attributes["rpc.connect_rpc.error_code"]).sort(),
      ["permission_denied", undefined],
      `${side}: one series without an error code, one with`,
    );
    t.ok(points.every((p) => p.attributes["rpc.system"] === "connect_rpc"));
  }
});

// The server measures messages on what it decoded and encoded rather than
// encoding them a second time: these pin what that must still count.
t.test("server sizes: protobuf, JSON, compressed, and messages an outer interceptor replaced", async (t) => {
  const tel = createTestTelemetry();
  const outer: Interceptor = (next) => async (req) => {
    const text = req.message as { text?: string };
    if (req.stream || text.text !== "replace") return next(req);
    // A new request message, and a response changed in place after the otel interceptor saw it.
    const res = await next({ ...req, message: create(EchoRequestSchema, { text: "replaced-request" }) });
    (res.message as { text: string }).text = "a longer response text, changed after the otel interceptor";
    return res;
  };
  const server = await startServer({
    http2: true,
    plugin: { interceptors: [outer, otelServerInterceptor(tel.options)] },
  });
  t.teardown(() => server.close());
  const payload = new Uint8Array(3000).fill(7);
  const calls = [
    { name: "Connect proto", transport: { useBinaryFormat: true }, text: "proto" },
    { name: "Connect JSON", transport: { useBinaryFormat: false }, text: "json" },
    { name: "Connect gzip", transport: { sendCompression: "gzip" }, text: "gzip" },
    { name: "outer interceptor", transport: {}, text: "replace" },
  ];
  for (const c of calls) {
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", ...c.transport });
    await createClient(TestService, transport).unary({ text: c.text, payload });
    transport.close();
  }
  await tel.spans(calls.length);
  const sum = async (name: string) => {
    const points = await tel.histogram(name);
    return points.reduce((a, p) => a + (p.value.sum ?? 0), 0);
  };
  const size = (text: string, withPayload = true) =>
    toBinary(EchoRequestSchema, create(EchoRequestSchema, { text, payload: withPayload ? payload : undefined }))
      .byteLength;
  const responseSize = (text: string, withPayload = true) =>
    toBinary(EchoResponseSchema, create(EchoResponseSchema, { text, payload: withPayload ? payload : undefined }))
      .byteLength;
  t.equal(
    await sum("rpc.server.request.size"),
    size("proto") + size("json") + size("gzip") + size("replaced-request", false),
    "request sizes: uncompressed protobuf, JSON as protobuf, and the replaced message",
  );
  t.equal(
    await sum("rpc.server.response.size"),
    responseSize("proto") +
      responseSize("json") +
      responseSize("gzip") +
      responseSize("a longer response text, changed after the otel interceptor", false),
    "response sizes: what was encoded and sent, recorded after the unary call's span ended",
  );
});
