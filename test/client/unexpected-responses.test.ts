// The client against responses that are valid HTTP but not quite valid RPC,
// as the official conformance suite sends them (its "Unexpected Responses",
// "Connect Error and End-Stream" and compression families): each test names
// the spec rule it checks and answers the way the suite's raw response does.
import * as zlib from "node:zlib";
import { create, type DescMethod, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import t from "tap";
import {
  Code,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { encodeEnvelope, FLAG_COMPRESSED, FLAG_END_STREAM, FLAG_TRAILERS } from "../../lib/protocol/envelope.js";
import { type EchoResponse, EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type Answer, answerServersFor, type Exchange } from "../helpers/answer-servers.js";
import { collect, rejection } from "../helpers/client-calls.js";

const { peer, keep } = await answerServersFor(t);

const connectH1 = keep(createConnectTransport({ baseUrl: peer.h1Url }));
const connectH2 = keep(createConnectTransport({ baseUrl: peer.h2Url, httpVersion: "2" }));
const grpcH2 = keep(createGrpcTransport({ baseUrl: peer.h2Url }));
const grpcWebH1 = keep(createGrpcWebTransport({ baseUrl: peer.h1Url }));

const method = (name: string): DescMethod => {
  const m = TestService.methods.find((x) => x.name === name);
  if (!m) throw new Error(name);
  return m;
};

/** Runs a streaming call straight on the transport, as the conformance client does. */
function streamOutcome(tr: Transport, name: string) {
  async function* feed() {
    yield {};
  }
  return collect(tr.stream(method(name), feed()) as AsyncIterable<EchoResponse>);
}

/** Every request the peer gets next is answered with `a` (or what `a` makes of it). */
function answerWith(a: Answer | ((x: Exchange) => Answer)): Exchange[] {
  const seen: Exchange[] = [];
  peer.answer = (x) => {
    seen.push(x);
    x.send(typeof a === "function" ? a(x) : a);
  };
  return seen;
}

const message = toBinary(EchoResponseSchema, create(EchoResponseSchema, { text: "hi" }));
const envelope = encodeEnvelope(0, message);
const grpcWebTrailers = (text: string) => encodeEnvelope(FLAG_TRAILERS, Buffer.from(text));
const connectEnd = (json: string) => encodeEnvelope(FLAG_END_STREAM, Buffer.from(json));

// ---------------------------------------------------------------------------
// Compression of requests.

t.test("compression: a transport with sendCompression compresses every request message, however small", async (t) => {
  const ok = (x: Exchange): Answer => {
    if (x.headers["content-type"] === "application/proto") {
      return { status: 200, headers: { "content-type": "application/proto" }, body: message };
    }
    if (String(x.headers["content-type"]).startsWith("application/connect")) {
      return {
        status: 200,
        headers: { "content-type": "application/connect+proto" },
        body: Buffer.concat([envelope, connectEnd("{}")]),
      };
    }
    return {
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: envelope,
      trailers: { "grpc-status": "0" },
    };
  };
  for (const [name, make, baseUrl, httpVersion] of [
    ["gzip", createConnectTransport, peer.h1Url, "1.1"],
    ["br", createConnectTransport, peer.h2Url, "2"],
    ["deflate", createConnectTransport, peer.h1Url, "1.1"],
  ] as const) {
    const tr = keep(make({ baseUrl, httpVersion, sendCompression: name }));
    const seen = answerWith(ok);
    const client = createClient(TestService, tr);
    t.equal((await client.unary({ text: "x" })).text, "hi");
    t.equal(seen[0].headers["content-encoding"], name, `Connect unary (${name}): Content-Encoding says ${name}`);
    const inflate = { gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync, deflate: zlib.inflateSync }[name];
    t.ok(inflate(seen[0].body).length > 0, `Connect unary (${name}): the body is ${name} data`);
    await client.clientStream([{ text: "x" }]);
    t.equal(seen[1].headers["connect-content-encoding"], name, `Connect streaming (${name}): the encoding header`);
    t.equal(seen[1].body[0] & FLAG_COMPRESSED, FLAG_COMPRESSED, `Connect streaming (${name}): the message is flagged`);
  }
  const grpc = keep(createGrpcTransport({ baseUrl: peer.h2Url, sendCompression: "gzip" }));
  const seen = answerWith(ok);
  await createClient(TestService, grpc).unary({ text: "x" });
  t.equal(seen[0].headers["grpc-encoding"], "gzip");
  t.equal(seen[0].body[0] & FLAG_COMPRESSED, FLAG_COMPRESSED, "gRPC: a 3-byte message is compressed too");
  // compressMinBytes still lets an application skip small messages.
  const lazy = keep(createConnectTransport({ baseUrl: peer.h1Url, sendCompression: "gzip", compressMinBytes: 1024 }));
  const seenLazy = answerWith(ok);
  await createClient(TestService, lazy).unary({ text: "x" });
  t.equal(seenLazy[0].headers["content-encoding"], undefined, "compressMinBytes 1024: a small request goes as it is");
});

t.test("Connect: a compressed unary error body (Content-Encoding gzip) is decompressed and read", async (t) => {
  const tr = keep(createConnectTransport({ baseUrl: peer.h1Url, sendCompression: "gzip" }));
  answerWith({
    status: 409,
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: zlib.gzipSync(JSON.stringify({ code: "aborted", message: "squashed" })),
  });
  const err = await rejection(createClient(TestService, tr).unary({}));
  t.equal(err.code, Code.Aborted);
  t.equal(err.rawMessage, "squashed");
});

// ---------------------------------------------------------------------------
// Connect error bodies and end-of-stream messages (Connect protocol, "Error
// Codes": a missing or unknown code is read as unknown; for a unary error, the
// HTTP status gives the code, as connect-go does).

t.test(
  "Connect unary error body: a missing, null or unrecognized code takes the HTTP status's code, keeps the message",
  async (t) => {
    const cases: [number, string, Code][] = [
      [401, '{ "code": null, "message": "oops" }', Code.Unauthenticated],
      [401, '{ "message": "oops" }', Code.Unauthenticated],
      [429, '{ "code": "foobar", "message": "oops" }', Code.Unavailable],
    ];
    for (const tr of [connectH1, connectH2]) {
      for (const [status, body, code] of cases) {
        answerWith({ status, headers: { "content-type": "application/json" }, body });
        const err = await rejection(createClient(TestService, tr).unary({}));
        t.equal(err.code, code, `${status} ${body}: code`);
        t.equal(err.rawMessage, "oops", `${status} ${body}: message`);
      }
    }
  },
);

t.test(
  "Connect unary error body: null is no error object; unknown fields, and details without debug, are tolerated",
  async (t) => {
    answerWith({ status: 401, headers: { "content-type": "application/json" }, body: "null" });
    let err = await rejection(createClient(TestService, connectH1).unary({}));
    t.equal(err.code, Code.Unauthenticated, "null: the code of HTTP 401");
    answerWith({
      status: 422,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        code: "out_of_range",
        message: "oops",
        foobar: "baz",
        details: [
          { type: "google.protobuf.FileDescriptorProto", value: "Cgp0ZXN0LnByb3Rv", frob: "nitz", debug: { x: true } },
          { type: "google.protobuf.FileDescriptorProto", value: "Cgp0ZXN0LnByb3Rv" },
          { type: "google.protobuf.FileDescriptorProto", value: "Cgp0ZXN0LnByb3Rv", debug: "not an object" },
        ],
      }),
    });
    err = await rejection(createClient(TestService, connectH1).unary({}));
    t.equal(err.code, Code.OutOfRange);
    t.equal(err.rawMessage, "oops");
    t.equal(err.details.length, 3, "every detail is kept, whatever its debug");
    t.same(
      err.findDetails(FileDescriptorProtoSchema).map((d) => d.name),
      ["test.proto", "test.proto", "test.proto"],
      "each detail decodes",
    );
    // An error status with a JSON body that is no Connect error at all (a proxy's): the status decides.
    answerWith({ status: 502, headers: { "content-type": "application/json" }, body: '{"error":"upstream"}' });
    err = await rejection(createClient(TestService, connectH1).unary({}));
    t.equal(err.code, Code.Unavailable);
    t.equal(err.rawMessage, "HTTP 502", "no message in the body: the HTTP status is the message");
  },
);

