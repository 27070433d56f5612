// Interop with the reference Node gRPC peer: a @grpc/grpc-js client calls the
// plugin over h2c. Every call kind, deadlines, errors with
// grpc-status-details-bin, custom and -bin metadata both ways, gzip and
// deflate, and a full-duplex bidi exchange.
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { deflate, gzip } from "../../lib/protocol/compression.js";
import { decodeStatusDetails } from "../../lib/protocol/grpc-status.js";
import { type EchoResponse, ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";
import {
  createGrpcJsClient,
  type GrpcJsResult,
  grpcBidi,
  grpcClientStream,
  grpcServerStream,
  grpcUnary,
  type TestServiceGrpcClient,
} from "../helpers/grpc-js-client.js";
import { counting, hex, PAYLOAD } from "../helpers/peer.js";
import { type StartedServer, startServer } from "../helpers/server.js";

async function setup(
  t: Test,
  opts: Parameters<typeof startServer>[0] = {},
  channel: grpc.ChannelOptions = {},
): Promise<{ server: StartedServer; client: TestServiceGrpcClient }> {
  const server = await startServer({ ...opts, http2: true });
  t.teardown(server.close);
  const client = createGrpcJsClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), channel);
  t.teardown(() => client.close());
  return { server, client };
}

/** Checks a failed call: code, message, the ErrorInfo detail in grpc-status-details-bin, and error metadata. */
function checkErrorWithDetails(t: Test, r: GrpcJsResult, code: grpc.status, codeName: string, message: string) {
  t.ok(r.error, "the call failed");
  t.equal(r.status.code, code, "status code");
  t.equal(r.status.details, message, "status message");
  const bin = r.status.metadata.get("grpc-status-details-bin");
  t.equal(bin.length, 1, "grpc-status-details-bin is in the trailers");
  t.ok(Buffer.isBuffer(bin[0]), "grpc-js decoded it as binary metadata");
  const status = decodeStatusDetails(bin[0] as Buffer);
  t.equal(status.code, code, "google.rpc.Status.code matches grpc-status");
  t.equal(status.message, message, "google.rpc.Status.message matches grpc-message");
  t.same(
    status.details.map((d) => d.type),
    ["fcr.test.v1.ErrorInfo"],
    "one detail, typed by its Any type URL",
  );
  const info = fromBinary(ErrorInfoSchema, status.details[0].value);
  t.equal(info.reason, "on-purpose");
  t.same(info.fields, { codeName });
  t.same(r.status.metadata.get("x-error-meta"), ["yes"], "the error's metadata arrives as trailers");
  t.same(r.error?.metadata.get("x-error-meta"), ["yes"], "and on the ServiceError");
}

t.test("unary", async (t) => {
  const { client } = await setup(t);
  const r = await grpcUnary(client, { text: "héllo ✓", payload: PAYLOAD });
  t.equal(r.error, undefined);
  t.equal(r.status.code, grpc.status.OK);
  t.equal(r.messages.length, 1);
  t.equal(r.messages[0].text, "héllo ✓");
  t.equal(hex(r.messages[0].payload), hex(PAYLOAD), "payload bytes round-trip");

  const empty = await grpcUnary(client, {});
  t.equal(empty.status.code, grpc.status.OK, "an empty request message (zero-length envelope) works");
  t.equal(empty.messages[0]?.text, "");
});

t.test("server streaming", async (t) => {
  const { client } = await setup(t);
  const r = await grpcServerStream(client, { text: "s", count: 5, payload: PAYLOAD.subarray(0, 10) });
  t.equal(r.error, undefined);
  t.same(
    r.messages.map((m) => [m.text, m.index, hex(m.payload)]),
    [0, 1, 2, 3, 4].map((i) => ["s", i, hex(PAYLOAD.subarray(0, 10))]),
  );
  const none = await grpcServerStream(client, { text: "none", count: 0 });
  t.equal(none.status.code, grpc.status.OK, "zero messages end with OK");
  t.same(none.messages, []);
});

t.test("client streaming", async (t) => {
  const { client } = await setup(t);
  const r = await grpcClientStream(client, [{ text: "a" }, { text: "b", payload: PAYLOAD }, { text: "c" }]);
  t.equal(r.error, undefined);
  t.equal(r.messages[0]?.text, "a,b,c");
  t.equal(r.messages[0]?.index, 3);
  const none = await grpcClientStream(client, []);
  t.equal(none.status.code, grpc.status.OK);
  t.equal(none.messages[0]?.index, 0, "zero request messages reach the handler as an empty stream");
});

