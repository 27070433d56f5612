// Our client against servers that are not ours: plain node:http and node:http2
// servers answering like proxies (bare HTTP statuses, HTML pages) or like
// broken servers (wrong content-type, missing grpc-status, truncated
// envelopes, unknown compression, reset streams). Every call must fail with
// the code the protocols prescribe. Also: connection refused, and the
// transports' option checks.
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import * as zlib from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import {
  type Client,
  Code,
  ConnectError,
  type ConnectTransportOptions,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { codeFromHttpStatus } from "../../lib/protocol/code.js";
import { encodeEnvelope, FLAG_END_STREAM, FLAG_TRAILERS } from "../../lib/protocol/envelope.js";
import { EchoResponseSchema, ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type Answer, startAnswerServers } from "../helpers/answer-servers.js";

const peer = await startAnswerServers();
const { h1Url, h2Url } = peer;

/** A port nothing listens on: listened on, then closed. */
const closedPort = await (async () => {
  const s = http.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, "close");
  return port;
})();

const transports: Transport[] = [];
t.teardown(async () => {
  for (const tr of transports) tr.close();
  await peer.close();
});

type Maker = (o: ConnectTransportOptions) => Transport;
function clientOf(make: Maker, options: ConnectTransportOptions): Client<typeof TestService> {
  const tr = make(options);
  transports.push(tr);
  return createClient(TestService, tr);
}

// ---------------------------------------------------------------------------
// The callers: each protocol, unary and streaming, over the server it fits.

type Protocol = "connect" | "grpc" | "grpc-web";
interface Caller {
  name: string;
  protocol: Protocol;
  /** Enveloped messages: Connect streaming, gRPC, gRPC-Web. */
  enveloped: boolean;
  /** Makes one call; resolves with the messages it received. */
  run(): Promise<unknown[]>;
  /** Makes one call; resolves with its error (throws if it succeeds). */
  fail(): Promise<ConnectError>;
}

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e;
    throw new Error(`expected a ConnectError, got ${String(e)}`);
  }
  throw new Error("expected the call to fail, it succeeded");
}

async function drain(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const m of it) out.push(m);
  return out;
}

const connectH1 = clientOf(createConnectTransport, { baseUrl: h1Url });
const connectH2 = clientOf(createConnectTransport, { baseUrl: h2Url, httpVersion: "2" });
const grpcH2 = clientOf(createGrpcTransport, { baseUrl: h2Url });
const grpcWebH1 = clientOf(createGrpcWebTransport, { baseUrl: h1Url });
const grpcWebH2 = clientOf(createGrpcWebTransport, { baseUrl: h2Url, httpVersion: "2" });

function callers(version: 1 | 2 | "any"): Caller[] {
  const list: (Omit<Caller, "fail"> & { version: 1 | 2 })[] = [
    {
      name: "Connect unary (HTTP/1.1)",
      protocol: "connect",
      enveloped: false,
      version: 1,
      run: async () => [await connectH1.unary({ text: "x" })],
    },
    {
      name: "Connect streaming (HTTP/1.1)",
      protocol: "connect",
      enveloped: true,
      version: 1,
      run: () => drain(connectH1.serverStream({ text: "x" })),
    },
    {
      name: "gRPC unary (h2c)",
      protocol: "grpc",
      enveloped: true,
      version: 2,
      run: async () => [await grpcH2.unary({ text: "x" })],
    },
    {
      name: "gRPC streaming (h2c)",
      protocol: "grpc",
      enveloped: true,
      version: 2,
      run: () => drain(grpcH2.serverStream({ text: "x" })),
    },
    {
      name: "gRPC-Web unary (HTTP/1.1)",
      protocol: "grpc-web",
      enveloped: true,
      version: 1,
      run: async () => [await grpcWebH1.unary({ text: "x" })],
    },
    {
      name: "gRPC-Web streaming (HTTP/1.1)",
      protocol: "grpc-web",
      enveloped: true,
      version: 1,
      run: () => drain(grpcWebH1.serverStream({ text: "x" })),
    },
    {
      name: "Connect unary (h2c)",
      protocol: "connect",
      enveloped: false,
      version: 2,
      run: async () => [await connectH2.unary({ text: "x" })],
    },
    {
      name: "Connect streaming (h2c)",
      protocol: "connect",
      enveloped: true,
      version: 2,
      run: () => drain(connectH2.serverStream({ text: "x" })),
    },
    {
      name: "gRPC-Web unary (h2c)",
      protocol: "grpc-web",
      enveloped: true,
      version: 2,
      run: async () => [await grpcWebH2.unary({ text: "x" })],
    },
  ];
  const all = list.map((c) => ({ ...c, fail: () => failure(c.run()) }));
  if (version === "any") return all.slice(0, 6);
  return all.filter((c) => c.version === version);
}