t.test(
  "Connect end-of-stream: an error with a missing, null or unrecognized code is unknown, with its message",
  async (t) => {
    for (const error of [
      '{ "code": null, "message": "oops" }',
      '{ "message": "oops" }',
      '{ "code": "foobar", "message": "oops" }',
    ]) {
      answerWith({
        status: 200,
        headers: { "content-type": "application/connect+proto" },
        body: connectEnd(`{ "error": ${error} }`),
      });
      const { messages, error: err } = await streamOutcome(connectH1, "ServerStream");
      t.equal(messages.length, 0);
      t.equal(err?.code, Code.Unknown, `${error}: unknown`);
      t.equal(err?.rawMessage, "oops", `${error}: the message`);
    }
    answerWith({
      status: 200,
      headers: { "content-type": "application/connect+proto" },
      body: connectEnd('{ "error": null }'),
    });
    t.same(await streamOutcome(connectH1, "ServerStream"), { messages: [] }, '{"error": null} is a success');
  },
);

// ---------------------------------------------------------------------------
// Cardinality: a unary or client-streaming response has exactly one message
// (connect-go and grpc-go fail the call with unimplemented otherwise), and the
// caller gets no message from a response that breaks the rule.

t.test(
  "cardinality: a client-streaming response with no message, or two, is unimplemented and hands out none",
  async (t) => {
    const two = Buffer.concat([envelope, envelope]);
    const cases: [string, Transport, Answer, Answer][] = [
      [
        "Connect",
        connectH1,
        { status: 200, headers: { "content-type": "application/connect+proto" }, body: connectEnd("{}") },
        {
          status: 200,
          headers: { "content-type": "application/connect+proto" },
          body: Buffer.concat([two, connectEnd("{}")]),
        },
      ],
      [
        "gRPC",
        grpcH2,
        { status: 200, headers: { "content-type": "application/grpc" }, trailers: { "grpc-status": "0" } },
        { status: 200, headers: { "content-type": "application/grpc" }, body: two, trailers: { "grpc-status": "0" } },
      ],
      [
        "gRPC-Web, trailers in the body",
        grpcWebH1,
        {
          status: 200,
          headers: { "content-type": "application/grpc-web" },
          body: grpcWebTrailers("grpc-status: 0\r\n"),
        },
        {
          status: 200,
          headers: { "content-type": "application/grpc-web" },
          body: Buffer.concat([two, grpcWebTrailers("grpc-status: 0\r\n")]),
        },
      ],
      [
        "gRPC-Web, trailers-only",
        grpcWebH1,
        { status: 200, headers: { "content-type": "application/grpc-web", "grpc-status": "0" } },
        {
          status: 200,
          headers: { "content-type": "application/grpc-web" },
          body: Buffer.concat([two, grpcWebTrailers("grpc-status: 0\r\n")]),
        },
      ],
    ];
    for (const [name, tr, none, many] of cases) {
      answerWith(none);
      let outcome = await streamOutcome(tr, "ClientStream");
      t.equal(outcome.error?.code, Code.Unimplemented, `${name}: OK with no message is unimplemented`);
      answerWith(many);
      outcome = await streamOutcome(tr, "ClientStream");
      t.equal(outcome.error?.code, Code.Unimplemented, `${name}: two messages are unimplemented`);
      t.equal(outcome.messages.length, 0, `${name}: neither message was handed out`);
      // The typed client reports the same.
      answerWith(many);
      t.equal((await rejection(createClient(TestService, tr).clientStream([{}]))).code, Code.Unimplemented);
    }
    // An error status still wins over the missing message.
    answerWith({ status: 200, headers: { "content-type": "application/grpc" }, trailers: { "grpc-status": "7" } });
    t.equal((await streamOutcome(grpcH2, "ClientStream")).error?.code, Code.PermissionDenied);
    // A server stream may have any number of messages.
    answerWith({
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: Buffer.concat([envelope, envelope]),
      trailers: { "grpc-status": "0" },
    });
    t.same((await streamOutcome(grpcH2, "ServerStream")).messages.length, 2);
  },
);