t.test("bidi streaming", async (t) => {
  const { client } = await setup(t);
  const r = await grpcBidi(client, [{ text: "x" }, { text: "y", payload: PAYLOAD }, { text: "z" }]);
  t.equal(r.error, undefined);
  t.same(
    r.messages.map((m) => [m.text, m.index]),
    [
      ["x", 0],
      ["y", 1],
      ["z", 2],
    ],
  );
});

t.test("bidi is full-duplex: the second request goes out only after the first reply arrived", async (t) => {
  const { client } = await setup(t);
  // A half-duplex server would wait for the end of the requests before
  // replying, and this exchange would stall until the deadline.
  const call = client.bidi(new grpc.Metadata(), { deadline: Date.now() + 3000 });
  const received: EchoResponse[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => {});
  call.on("data", (m: EchoResponse) => {
    received.push(m);
    if (received.length === 1) call.write({ text: "second" });
    else call.end();
  });
  call.write({ text: "first" });
  const s = await status;
  t.equal(s.code, grpc.status.OK, "the exchange completed before the deadline");
  t.same(
    received.map((m) => [m.text, m.index]),
    [
      ["first", 0],
      ["second", 1],
    ],
  );
});

t.test("deadline: a handler slower than the deadline ends DEADLINE_EXCEEDED", async (t) => {
  const { client } = await setup(t);
  const started = Date.now();
  const r = await grpcUnary(client, { text: "slow", delayMs: 3000 }, { timeoutMs: 100 });
  t.equal(r.status.code, grpc.status.DEADLINE_EXCEEDED);
  t.ok(Date.now() - started < 2000, "it did not wait for the handler");

  const stream = await grpcServerStream(client, { text: "slow", count: 10, delayMs: 60 }, { timeoutMs: 150 });
  t.equal(stream.status.code, grpc.status.DEADLINE_EXCEEDED, "server streaming too");
  t.ok(stream.messages.length < 10, "the stream was cut short");

  const fast = await grpcUnary(client, { text: "fast" }, { timeoutMs: 5000 });
  t.equal(fast.status.code, grpc.status.OK, "a call within its deadline succeeds");
});

t.test("errors carry grpc-status-details-bin (google.rpc.Status) and metadata", async (t) => {
  const { client } = await setup(t);

  t.test("unary", async (t) => {
    const r = await grpcUnary(client, { text: "error:not_found:no such thing" });
    checkErrorWithDetails(t, r, grpc.status.NOT_FOUND, "not_found", "no such thing");
    t.same(r.messages, []);
  });

  t.test("server streaming, after two messages", async (t) => {
    const r = await grpcServerStream(client, { text: "error:resource_exhausted:too much", count: 2 });
    checkErrorWithDetails(t, r, grpc.status.RESOURCE_EXHAUSTED, "resource_exhausted", "too much");
    t.equal(r.messages.length, 2, "the messages before the error arrived");
  });

  t.test("client streaming", async (t) => {
    const r = await grpcClientStream(client, [{ text: "ok" }, { text: "error:invalid_argument:bad second" }]);
    checkErrorWithDetails(t, r, grpc.status.INVALID_ARGUMENT, "invalid_argument", "bad second");
  });

  t.test("bidi, after one reply", async (t) => {
    const r = await grpcBidi(client, [{ text: "fine" }, { text: "error:permission_denied:nope" }]);
    checkErrorWithDetails(t, r, grpc.status.PERMISSION_DENIED, "permission_denied", "nope");
    t.same(
      r.messages.map((m) => m.text),
      ["fine"],
    );
  });

  t.test("a non-ASCII message survives percent-encoding", async (t) => {
    const r = await grpcUnary(client, { text: "error:aborted:héllo % ✓" });
    t.equal(r.status.code, grpc.status.ABORTED);
    t.equal(r.status.details, "héllo % ✓");
  });

  t.test("a plain Error thrown by a handler is INTERNAL without its message", async (t) => {
    const r = await grpcUnary(client, { text: "error:throw" });
    t.equal(r.status.code, grpc.status.INTERNAL);
    t.equal(r.status.details, "internal error");
    t.same(r.status.metadata.get("grpc-status-details-bin"), [], "no details");
  });
});

