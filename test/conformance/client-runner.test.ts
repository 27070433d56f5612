// conformance/client-runner driven as connectconformance --mode client drives
// it: many size-delimited ClientCompatRequests on stdin at once, then EOF; one
// ClientCompatResponse per request on stdout, in any order; exit code 0 once
// all are written. The ConformanceService it calls runs in this process
// (startConformanceServer, this library's plugin), plain and with TLS.
import * as net from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { FastifyInstance } from "fastify";
import t, { type Test } from "tap";
import {
  ClientCompatRequest_CancelSchema,
  ClientCompatRequestSchema,
  type ClientCompatResponse,
  ClientCompatResponseSchema,
  type ClientResponseResult,
} from "../../conformance/gen/connectrpc/conformance/v1/client_compat_pb.js";
import {
  Codec,
  Compression,
  Code as ConfCode,
  HTTPVersion,
  Protocol,
  StreamType,
} from "../../conformance/gen/connectrpc/conformance/v1/config_pb.js";
import { ServerCompatRequestSchema } from "../../conformance/gen/connectrpc/conformance/v1/server_compat_pb.js";
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  type ConformancePayload,
  ConformancePayload_RequestInfoSchema,
  ConformanceService,
  type Header,
  HeaderSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
} from "../../conformance/gen/connectrpc/conformance/v1/service_pb.js";
import { startConformanceServer } from "../../conformance/server.js";
import {
  CLIENT_RUNNER,
  clientCert,
  exitWithin,
  serverCert,
  splitFrames,
  startRunner,
} from "../helpers/conformance-runner.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "<none>");
const header = (name: string, ...value: string[]) => create(HeaderSchema, { name, value });

function values(list: Header[] | undefined, name: string): string[] | undefined {
  const found = list?.filter((h) => h.name.toLowerCase() === name);
  return found && found.length > 0 ? found.flatMap((h) => h.value) : undefined;
}

const requestTypes = [
  UnaryRequestSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  ClientStreamRequestSchema,
  BidiStreamRequestSchema,
];

/** The request data of echoed requests (checking they are of type `typeName`). */
function echoed(t: Test, requests: Any[] | undefined, typeName: string): string[] {
  return (requests ?? []).map((any) => {
    t.equal(any.typeUrl, `type.googleapis.com/${typeName}`, "echoed request type");
    const desc = requestTypes.find((d) => d.typeName === typeName);
    const m = desc ? anyUnpack(any, desc) : undefined;
    return m && "requestData" in m ? dec(m.requestData) : "<undecodable>";
  });
}

/**
 * Writes every request at once, closes stdin, reads one response per request
 * (any order), and checks the runner then exits with code 0 having written
 * nothing but those frames.
 */
async function runBatch(
  t: Test,
  requests: MessageInitShape<typeof ClientCompatRequestSchema>[],
): Promise<Map<string, ClientCompatResponse>> {
  const runner = startRunner(CLIENT_RUNNER);
  t.teardown(() => runner.kill());
  const started = Date.now();
  for (const r of requests) runner.write(ClientCompatRequestSchema, create(ClientCompatRequestSchema, r));
  runner.end();
  const results = new Map<string, ClientCompatResponse>();
  for (let i = 0; i < requests.length; i++) {
    const res = await runner.read(ClientCompatResponseSchema, 20_000).catch((e: Error) => e);
    if (res instanceof Error) {
      t.fail(`response ${i + 1} of ${requests.length}: ${res.message}`);
      break;
    }
    t.notOk(results.has(res.testName), `one response for ${res.testName}`);
    results.set(res.testName, res);
  }
  const exit = await exitWithin(runner, 10_000);
  t.same(exit, { code: 0, signal: null }, `the runner exits with code 0 at EOF (after ${Date.now() - started} ms)`);
  const { frames, rest } = splitFrames(runner.stdout());
  t.equal(frames.length, requests.length, "stdout holds one frame per request");
  t.equal(rest.byteLength, 0, "and nothing else");
  t.same([...results.keys()].sort(), requests.map((r) => r.testName).sort(), "every test name answered");
  return results;
}