t.test("cardinality: a unary response with no message, or two, is unimplemented", async (t) => {
  const cases: [string, Transport, Answer, Answer][] = [
    [
      "gRPC",
      grpcH2,
      { status: 200, headers: { "content-type": "application/grpc" }, trailers: { "grpc-status": "0" } },
      {
        status: 200,
        headers: { "content-type": "application/grpc" },
        body: Buffer.concat([envelope, envelope]),
        trailers: { "grpc-status": "0" },
      },
    ],
    [
      "gRPC-Web",
      grpcWebH1,
      { status: 200, headers: { "content-type": "application/grpc-web", "grpc-status": "0" } },
      {
        status: 200,
        headers: { "content-type": "application/grpc-web" },
        body: Buffer.concat([envelope, envelope, grpcWebTrailers("grpc-status: 0\r\n")]),
      },
    ],
  ];
  for (const [name, tr, none, many] of cases) {
    answerWith(none);
    t.equal((await rejection(createClient(TestService, tr).unary({}))).code, Code.Unimplemented, `${name}: none`);
    answerWith(many);
    t.equal((await rejection(createClient(TestService, tr).unary({}))).code, Code.Unimplemented, `${name}: two`);
  }
});

// ---------------------------------------------------------------------------
// Trailers-only (PROTOCOL-HTTP2.md: "Trailers-Only" is a single HEADERS frame
// that ends the stream). A grpc-status in a head that a body or trailers
// follow is not one, and is ignored.