/** A valid proto response message, and the envelopes of each protocol around it. */
const messageBytes = toBinary(EchoResponseSchema, create(EchoResponseSchema, { text: "hi" }));
const msgEnvelope = encodeEnvelope(0, messageBytes);
const connectEnd = encodeEnvelope(FLAG_END_STREAM, Buffer.from("{}"));
const grpcWebOk = encodeEnvelope(FLAG_TRAILERS, Buffer.from("grpc-status: 0\r\n"));

/** A successful response of the caller's protocol, with `change` applied. */
function okAnswer(c: Caller, change: Partial<Answer> & { contentType?: string } = {}): Answer {
  const base: Answer =
    c.protocol === "connect"
      ? c.enveloped
        ? {
            status: 200,
            headers: { "content-type": "application/connect+proto" },
            body: Buffer.concat([msgEnvelope, connectEnd]),
          }
        : { status: 200, headers: { "content-type": "application/proto" }, body: messageBytes }
      : c.protocol === "grpc"
        ? {
            status: 200,
            headers: { "content-type": "application/grpc" },
            body: msgEnvelope,
            trailers: { "grpc-status": "0" },
          }
        : {
            status: 200,
            headers: { "content-type": "application/grpc-web+proto" },
            body: Buffer.concat([msgEnvelope, grpcWebOk]),
          };
  const { contentType, ...rest } = change;
  const out = { ...base, ...rest, headers: { ...base.headers, ...change.headers } };
  if (contentType !== undefined) out.headers["content-type"] = contentType;
  return out;
}

const HTML = "<html><body><h1>Bad Gateway</h1></body></html>";

// ---------------------------------------------------------------------------

t.test("sanity: the fake servers answer well-formed responses the client accepts", async (t) => {
  for (const c of [...callers(1), ...callers(2)]) {
    peer.answer = (x) => x.send(okAnswer(c));
    const r = await c.run();
    t.same(
      r.map((m) => (m as { text: string }).text),
      ["hi"],
      c.name,
    );
  }
});

t.test("bare HTTP statuses with an HTML body map to codes (http-grpc-status-mapping.md)", async (t) => {
  const expected: Record<number, Code> = {
    400: Code.Internal,
    401: Code.Unauthenticated,
    403: Code.PermissionDenied,
    404: Code.Unimplemented,
    429: Code.Unavailable,
    500: Code.Unknown,
    502: Code.Unavailable,
    503: Code.Unavailable,
    504: Code.Unavailable,
  };
  for (const [s, code] of Object.entries(expected)) {
    const status = Number(s);
    t.equal(codeFromHttpStatus(status), code, `codeFromHttpStatus(${status})`);
    peer.answer = (x) =>
      x.send({ status, headers: { "content-type": "text/html; charset=utf-8", "x-proxy": "yes" }, body: HTML });
    for (const c of callers("any")) {
      const err = await c.fail();
      t.equal(err.code, code, `${c.name}: HTTP ${status} is ${Code[code]}`);
      t.match(err.rawMessage, String(status), `${c.name}: the message names the status`);
    }
  }
});