t.test("client-runner: requests in, results out, exit 0 at EOF", async (t) => {
  const plain = await startConformanceServer(create(ServerCompatRequestSchema, {}));
  t.teardown(() => plain.app.close());
  const server = serverCert();
  const client = clientCert();
  const secure = await startConformanceServer(
    create(ServerCompatRequestSchema, {
      useTls: true,
      serverCreds: { cert: server.cert, key: server.key },
      clientTlsCert: client.cert,
    }),
  );
  t.teardown(() => secure.app.close());

  type RequestInit = MessageInitShape<typeof ClientCompatRequestSchema>;
  const base = (init: RequestInit): RequestInit => ({
    host: "127.0.0.1",
    port: plain.port,
    httpVersion: HTTPVersion.HTTP_VERSION_2,
    protocol: Protocol.CONNECT,
    codec: Codec.PROTO,
    compression: Compression.IDENTITY,
    service: ConformanceService.typeName,
    ...init,
  });
  const unary = (m: MessageInitShape<typeof UnaryRequestSchema>) =>
    anyPack(UnaryRequestSchema, create(UnaryRequestSchema, m));
  const bidi = (m: MessageInitShape<typeof BidiStreamRequestSchema>) =>
    anyPack(BidiStreamRequestSchema, create(BidiStreamRequestSchema, m));
  const clientStream = (m: MessageInitShape<typeof ClientStreamRequestSchema>) =>
    anyPack(ClientStreamRequestSchema, create(ClientStreamRequestSchema, m));
  const serverStream = (m: MessageInitShape<typeof ServerStreamRequestSchema>) =>
    anyPack(ServerStreamRequestSchema, create(ServerStreamRequestSchema, m));
  const customDetail = anyPack(HeaderSchema, header("detail-name", "detail-value"));

  const requests: RequestInit[] = [
    base({
      testName: "unary/success",
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestHeaders: [header("x-conformance-test", "unary")],
      timeoutMs: 9_000,
      requestMessages: [
        unary({
          requestData: enc("u"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "uh")],
            responseTrailers: [header("x-custom-trailer", "ut")],
            response: { case: "responseData", value: enc("unary-data") },
          },
        }),
      ],
    }),
    base({
      testName: "unary/error",
      protocol: Protocol.GRPC,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestHeaders: [header("x-conformance-test", "unary-error")],
      requestMessages: [
        unary({
          requestData: enc("e"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "eh")],
            responseTrailers: [header("x-custom-trailer", "et")],
            response: {
              case: "error",
              value: { code: ConfCode.ALREADY_EXISTS, message: "defined error", details: [customDetail] },
            },
          },
        }),
      ],
    }),
    base({
      testName: "server-stream/cancel-after-responses",
      method: "ServerStream",
      streamType: StreamType.SERVER_STREAM,
      cancel: create(ClientCompatRequest_CancelSchema, { cancelTiming: { case: "afterNumResponses", value: 1 } }),
      requestMessages: [
        serverStream({
          requestData: enc("ss"),
          responseDefinition: { responseData: [enc("a"), enc("b"), enc("c")], responseDelayMs: 200 },
        }),
      ],
    }),
    base({
      testName: "server-stream/error-after-data",
      protocol: Protocol.GRPC_WEB,
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "ServerStream",
      streamType: StreamType.SERVER_STREAM,
      requestMessages: [
        serverStream({
          requestData: enc("sse"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "sseh")],
            responseTrailers: [header("x-custom-trailer", "sset")],
            responseData: [enc("a"), enc("b")],
            error: { code: ConfCode.DATA_LOSS, message: "after data" },
          },
        }),
      ],
    }),
    base({
      testName: "client-stream/grpc-web",
      protocol: Protocol.GRPC_WEB,
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "ClientStream",
      streamType: StreamType.CLIENT_STREAM,
      requestDelayMs: 10,
      requestMessages: [
        clientStream({
          requestData: enc("c0"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "csh")],
            response: { case: "responseData", value: enc("cs-data") },
          },
        }),
        clientStream({ requestData: enc("c1") }),
        clientStream({ requestData: enc("c2") }),
      ],
    }),
    base({
      testName: "bidi/half-duplex/http1",
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "BidiStream",
      streamType: StreamType.HALF_DUPLEX_BIDI_STREAM,
      requestMessages: [
        bidi({ requestData: enc("h0"), responseDefinition: { responseData: [enc("x"), enc("y")] } }),
        bidi({ requestData: enc("h1") }),
        bidi({ requestData: enc("h2") }),
      ],
    }),
    base({
      testName: "bidi/full-duplex",
      protocol: Protocol.GRPC,
      method: "BidiStream",
      streamType: StreamType.FULL_DUPLEX_BIDI_STREAM,
      requestMessages: [
        bidi({
          requestData: enc("f0"),
          fullDuplex: true,
          responseDefinition: {
            responseTrailers: [header("x-custom-trailer", "fdt")],
            responseData: [enc("p"), enc("q"), enc("r")],
          },
        }),
        bidi({ requestData: enc("f1") }),
        bidi({ requestData: enc("f2") }),
      ],
    }),
    base({
      testName: "bidi/full-duplex/error-first",
      protocol: Protocol.GRPC_WEB,
      method: "BidiStream",
      streamType: StreamType.FULL_DUPLEX_BIDI_STREAM,
      requestMessages: [
        bidi({
          requestData: enc("fe0"),
          fullDuplex: true,
          responseDefinition: { error: { code: ConfCode.ABORTED, message: "no responses" } },
        }),
        bidi({ requestData: enc("fe1") }),
        bidi({ requestData: enc("fe2") }),
      ],
    }),
    base({
      testName: "bidi/full-duplex/cancel-before-close-send",
      protocol: Protocol.GRPC,
      method: "BidiStream",
      streamType: StreamType.FULL_DUPLEX_BIDI_STREAM,
      cancel: create(ClientCompatRequest_CancelSchema, { cancelTiming: { case: "beforeCloseSend", value: {} } }),
      requestMessages: [
        bidi({ requestData: enc("fc0"), fullDuplex: true, responseDefinition: { responseData: [enc("a"), enc("b")] } }),
        bidi({ requestData: enc("fc1") }),
      ],
    }),
    base({
      testName: "connect-get",
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "IdempotentUnary",
      streamType: StreamType.UNARY,
      useGetHttpMethod: true,
      requestMessages: [
        anyPack(
          IdempotentUnaryRequestSchema,
          create(IdempotentUnaryRequestSchema, {
            requestData: enc("g"),
            responseDefinition: { response: { case: "responseData", value: enc("get-data") } },
          }),
        ),
      ],
    }),
    base({
      testName: "grpc-web/http1/unary",
      protocol: Protocol.GRPC_WEB,
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [
        unary({
          requestData: enc("gw"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "gwh")],
            responseTrailers: [header("x-custom-trailer", "gwt")],
            response: { case: "responseData", value: enc("gw-data") },
          },
        }),
      ],
    }),
    base({
      testName: "json/unary",
      codec: Codec.JSON,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [
        unary({
          requestData: new Uint8Array([0, 255, 1]),
          responseDefinition: { response: { case: "responseData", value: new Uint8Array([254, 0, 7]) } },
        }),
      ],
    }),
    base({
      testName: "gzip/connect",
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      compression: Compression.GZIP,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [unary({ requestData: new Uint8Array(4096).fill(97) })],
    }),
    base({
      testName: "gzip/grpc",
      protocol: Protocol.GRPC,
      compression: Compression.GZIP,
      method: "ClientStream",
      streamType: StreamType.CLIENT_STREAM,
      requestMessages: [
        clientStream({ requestData: new Uint8Array(4096).fill(98) }),
        clientStream({ requestData: new Uint8Array(4096).fill(99) }),
      ],
    }),
    base({
      testName: "timeout/unary",
      method: "Unary",
      streamType: StreamType.UNARY,
      timeoutMs: 500,
      requestMessages: [unary({ responseDefinition: { responseDelayMs: 3_000 } })],
    }),
    base({
      testName: "timeout/server-stream",
      protocol: Protocol.GRPC,
      method: "ServerStream",
      streamType: StreamType.SERVER_STREAM,
      timeoutMs: 500,
      requestMessages: [
        serverStream({ responseDefinition: { responseData: [enc("t0"), enc("t1")], responseDelayMs: 3_000 } }),
      ],
    }),
    base({
      testName: "client-stream/cancel-before-close-send",
      method: "ClientStream",
      streamType: StreamType.CLIENT_STREAM,
      // The delay lets the connection come up first; see the test below for a cancel before that.
      requestDelayMs: 250,
      cancel: create(ClientCompatRequest_CancelSchema, { cancelTiming: { case: "beforeCloseSend", value: {} } }),
      requestMessages: [
        clientStream({ responseDefinition: { response: { case: "responseData", value: enc("never") } } }),
        clientStream({ requestData: enc("c1") }),
      ],
    }),
    base({
      testName: "message-receive-limit",
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      messageReceiveLimit: 256,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [
        unary({ responseDefinition: { response: { case: "responseData", value: new Uint8Array(1024) } } }),
      ],
    }),
    base({
      testName: "unknown-method",
      method: "NoSuchMethod",
      streamType: StreamType.UNARY,
      requestMessages: [unary({})],
    }),
    base({
      testName: "unknown-service",
      service: "connectrpc.conformance.v1.NoSuchService",
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [unary({})],
    }),
    base({
      testName: "tls/connect",
      port: secure.port,
      serverTlsCert: server.cert,
      clientTlsCreds: { cert: client.cert, key: client.key },
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [
        unary({
          requestData: enc("tls"),
          responseDefinition: { response: { case: "responseData", value: enc("tls-data") } },
        }),
      ],
    }),
    base({
      testName: "tls/grpc/server-stream",
      port: secure.port,
      protocol: Protocol.GRPC,
      serverTlsCert: server.cert,
      clientTlsCreds: { cert: client.cert, key: client.key },
      method: "ServerStream",
      streamType: StreamType.SERVER_STREAM,
      requestMessages: [serverStream({ responseDefinition: { responseData: [enc("s0"), enc("s1")] } })],
    }),
    base({
      testName: "tls/grpc-web/http1",
      port: secure.port,
      protocol: Protocol.GRPC_WEB,
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      serverTlsCert: server.cert,
      clientTlsCreds: { cert: client.cert, key: client.key },
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [unary({ requestData: enc("tls-gw") })],
    }),
  ];

  const results = await runBatch(t, requests);
  /** The ClientResponseResult of a test, failing the test if it is missing or a ClientErrorResult. */
  const resultOf = (t: Test, name: string): ClientResponseResult | undefined => {
    const r = results.get(name);
    if (r?.result.case !== "response") {
      t.fail(`${name}: expected a response result, got ${r?.result.case}: ${JSON.stringify(r?.result.value)}`);
      return undefined;
    }
    return r.result.value;
  };
  const data = (payloads: ConformancePayload[]) => payloads.map((p) => dec(p.data));

  t.test("unary/success: payload, request info, headers and trailers", async (t) => {
    const r = resultOf(t, "unary/success");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["unary-data"]);
    const info = r.payloads[0]?.requestInfo;
    t.same(echoed(t, info?.requests, UnaryRequestSchema.typeName), ["u"]);
    t.same(values(info?.requestHeaders, "x-conformance-test"), ["unary"], "the request header reached the server");
    const timeout = Number(info?.timeoutMs ?? -1);
    t.ok(timeout > 8_000 && timeout <= 9_000, `the server saw the timeout (${timeout} ms)`);
    t.same(values(r.responseHeaders, "x-custom-header"), ["uh"], "response header recorded");
    t.same(values(r.responseTrailers, "x-custom-trailer"), ["ut"], "response trailer recorded");
    t.equal(r.numUnsentRequests, 0);
  });

  t.test("unary/error: code, message, details; metadata recorded", async (t) => {
    const r = resultOf(t, "unary/error");
    if (!r) return;
    t.same(r.payloads, [], "no payloads");
    t.equal(r.error?.code, ConfCode.ALREADY_EXISTS, "code");
    t.equal(r.error?.message, "defined error", "message");
    t.same(
      r.error?.details.map((d) => d.typeUrl),
      [
        `type.googleapis.com/${HeaderSchema.typeName}`,
        `type.googleapis.com/${ConformancePayload_RequestInfoSchema.typeName}`,
      ],
      "detail types",
    );
    const custom = r.error?.details[0] ? anyUnpack(r.error.details[0], HeaderSchema) : undefined;
    t.same(
      { name: custom?.name, value: custom?.value },
      { name: "detail-name", value: ["detail-value"] },
      "detail value",
    );
    const info = r.error?.details[1] ? anyUnpack(r.error.details[1], ConformancePayload_RequestInfoSchema) : undefined;
    t.same(echoed(t, info?.requests, UnaryRequestSchema.typeName), ["e"], "RequestInfo detail echoes the request");
    t.same(values(info?.requestHeaders, "x-conformance-test"), ["unary-error"], "and the request header");
    // Without payloads the suite accepts headers and trailers in either list (trailers-only responses).
    const metadata = [...r.responseHeaders, ...r.responseTrailers];
    t.same(values(metadata, "x-custom-header"), ["eh"], "response header recorded");
    t.same(values(metadata, "x-custom-trailer"), ["et"], "response trailer recorded");
  });

  t.test("server-stream/cancel-after-responses: one payload, then canceled", async (t) => {
    const r = resultOf(t, "server-stream/cancel-after-responses");
    if (!r) return;
    t.same(data(r.payloads), ["a"]);
    t.same(echoed(t, r.payloads[0]?.requestInfo?.requests, ServerStreamRequestSchema.typeName), ["ss"]);
    t.equal(r.error?.code, ConfCode.CANCELED, `canceled (${r.error?.message})`);
  });

  t.test("server-stream/error-after-data: payloads and the error", async (t) => {
    const r = resultOf(t, "server-stream/error-after-data");
    if (!r) return;
    t.same(data(r.payloads), ["a", "b"]);
    t.equal(r.error?.code, ConfCode.DATA_LOSS);
    t.equal(r.error?.message, "after data");
    t.same(r.error?.details ?? [], [], "no RequestInfo detail once payloads were sent");
    t.same(values(r.responseHeaders, "x-custom-header"), ["sseh"]);
    t.same(values(r.responseTrailers, "x-custom-trailer"), ["sset"]);
  });

  t.test("client-stream/grpc-web: every request echoed", async (t) => {
    const r = resultOf(t, "client-stream/grpc-web");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["cs-data"]);
    t.same(echoed(t, r.payloads[0]?.requestInfo?.requests, ClientStreamRequestSchema.typeName), ["c0", "c1", "c2"]);
    t.same(values(r.responseHeaders, "x-custom-header"), ["csh"]);
    t.equal(r.numUnsentRequests, 0, "every request sent");
  });

  t.test("bidi/half-duplex/http1: all requests in the first payload", async (t) => {
    const r = resultOf(t, "bidi/half-duplex/http1");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["x", "y"]);
    t.same(echoed(t, r.payloads[0]?.requestInfo?.requests, BidiStreamRequestSchema.typeName), ["h0", "h1", "h2"]);
    t.equal(r.payloads[1]?.requestInfo, undefined);
    t.equal(r.numUnsentRequests, 0);
  });

  t.test("bidi/full-duplex: one payload per request", async (t) => {
    const r = resultOf(t, "bidi/full-duplex");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["p", "q", "r"]);
    t.same(
      r.payloads.map((p) => echoed(t, p.requestInfo?.requests, BidiStreamRequestSchema.typeName)),
      [["f0"], ["f1"], ["f2"]],
    );
    t.same(values(r.responseTrailers, "x-custom-trailer"), ["fdt"]);
    t.equal(r.numUnsentRequests, 0);
  });

  t.test("bidi/full-duplex/error-first: error after the first request, the rest unsent", async (t) => {
    const r = resultOf(t, "bidi/full-duplex/error-first");
    if (!r) return;
    t.same(r.payloads, []);
    t.equal(r.error?.code, ConfCode.ABORTED);
    t.equal(r.error?.message, "no responses");
    const info = r.error?.details[0] ? anyUnpack(r.error.details[0], ConformancePayload_RequestInfoSchema) : undefined;
    t.same(echoed(t, info?.requests, BidiStreamRequestSchema.typeName), ["fe0"], "RequestInfo detail");
    t.equal(r.numUnsentRequests, 2, "two requests unsent");
  });

  t.test("bidi/full-duplex/cancel-before-close-send: both payloads, then canceled", async (t) => {
    const r = resultOf(t, "bidi/full-duplex/cancel-before-close-send");
    if (!r) return;
    t.same(data(r.payloads), ["a", "b"]);
    t.equal(r.error?.code, ConfCode.CANCELED, `canceled (${r.error?.message})`);
  });

  t.test("connect-get: the server saw a GET with query parameters", async (t) => {
    const r = resultOf(t, "connect-get");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["get-data"]);
    const info = r.payloads[0]?.requestInfo;
    t.same(echoed(t, info?.requests, IdempotentUnaryRequestSchema.typeName), ["g"]);
    const params = info?.connectGetInfo?.queryParams ?? [];
    t.same(values(params, "connect"), ["v1"]);
    t.same(values(params, "encoding"), ["proto"]);
    t.ok(values(params, "message")?.[0], "message parameter");
  });

  t.test("grpc-web/http1/unary: trailers from the body", async (t) => {
    const r = resultOf(t, "grpc-web/http1/unary");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same(data(r.payloads), ["gw-data"]);
    t.same(values(r.responseHeaders, "x-custom-header"), ["gwh"]);
    t.same(values(r.responseTrailers, "x-custom-trailer"), ["gwt"]);
  });

  t.test("json/unary: bytes survive the JSON codec", async (t) => {
    const r = resultOf(t, "json/unary");
    if (!r) return;
    t.equal(r.error, undefined, "no error");
    t.same([...(r.payloads[0]?.data ?? [])], [254, 0, 7], "response data");
    const req = r.payloads[0]?.requestInfo?.requests[0];
    const sent = req ? anyUnpack(req, UnaryRequestSchema) : undefined;
    t.same([...(sent?.requestData ?? [])], [0, 255, 1], "request data");
    t.same(values(r.payloads[0]?.requestInfo?.requestHeaders, "content-type"), ["application/json"]);
  });

  t.test("gzip: requests compressed", async (t) => {
    const c = resultOf(t, "gzip/connect");
    if (c) {
      t.equal(c.error, undefined, "connect: no error");
      t.same(values(c.payloads[0]?.requestInfo?.requestHeaders, "content-encoding"), ["gzip"], "connect: gzip body");
      const req = c.payloads[0]?.requestInfo?.requests[0];
      t.equal(req ? anyUnpack(req, UnaryRequestSchema)?.requestData.byteLength : -1, 4096, "connect: data intact");
    }
    const g = resultOf(t, "gzip/grpc");
    if (g) {
      t.equal(g.error, undefined, "grpc: no error");
      t.same(values(g.payloads[0]?.requestInfo?.requestHeaders, "grpc-encoding"), ["gzip"], "grpc: gzip messages");
      t.equal(g.payloads[0]?.requestInfo?.requests.length, 2, "grpc: both messages");
      t.equal(g.numUnsentRequests, 0);
    }
  });

  t.test("timeouts shorter than the response delay: deadline_exceeded", async (t) => {
    for (const name of ["timeout/unary", "timeout/server-stream"]) {
      const r = resultOf(t, name);
      if (!r) continue;
      t.same(r.payloads, [], `${name}: no payloads`);
      t.equal(r.error?.code, ConfCode.DEADLINE_EXCEEDED, `${name}: deadline_exceeded (${r.error?.message})`);
    }
  });

  t.test("client-stream/cancel-before-close-send: canceled", async (t) => {
    const r = resultOf(t, "client-stream/cancel-before-close-send");
    if (!r) return;
    t.same(r.payloads, []);
    t.equal(r.error?.code, ConfCode.CANCELED, `canceled (${r.error?.message})`);
  });

  t.test("message-receive-limit: a larger response fails", async (t) => {
    const r = resultOf(t, "message-receive-limit");
    if (!r) return;
    t.same(r.payloads, []);
    t.equal(r.error?.code, ConfCode.RESOURCE_EXHAUSTED, `resource_exhausted (${r.error?.message})`);
  });

  t.test("unknown method or service: ClientErrorResult", async (t) => {
    for (const [name, word] of [
      ["unknown-method", "NoSuchMethod"],
      ["unknown-service", "NoSuchService"],
    ]) {
      const r = results.get(name);
      t.equal(r?.result.case, "error", `${name}: an error result`);
      if (r?.result.case === "error") t.match(r.result.value.message, word, `${name}: it names the problem`);
    }
  });

  t.test("TLS with a client certificate", async (t) => {
    const c = resultOf(t, "tls/connect");
    if (c) {
      t.equal(c.error, undefined, `connect: no error (${c.error?.message})`);
      t.same(data(c.payloads), ["tls-data"]);
    }
    const g = resultOf(t, "tls/grpc/server-stream");
    if (g) {
      t.equal(g.error, undefined, `grpc: no error (${g.error?.message})`);
      t.same(data(g.payloads), ["s0", "s1"]);
    }
    const w = resultOf(t, "tls/grpc-web/http1");
    if (w) {
      t.equal(w.error, undefined, `grpc-web: no error (${w.error?.message})`);
      t.same(echoed(t, w.payloads[0]?.requestInfo?.requests, UnaryRequestSchema.typeName), ["tls-gw"]);
    }
  });
});