t.test("metadata: custom and -bin request metadata come back as header and trailers", async (t) => {
  const { client } = await setup(t);
  const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set("x-echo-header", "head value");
    m.set("x-echo-trailer", "tail value");
    m.set("x-echo-bin", bin);
    return m;
  };
  const check = (t: Test, r: GrpcJsResult) => {
    t.equal(r.status.code, grpc.status.OK);
    t.same(r.header?.get("x-echo-header"), ["head value"], "header metadata");
    t.same(r.status.metadata.get("x-echo-trailer"), ["tail value"], "trailer metadata");
    const got = r.status.metadata.get("x-echo-bin");
    t.equal(got.length, 1, "one -bin trailer");
    t.ok(Buffer.isBuffer(got[0]), "-bin metadata arrives as bytes");
    t.equal(hex(got[0] as Buffer), hex(bin), "-bin bytes round-trip");
  };
  t.test("unary", async (t) => check(t, await grpcUnary(client, { text: "m" }, { metadata: metadata() })));
  t.test("server streaming", async (t) =>
    check(t, await grpcServerStream(client, { text: "m", count: 2 }, { metadata: metadata() })),
  );
  t.test("client streaming", async (t) =>
    check(t, await grpcClientStream(client, [{ text: "m" }], { metadata: metadata() })),
  );
  t.test("bidi", async (t) => check(t, await grpcBidi(client, [{ text: "m" }], { metadata: metadata() })));
  t.test("on an error, header metadata still arrives (trailers-only response)", async (t) => {
    const r = await grpcUnary(client, { text: "error:not_found:x" }, { metadata: metadata() });
    t.equal(r.status.code, grpc.status.NOT_FOUND);
    // A trailers-only response folds the handler's header into the single HEADERS frame.
    const all = [...(r.header?.get("x-echo-header") ?? []), ...r.status.metadata.get("x-echo-header")];
    t.ok(all.includes("head value"), "x-echo-header reached the client");
  });
});

for (const [name, algorithm, inner] of [
  ["gzip", 2, gzip],
  ["deflate", 1, deflate],
] as const) {
  t.test(`${name}: the server decompresses requests and compresses responses`, async (t) => {
    const { compression, counts } = counting(inner);
    const { client } = await setup(
      t,
      { plugin: { compressMinBytes: 0, acceptCompression: [compression] } },
      { "grpc.default_compression_algorithm": algorithm },
    );

    const r = await grpcUnary(client, { text: name, payload: PAYLOAD });
    t.equal(r.error, undefined);
    t.equal(hex(r.messages[0]?.payload ?? new Uint8Array()), hex(PAYLOAD), "payload round-trips");
    t.equal(counts.decompress, 1, `the request message arrived ${name}-compressed`);
    t.equal(counts.compress, 1, `the response message went out ${name}-compressed`);

    const before = { ...counts };
    const s = await grpcBidi(client, [{ text: "a", payload: PAYLOAD }, { text: "b" }, { text: "c" }]);
    t.equal(s.error, undefined);
    t.same(
      s.messages.map((m) => m.text),
      ["a", "b", "c"],
    );
    t.equal(counts.decompress - before.decompress, 3, "every request message was compressed");
    t.equal(counts.compress - before.compress, 3, "every response message was compressed");

    const e = await grpcUnary(client, { text: "error:not_found:compressed" });
    checkErrorWithDetails(t, e, grpc.status.NOT_FOUND, "not_found", "compressed");
  });
}

t.test("a request compressed with an encoding the server lacks is UNIMPLEMENTED, naming what it accepts", async (t) => {
  // PROTOCOL-HTTP2.md, "Message-Encoding"; grpc-js compresses before it has
  // heard what the server accepts.
  const { client } = await setup(
    t,
    { plugin: { acceptCompression: ["deflate"] } },
    { "grpc.default_compression_algorithm": 2 },
  );
  const r = await grpcUnary(client, { text: "x", payload: PAYLOAD });
  t.equal(r.status.code, grpc.status.UNIMPLEMENTED);
  t.match(r.status.details, /gzip/, "the message names the unsupported encoding");
  t.same(r.status.metadata.get("grpc-accept-encoding"), ["deflate"], "grpc-accept-encoding lists the supported ones");
});