t.test("a Connect unary error body is decoded, whatever the status", async (t) => {
  const detail = toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "dup", fields: { k: "v" } }));
  const json = JSON.stringify({
    code: "already_exists",
    message: "it is there ✓",
    details: [{ type: "fcr.test.v1.ErrorInfo", value: Buffer.from(detail).toString("base64").replace(/=+$/, "") }],
  });
  for (const status of [409, 418, 502, 200]) {
    peer.answer = (x) =>
      x.send({
        status,
        headers: { "content-type": "application/json", "x-meta": "head", "trailer-x-trail": "tail" },
        body: json,
      });
    for (const client of [connectH1, connectH2]) {
      const err = await failure(client.unary({ text: "x" }));
      if (status === 200) {
        // 200 means success: an application/json body to a proto request is the wrong codec.
        t.equal(err.code, Code.Internal, "HTTP 200 with a JSON body is not an error body");
        continue;
      }
      t.equal(err.code, Code.AlreadyExists, `HTTP ${status}: the body's code wins`);
      t.equal(err.rawMessage, "it is there ✓");
      t.same(
        err.findDetails(ErrorInfoSchema).map((d) => ({ reason: d.reason, fields: d.fields })),
        [{ reason: "dup", fields: { k: "v" } }],
        "the details",
      );
      t.equal(err.metadata.get("x-meta"), "head", "response headers are the error's metadata");
      t.equal(err.metadata.get("x-trail"), "tail", "and trailer- headers, without the prefix");
    }
  }

  // A gzip-compressed error body.
  peer.answer = (x) =>
    x.send({
      status: 400,
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: zlib.gzipSync(JSON.stringify({ code: "invalid_argument", message: "zipped" })),
    });
  const zipped = await failure(connectH1.unary({ text: "x" }));
  t.equal(zipped.code, Code.InvalidArgument);
  t.equal(zipped.rawMessage, "zipped");

  // JSON that is not a Connect error: the status decides.
  for (const body of ['{"error":"rate limited"}', '{"code":"no_such_code"}', "{not json"]) {
    peer.answer = (x) => x.send({ status: 429, headers: { "content-type": "application/json" }, body });
    const err = await failure(connectH1.unary({ text: "x" }));
    t.equal(err.code, Code.Unavailable, `${body}: falls back to the status`);
  }
});

t.test("200 with a content-type of another protocol (text/html) is unknown", async (t) => {
  for (const c of callers("any")) {
    peer.answer = (x) => x.send({ status: 200, headers: { "content-type": "text/html" }, body: HTML });
    const err = await c.fail();
    t.equal(err.code, Code.Unknown, c.name);
    t.match(err.rawMessage, "text/html", `${c.name}: the message names the content-type`);
  }
  // Connect unary answered with a streaming content-type, and the reverse.
  peer.answer = (x) =>
    x.send({ status: 200, headers: { "content-type": "application/connect+proto" }, body: messageBytes });
  t.equal((await failure(connectH1.unary({}))).code, Code.Unknown, "Connect unary given application/connect+proto");
  peer.answer = (x) => x.send({ status: 200, headers: { "content-type": "application/proto" }, body: messageBytes });
  t.equal(
    (await failure(drain(connectH1.serverStream({})))).code,
    Code.Unknown,
    "Connect streaming given application/proto",
  );
  peer.answer = (x) => x.send({ status: 200, headers: { "content-type": "application/grpc" }, body: msgEnvelope });
  t.equal((await failure(grpcWebH1.unary({}))).code, Code.Unknown, "gRPC-Web given application/grpc");
});

t.test("the right protocol with the wrong codec is internal", async (t) => {
  const json: Record<string, string> = {
    "Connect unary (HTTP/1.1)": "application/json",
    "Connect streaming (HTTP/1.1)": "application/connect+json",
    "gRPC unary (h2c)": "application/grpc+json",
    "gRPC streaming (h2c)": "application/grpc+json",
    "gRPC-Web unary (HTTP/1.1)": "application/grpc-web+json",
    "gRPC-Web streaming (HTTP/1.1)": "application/grpc-web+json",
  };
  for (const c of callers("any")) {
    peer.answer = (x) => x.send(okAnswer(c, { contentType: json[c.name] }));
    const err = await c.fail();
    t.equal(err.code, Code.Internal, `${c.name} given ${json[c.name]}`);
  }
  // And the other way: a JSON request answered with proto.
  const jsonClient = clientOf(createGrpcTransport, { baseUrl: h2Url, useBinaryFormat: false });
  peer.answer = (x) => x.send(okAnswer(callers(2)[0], {}));
  t.equal((await failure(jsonClient.unary({}))).code, Code.Internal, "gRPC JSON request given application/grpc");
  // gRPC-Web text is not what the client asked for either.
  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/grpc-web-text" },
      body: msgEnvelope.toString("base64"),
    });
  t.equal((await failure(grpcWebH1.unary({}))).code, Code.Internal, "gRPC-Web given grpc-web-text");
});