/**
 * A TCP proxy to 127.0.0.1:`port` that holds every byte from the server for
 * `delayMs`: an HTTP/2 connection through it gets the server's SETTINGS late.
 */
async function startSlowProxy(port: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect({ host: "127.0.0.1", port });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.on("data", (d) => up.write(d));
    up.on("data", (d) => {
      setTimeout(() => {
        if (!down.destroyed) down.write(d);
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

t.test("client-runner: cancel and deadline while the HTTP/2 connection is still coming up", async (t) => {
  // Through the proxy the server's SETTINGS arrive 300 ms late, so these calls
  // end (deadline, cancel) while the transport waits for its session. They
  // must end with deadline_exceeded and canceled, and the runner must go on
  // to answer the rest and exit 0.
  const plain = await startConformanceServer(create(ServerCompatRequestSchema, {}));
  t.teardown(() => plain.app.close());
  const proxy = await startSlowProxy(plain.port, 300);
  t.teardown(() => proxy.close());
  const common = {
    host: "127.0.0.1",
    port: proxy.port,
    httpVersion: HTTPVersion.HTTP_VERSION_2,
    codec: Codec.PROTO,
    service: ConformanceService.typeName,
  };
  const results = await runBatch(t, [
    {
      ...common,
      testName: "deadline-while-connecting",
      protocol: Protocol.CONNECT,
      method: "Unary",
      streamType: StreamType.UNARY,
      timeoutMs: 50,
      requestMessages: [anyPack(UnaryRequestSchema, create(UnaryRequestSchema, { requestData: enc("d") }))],
    },
    {
      ...common,
      testName: "cancel-while-connecting",
      protocol: Protocol.GRPC,
      method: "ServerStream",
      streamType: StreamType.SERVER_STREAM,
      cancel: create(ClientCompatRequest_CancelSchema, { cancelTiming: { case: "afterCloseSendMs", value: 20 } }),
      requestMessages: [
        anyPack(
          ServerStreamRequestSchema,
          create(ServerStreamRequestSchema, { responseDefinition: { responseData: [enc("never")] } }),
        ),
      ],
    },
    {
      ...common,
      testName: "slow-but-fine",
      protocol: Protocol.GRPC_WEB,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [anyPack(UnaryRequestSchema, create(UnaryRequestSchema, { requestData: enc("ok") }))],
    },
  ]);
  const errorCode = (name: string) => {
    const r = results.get(name);
    return r?.result.case === "response" ? r.result.value.error?.code : `no response result (${r?.result.case})`;
  };
  t.equal(errorCode("deadline-while-connecting"), ConfCode.DEADLINE_EXCEEDED, "deadline_exceeded");
  t.equal(errorCode("cancel-while-connecting"), ConfCode.CANCELED, "canceled");
  const fine = results.get("slow-but-fine");
  t.equal(fine?.result.case === "response" ? fine.result.value.payloads.length : -1, 1, "the other call succeeds");
});

t.test("client-runner: SIGTERM ends it at once, even with an RPC in flight", async (t) => {
  const plain = await startConformanceServer(create(ServerCompatRequestSchema, {}));
  t.teardown(() => plain.app.close());
  const runner = startRunner(CLIENT_RUNNER);
  t.teardown(() => runner.kill());
  runner.write(
    ClientCompatRequestSchema,
    create(ClientCompatRequestSchema, {
      testName: "slow",
      host: "127.0.0.1",
      port: plain.port,
      httpVersion: HTTPVersion.HTTP_VERSION_1,
      protocol: Protocol.CONNECT,
      codec: Codec.PROTO,
      service: ConformanceService.typeName,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [
        anyPack(UnaryRequestSchema, create(UnaryRequestSchema, { responseDefinition: { responseDelayMs: 20_000 } })),
      ],
    }),
  );
  // Wait for the runner to start and connect (it sends the request at once).
  let connected = false;
  for (let i = 0; i < 100 && !connected; i++) {
    await new Promise((r) => setTimeout(r, 50));
    connected = (await connectionCount(plain.app)) > 0;
  }
  t.ok(connected, "the runner connected to the server");
  const sentAt = Date.now();
  runner.child.kill("SIGTERM");
  const exit = await exitWithin(runner, 5_000);
  t.not(exit, "timeout", "it exits");
  t.ok(Date.now() - sentAt < 2_000, `promptly (${Date.now() - sentAt} ms)`);
  t.equal(runner.stdout().byteLength, 0, "no result for the unfinished RPC");
});

function connectionCount(app: FastifyInstance): Promise<number> {
  return new Promise((resolve) => app.server.getConnections((err, n) => resolve(err ? 0 : n)));
}