t.test("trailers-only: a grpc-status in the head is ignored when a body follows it", async (t) => {
  answerWith({ status: 200, headers: { "content-type": "application/grpc", "grpc-status": "9" }, body: envelope });
  const err = await rejection(createClient(TestService, grpcH2).unary({}));
  t.equal(err.code, Code.Internal, "gRPC: the trailers are missing, so internal, not the head's failed_precondition");
  answerWith({
    status: 200,
    headers: { "content-type": "application/grpc-web", "grpc-status": "8" },
    body: grpcWebTrailers("grpc-status: 9\r\n"),
  });
  t.equal(
    (await rejection(createClient(TestService, grpcWebH1).unary({}))).code,
    Code.FailedPrecondition,
    "gRPC-Web: the trailers frame's status, not the head's resource_exhausted",
  );
});

t.test("trailers-only: a grpc-status in the head is ignored when HTTP trailers follow it", async (t) => {
  answerWith({
    status: 200,
    headers: { "content-type": "application/grpc", "grpc-status": "8" },
    trailers: { foo: "bar", "grpc-status": "9" },
  });
  let trailer: Headers | undefined;
  const err = await rejection(createClient(TestService, grpcH2).unary({}, { onTrailer: (t) => (trailer = t) }));
  t.equal(err.code, Code.FailedPrecondition, "the trailers' status");
  t.equal(trailer?.get("foo"), "bar", "the trailers' metadata");
});

t.test("trailers-only: a head with grpc-status and nothing after it is the whole response", async (t) => {
  for (const [name, tr, ct] of [
    ["gRPC", grpcH2, "application/grpc"],
    ["gRPC-Web", grpcWebH1, "application/grpc-web"],
  ] as const) {
    answerWith({ status: 200, headers: { "content-type": ct, "grpc-status": "5", "grpc-message": "gone", x: "y" } });
    let trailer: Headers | undefined;
    const err = await rejection(createClient(TestService, tr).unary({}, { onTrailer: (t) => (trailer = t) }));
    t.equal(err.code, Code.NotFound, `${name}: the head's status`);
    t.equal(err.rawMessage, "gone", `${name}: the head's message`);
    t.equal(trailer?.get("x"), "y", `${name}: the head's metadata are the trailers`);
  }
});