t.test("gRPC: a response without grpc-status is internal", async (t) => {
  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: msgEnvelope,
      trailers: { "x-not-status": "1" },
    });
  const withTrailers = await failure(grpcH2.unary({}));
  t.equal(withTrailers.code, Code.Internal, "trailers without grpc-status");
  t.match(withTrailers.rawMessage, "grpc-status");
  t.equal(withTrailers.metadata.get("x-not-status"), "1", "the trailers are the error's metadata");

  peer.answer = (x) => x.send({ status: 200, headers: { "content-type": "application/grpc" }, body: msgEnvelope });
  t.equal((await failure(grpcH2.unary({}))).code, Code.Internal, "no trailers at all");
  const s = await failure(drain(grpcH2.serverStream({})));
  t.equal(s.code, Code.Internal, "a stream without trailers");

  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/grpc-web+proto" },
      body: Buffer.concat([msgEnvelope, encodeEnvelope(FLAG_TRAILERS, Buffer.from("x-other: 1\r\n"))]),
    });
  t.equal((await failure(grpcWebH1.unary({}))).code, Code.Internal, "gRPC-Web trailers frame without grpc-status");
  peer.answer = (x) =>
    x.send({ status: 200, headers: { "content-type": "application/grpc-web+proto" }, body: msgEnvelope });
  t.equal((await failure(grpcWebH1.unary({}))).code, Code.Internal, "gRPC-Web without a trailers frame");

  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: msgEnvelope,
      trailers: { "grpc-status": "abc" },
    });
  t.equal((await failure(grpcH2.unary({}))).code, Code.Unknown, "a grpc-status that is not a number");
});

t.test("gRPC trailers-only responses carry the status in the head", async (t) => {
  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: {
        "content-type": "application/grpc",
        "grpc-status": "7",
        "grpc-message": "go%20away %E2%9C%93",
        "x-why": "policy",
      },
    });
  const err = await failure(grpcH2.unary({}));
  t.equal(err.code, Code.PermissionDenied);
  t.equal(err.rawMessage, "go away ✓", "grpc-message is percent-decoded");
  t.equal(err.metadata.get("x-why"), "policy");
  const s = await failure(drain(grpcH2.serverStream({})));
  t.equal(s.code, Code.PermissionDenied, "a stream too");

  // Without even a content-type, as some proxies send it.
  peer.answer = (x) => x.send({ status: 200, headers: { "grpc-status": "14", "grpc-message": "no upstream" } });
  const bare = await failure(grpcH2.unary({}));
  t.equal(bare.code, Code.Unavailable);
  t.equal(bare.rawMessage, "no upstream");

  // A trailers-only OK for a unary call has no message.
  peer.answer = (x) => x.send({ status: 200, headers: { "content-type": "application/grpc", "grpc-status": "0" } });
  t.equal((await failure(grpcH2.unary({}))).code, Code.Unimplemented, "unary OK without a message");
  t.same(await drain(grpcH2.serverStream({})), [], "a stream may end with no message");

  // gRPC-Web over HTTP/1.1: the status in the response headers, no body.
  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/grpc-web+proto", "grpc-status": "5", "grpc-message": "nope" },
    });
  const web = await failure(grpcWebH1.unary({}));
  t.equal(web.code, Code.NotFound);
  t.equal(web.rawMessage, "nope");
});

t.test("a truncated envelope is internal", async (t) => {
  // The prefix promises 100 bytes; 10 arrive, then the body ends.
  const truncated = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10, 1)]);
  for (const c of callers("any").filter((c) => c.enveloped)) {
    peer.answer = (x) => x.send(okAnswer(c, { body: truncated }));
    const err = await c.fail();
    t.equal(err.code, Code.Internal, c.name);
    t.match(err.rawMessage, /truncated/, `${c.name}: ${err.rawMessage}`);
  }
  // A body cut inside the 5-byte prefix.
  peer.answer = (x) => x.send(okAnswer(callers(2)[0], { body: Buffer.from([0, 0, 0]) }));
  t.equal((await failure(grpcH2.unary({}))).code, Code.Internal, "gRPC: a partial prefix");
  // Connect unary: a body that does not parse as the message.
  peer.answer = (x) =>
    x.send({ status: 200, headers: { "content-type": "application/proto" }, body: Buffer.from([0x0a, 0x05, 0x68]) });
  t.equal((await failure(connectH1.unary({}))).code, Code.Internal, "Connect unary: a truncated message");
});

t.test("a response compression the client did not offer is internal", async (t) => {
  const encodingHeader: Record<string, string> = {
    "Connect unary (HTTP/1.1)": "content-encoding",
    "Connect streaming (HTTP/1.1)": "connect-content-encoding",
    "gRPC unary (h2c)": "grpc-encoding",
    "gRPC streaming (h2c)": "grpc-encoding",
    "gRPC-Web unary (HTTP/1.1)": "grpc-encoding",
    "gRPC-Web streaming (HTTP/1.1)": "grpc-encoding",
  };
  for (const c of callers("any")) {
    const compressedEnvelope = encodeEnvelope(1, messageBytes);
    const body =
      c.protocol === "connect"
        ? c.enveloped
          ? Buffer.concat([compressedEnvelope, connectEnd])
          : messageBytes
        : c.protocol === "grpc"
          ? compressedEnvelope
          : Buffer.concat([compressedEnvelope, grpcWebOk]);
    peer.answer = (x) => x.send(okAnswer(c, { headers: { [encodingHeader[c.name]]: "snappy" }, body }));
    const err = await c.fail();
    t.equal(err.code, Code.Internal, `${c.name}: snappy`);
    t.match(err.rawMessage, "snappy", `${c.name}: the message names it`);
  }
  // An encoding the transport supports but did not accept for this call.
  const gzipOnly = clientOf(createGrpcTransport, { baseUrl: h2Url, acceptCompression: ["gzip"] });
  peer.answer = (x) =>
    x.send(
      okAnswer(callers(2)[0], {
        headers: { "grpc-encoding": "br" },
        body: encodeEnvelope(1, zlib.brotliCompressSync(messageBytes)),
      }),
    );
  t.equal((await failure(gzipOnly.unary({}))).code, Code.Internal, "br when only gzip was accepted");
  // A compressed body that does not decompress is the server's fault too.
  const garbage = Buffer.from("this is not gzip data at all");
  const corrupt: [string, () => Promise<ConnectError>, Answer][] = [
    [
      "Connect unary",
      () => failure(connectH1.unary({})),
      okAnswer(callers(1)[0], { headers: { "content-encoding": "gzip" }, body: garbage }),
    ],
    [
      "Connect streaming",
      () => failure(drain(connectH1.serverStream({}))),
      okAnswer(callers(1)[1], {
        headers: { "connect-content-encoding": "gzip" },
        body: Buffer.concat([encodeEnvelope(1, garbage), connectEnd]),
      }),
    ],
    [
      "gRPC",
      () => failure(grpcH2.unary({})),
      okAnswer(callers(2)[0], { headers: { "grpc-encoding": "gzip" }, body: encodeEnvelope(1, garbage) }),
    ],
    [
      "gRPC-Web",
      () => failure(grpcWebH1.unary({})),
      okAnswer(callers(1)[2], {
        headers: { "grpc-encoding": "gzip" },
        body: Buffer.concat([encodeEnvelope(1, garbage), grpcWebOk]),
      }),
    ],
  ];
  for (const [name, call, a] of corrupt) {
    peer.answer = (x) => x.send(a);
    const err = await call();
    t.equal(err.code, Code.Internal, `${name}: a corrupt gzip message is internal (${err.message})`);
  }
  // A compressed flag without any grpc-encoding.
  peer.answer = (x) => x.send(okAnswer(callers(2)[0], { body: encodeEnvelope(1, zlib.gzipSync(messageBytes)) }));
  t.equal((await failure(grpcH2.unary({}))).code, Code.Internal, "a compressed message without an encoding");
});

t.test("a stream reset by the server (RST_STREAM)", async (t) => {
  const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR } = http2.constants;
  const cases: [number, string, Code][] = [
    [NGHTTP2_CANCEL, "CANCEL", Code.Canceled],
    [NGHTTP2_REFUSED_STREAM, "REFUSED_STREAM", Code.Unavailable],
    [NGHTTP2_ENHANCE_YOUR_CALM, "ENHANCE_YOUR_CALM", Code.ResourceExhausted],
    [NGHTTP2_INTERNAL_ERROR, "INTERNAL_ERROR", Code.Internal],
  ];
  for (const [rst, name, code] of cases) {
    peer.answer = (x) => x.reset(rst);
    for (const c of callers(2)) {
      const err = await c.fail();
      t.equal(err.code, code, `${c.name}: ${name} before the response`);
    }
  }
  // After the head and one message: the message arrives, then the reset is the call's error.
  for (const [how, code] of [
    ["cancel", Code.Canceled],
    ["internal", Code.Internal],
  ] as const) {
    for (const c of callers(2).filter((c) => c.name.includes("streaming"))) {
      const client = c.protocol === "grpc" ? grpcH2 : connectH2;
      peer.answer = (x) => x.sendThenReset(okAnswer(c, { body: msgEnvelope }), how);
      const got: string[] = [];
      const err = await failure(
        (async () => {
          for await (const m of client.serverStream({})) got.push(m.text);
        })(),
      );
      t.same(got, ["hi"], `${c.name}: the message before the reset arrives`);
      t.equal(err.code, code, `${c.name}: then ${how} (${err.rawMessage})`);
    }
    // A unary response cut off the same way.
    peer.answer = (x) => x.sendThenReset(okAnswer(callers(2)[0], { body: msgEnvelope }), how);
    t.equal((await failure(grpcH2.unary({}))).code, code, `gRPC unary: ${how} after the message`);
    peer.answer = (x) => x.sendThenReset(okAnswer(callers(2)[2], { body: messageBytes }), how);
    t.equal((await failure(connectH2.unary({}))).code, code, `Connect unary: ${how} after part of the body`);
  }
  peer.answer = (x) => x.send({ status: 500 });
});

t.test("connection refused is unavailable", async (t) => {
  const url = `http://127.0.0.1:${closedPort}`;
  const before = peer.hits.length;
  const makers: [string, Transport][] = [
    ["Connect HTTP/1.1", createConnectTransport({ baseUrl: url })],
    ["Connect h2c", createConnectTransport({ baseUrl: url, httpVersion: "2" })],
    ["gRPC h2c", createGrpcTransport({ baseUrl: url })],
    ["gRPC-Web HTTP/1.1", createGrpcWebTransport({ baseUrl: url })],
    ["gRPC-Web h2c", createGrpcWebTransport({ baseUrl: url, httpVersion: "2" })],
    ["Connect TLS (ALPN)", createConnectTransport({ baseUrl: `https://127.0.0.1:${closedPort}` })],
    ["gRPC TLS", createGrpcTransport({ baseUrl: `https://127.0.0.1:${closedPort}` })],
  ];
  for (const [name, tr] of makers) {
    transports.push(tr);
    const client = createClient(TestService, tr);
    const err = await failure(client.unary({ text: "x" }));
    t.equal(err.code, Code.Unavailable, `${name}: unary`);
    const s = await failure(drain(client.serverStream({ text: "x" })));
    t.equal(s.code, Code.Unavailable, `${name}: streaming`);
  }
  t.equal(peer.hits.length, before, "no request reached the fake servers");
});

t.test(
  "a server that accepts the connection and never answers: deadlines and cancels still end the call",
  async (t) => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    });
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const trs = [
      ["Connect HTTP/1.1", createConnectTransport({ baseUrl: url })],
      ["Connect h2c", createConnectTransport({ baseUrl: url, httpVersion: "2" })],
      ["gRPC h2c", createGrpcTransport({ baseUrl: url })],
      ["gRPC-Web HTTP/1.1", createGrpcWebTransport({ baseUrl: url })],
    ] as const;
    t.teardown(async () => {
      for (const [, tr] of trs) tr.close();
      for (const s of sockets) s.destroy();
      silent.close();
      await once(silent, "close");
    });
    for (const [name, tr] of trs) {
      const client = createClient(TestService, tr);
      const started = Date.now();
      const err = await failure(client.unary({ text: "x" }, { timeoutMs: 150 }));
      t.equal(err.code, Code.DeadlineExceeded, `${name}: deadline_exceeded`);
      t.ok(Date.now() - started < 1500, `${name}: near the deadline (${Date.now() - started} ms)`);
      const controller = new AbortController();
      const pending = failure(drain(client.serverStream({ text: "x" }, { signal: controller.signal })));
      setTimeout(() => controller.abort(), 50);
      t.equal((await pending).code, Code.Canceled, `${name}: a stream waiting for its connection is cancelled`);
    }
  },
);

t.test("transport options are checked when the transport is created", async (t) => {
  const base = { baseUrl: h1Url };
  const bad: [string, () => Transport, string][] = [
    ["no URL", () => createConnectTransport({ baseUrl: "not a url" }), "baseUrl"],
    ["ftp URL", () => createConnectTransport({ baseUrl: "ftp://127.0.0.1/" }), "baseUrl"],
    ["missing baseUrl", () => createGrpcWebTransport({} as ConnectTransportOptions), "baseUrl"],
    ["gRPC over HTTP/1.1", () => createGrpcTransport({ ...base, httpVersion: "1.1" }), "httpVersion"],
    ["HTTP/3", () => createConnectTransport({ ...base, httpVersion: "3" as "2" }), "httpVersion"],
    [
      "unknown sendCompression",
      () => createConnectTransport({ ...base, sendCompression: "snappy" }),
      "sendCompression",
    ],
    [
      "unknown acceptCompression",
      () => createGrpcTransport({ ...base, acceptCompression: ["zstd"] }),
      "acceptCompression",
    ],
    ["negative readMaxBytes", () => createConnectTransport({ ...base, readMaxBytes: -1 }), "readMaxBytes"],
    ["fractional writeMaxBytes", () => createGrpcWebTransport({ ...base, writeMaxBytes: 1.5 }), "writeMaxBytes"],
    ["negative compressMinBytes", () => createConnectTransport({ ...base, compressMinBytes: -1 }), "compressMinBytes"],
    [
      "interceptors not functions",
      () => createConnectTransport({ ...base, interceptors: [42 as never] }),
      "interceptors",
    ],
    ["tls not an object", () => createConnectTransport({ ...base, tls: "yes" as never }), "tls"],
    [
      "http2.maxConcurrentStreams 0",
      () => createGrpcTransport({ ...base, http2: { maxConcurrentStreams: 0 } }),
      "maxConcurrentStreams",
    ],
  ];
  for (const [what, make, option] of bad) {
    try {
      const tr = make();
      transports.push(tr);
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof TypeError, `${what}: a TypeError`);
      t.match((e as Error).message, `option "${option}"`, `${what}: names the option`);
    }
  }
  t.throws(() => createConnectTransport(null as never), TypeError, "options null");
  // Good ones pass.
  for (const tr of [
    createConnectTransport({ ...base, sendCompression: "identity", readMaxBytes: 1, compressMinBytes: 0 }),
    createGrpcTransport({ baseUrl: `${h2Url}/prefix/`, acceptCompression: [] }),
    createGrpcWebTransport({ baseUrl: "https://example.com", httpVersion: "1.1" }),
  ]) {
    transports.push(tr);
    t.ok(tr.protocol, `${tr.protocol}: created`);
  }
});

t.test("an invalid timeoutMs fails the call with invalid_argument, before anything is sent", async (t) => {
  peer.answer = (x) => x.send(okAnswer(callers(1)[0]));
  const before = peer.hits.length;
  for (const timeoutMs of [-1, Number.NaN, Number.NEGATIVE_INFINITY]) {
    for (const [name, client] of [
      ["Connect", connectH1],
      ["gRPC", grpcH2],
      ["gRPC-Web", grpcWebH1],
    ] as const) {
      const err = await failure(client.unary({}, { timeoutMs }));
      t.equal(err.code, Code.InvalidArgument, `${name} unary, timeoutMs ${String(timeoutMs)}`);
      t.match(err.rawMessage, "timeoutMs", `${name}: the message names it`);
      const s = await failure(drain(client.serverStream({}, { timeoutMs })));
      t.equal(s.code, Code.InvalidArgument, `${name} streaming, timeoutMs ${String(timeoutMs)}`);
    }
  }
  t.equal(peer.hits.length, before, "nothing was sent");
  const ok = await connectH1.unary({}, { timeoutMs: 10_000 });
  t.equal(ok.text, "hi", "a valid timeoutMs works");
});

t.test("a path prefix in baseUrl is kept", async (t) => {
  const prefixed = clientOf(createConnectTransport, { baseUrl: `${h1Url}/api/v1/` });
  const before = peer.hits.length;
  peer.answer = (x) => x.send(okAnswer(callers(1)[0]));
  await prefixed.unary({});
  t.equal(peer.hits[before], "/api/v1/fcr.test.v1.TestService/Unary");
});
