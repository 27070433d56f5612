import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import { createCodec, createJsonCodec, createProtoCodec } from "../../lib/protocol/codec.js";
import { EchoRequestSchema, ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";

const full = create(EchoRequestSchema, {
  text: "héllo ✓",
  count: -7,
  payload: new Uint8Array([0, 1, 254, 255]),
  delayMs: 250,
});

function json(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString("utf8"));
}

t.test("proto codec round trips a message", async (t) => {
  const codec = createProtoCodec(EchoRequestSchema);
  t.equal(codec.name, "proto");
  const bytes = codec.encode(full);
  t.same(bytes, toBinary(EchoRequestSchema, full), "the standard binary encoding");
  const back = codec.decode(bytes);
  t.equal(back.$typeName, "fcr.test.v1.EchoRequest");
  t.ok(equals(EchoRequestSchema, back, full));
  t.equal(back.text, "héllo ✓");
  t.equal(back.count, -7);
  t.same(Array.from(back.payload), [0, 1, 254, 255]);
});

t.test("proto codec round trips map fields", async (t) => {
  const codec = createProtoCodec(ErrorInfoSchema);
  const back = codec.decode(codec.encode({ reason: "R", fields: { a: "1", b: "2" } }));
  t.equal(back.reason, "R");
  t.same(back.fields, { a: "1", b: "2" });
});

t.test("proto codec: the empty message is zero bytes and zero bytes are the empty message", async (t) => {
  const codec = createProtoCodec(EchoRequestSchema);
  t.equal(codec.encode({}).byteLength, 0);
  t.ok(equals(EchoRequestSchema, codec.decode(new Uint8Array(0)), create(EchoRequestSchema)));
});

t.test("encode accepts a plain init object", async (t) => {
  const init = { text: "héllo ✓", count: -7, payload: new Uint8Array([0, 1, 254, 255]), delayMs: 250 };
  t.same(createProtoCodec(EchoRequestSchema).encode(init), createProtoCodec(EchoRequestSchema).encode(full));
  t.same(json(createJsonCodec(EchoRequestSchema).encode(init)), json(createJsonCodec(EchoRequestSchema).encode(full)));
});

t.test("proto codec decodes a subarray of a larger buffer", async (t) => {
  const bytes = toBinary(EchoRequestSchema, full);
  const padded = new Uint8Array(bytes.byteLength + 20).fill(0xff);
  padded.set(bytes, 10);
  const back = createProtoCodec(EchoRequestSchema).decode(padded.subarray(10, 10 + bytes.byteLength));
  t.ok(equals(EchoRequestSchema, back, full));
});

t.test("proto codec: bad bytes are invalid_argument naming the type", async (t) => {
  const codec = createProtoCodec(EchoRequestSchema);
  for (const bad of [
    new Uint8Array([0x0a, 0x05, 0x61]), // text field, length 5, one byte present
    new Uint8Array([0xff, 0xff, 0xff]), // truncated varint tag
    new Uint8Array([0x0f]), // field 1, wire type 7 (no such wire type)
  ]) {
    t.throws(() => codec.decode(bad), {
      name: "ConnectError",
      code: Code.InvalidArgument,
      message: /^\[invalid_argument\] cannot decode fcr\.test\.v1\.EchoRequest from binary: /,
    });
  }
});

t.test("proto codec: a value that cannot be encoded is internal, naming the type", async (t) => {
  const codec = createProtoCodec(EchoRequestSchema);
  t.throws(() => codec.encode({ count: "not a number" }), {
    name: "ConnectError",
    code: Code.Internal,
    message: /cannot encode fcr\.test\.v1\.EchoRequest as binary/,
  });
});

t.test("JSON codec round trips a message with proto3 JSON field names", async (t) => {
  const codec = createJsonCodec(EchoRequestSchema);
  t.equal(codec.name, "json");
  const bytes = codec.encode(full);
  t.same(json(bytes), { text: "héllo ✓", count: -7, payload: "AAH+/w==", delayMs: 250 });
  const back = codec.decode(bytes);
  t.equal(back.$typeName, "fcr.test.v1.EchoRequest");
  t.ok(equals(EchoRequestSchema, back, full));
});

t.test("JSON codec accepts the original proto field names too", async (t) => {
  const back = createJsonCodec(EchoRequestSchema).decode(Buffer.from('{"delay_ms": 9}'));
  t.equal(back.delayMs, 9);
});

t.test("JSON codec round trips map fields", async (t) => {
  const codec = createJsonCodec(ErrorInfoSchema);
  const bytes = codec.encode({ reason: "R", fields: { a: "1" } });
  t.same(json(bytes), { reason: "R", fields: { a: "1" } });
  t.same(codec.decode(bytes).fields, { a: "1" });
});

t.test("JSON codec: an empty body decodes to the empty message", async (t) => {
  const back = createJsonCodec(EchoRequestSchema).decode(new Uint8Array(0));
  t.ok(equals(EchoRequestSchema, back, create(EchoRequestSchema)));
  t.equal(back.$typeName, "fcr.test.v1.EchoRequest");
});

t.test("JSON codec ignores unknown fields by default", async (t) => {
  const back = createJsonCodec(EchoRequestSchema).decode(Buffer.from('{"text":"a","addedLater":{"x":[1,2]}}'));
  t.equal(back.text, "a");
});

t.test("JSON codec refuses unknown fields when asked to", async (t) => {
  const strict = createJsonCodec(EchoRequestSchema, { ignoreUnknownFields: false });
  t.throws(() => strict.decode(Buffer.from('{"text":"a","addedLater":1}')), {
    name: "ConnectError",
    code: Code.InvalidArgument,
    message: /cannot decode fcr\.test\.v1\.EchoRequest from JSON/,
  });
});

t.test("JSON codec passes write options through", async (t) => {
  const codec = createJsonCodec(EchoRequestSchema, { alwaysEmitImplicit: true });
  t.same(json(codec.encode({})), { text: "", count: 0, payload: "", delayMs: 0 });
  t.same(json(createJsonCodec(EchoRequestSchema).encode({})), {}, "defaults are omitted otherwise");
});

t.test("JSON codec: bad JSON is invalid_argument naming the type", async (t) => {
  const codec = createJsonCodec(EchoRequestSchema);
  for (const bad of ["{", "not json", '{"count":"abc"}', '{"count":1.5}', '{"payload":"***"}', "[]", '"text"']) {
    t.throws(
      () => codec.decode(Buffer.from(bad)),
      {
        name: "ConnectError",
        code: Code.InvalidArgument,
        message: /^\[invalid_argument\] cannot decode fcr\.test\.v1\.EchoRequest from JSON: /,
      },
      bad,
    );
  }
});

t.test("JSON codec: bytes that are not UTF-8 are invalid_argument, not replaced (RFC 8259 section 8.1)", async (t) => {
  const codec = createJsonCodec(EchoRequestSchema);
  const cases = [
    Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xc3]), Buffer.from('"}')]), // a cut 2-byte sequence
    Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // a UTF-16 surrogate
  ];
  for (const bad of cases) {
    t.throws(
      () => codec.decode(bad),
      { name: "ConnectError", code: Code.InvalidArgument, message: /from JSON: invalid UTF-8/ },
      bad.toString("hex"),
    );
  }
  t.equal(codec.decode(Buffer.from('{"text":"h\u00e9llo ✓"}')).text, "héllo ✓", "valid UTF-8 and escapes still decode");
});

t.test("JSON codec decodes a subarray of a larger buffer", async (t) => {
  const whole = Buffer.from('xxxx{"text":"mid"}yyyy');
  const back = createJsonCodec(EchoRequestSchema).decode(whole.subarray(4, whole.length - 4));
  t.equal(back.text, "mid");
});

t.test("createCodec picks the codec by name", async (t) => {
  const proto = createCodec(EchoRequestSchema, "proto");
  const jsonCodec = createCodec(EchoRequestSchema, "json");
  t.equal(proto.name, "proto");
  t.equal(jsonCodec.name, "json");
  t.same(proto.encode(full), toBinary(EchoRequestSchema, full));
  t.equal(fromBinary(EchoRequestSchema, proto.encode(full)).text, full.text);
  t.same(json(jsonCodec.encode({ text: "a" })), { text: "a" });
  const withOptions = createCodec(EchoRequestSchema, "json", { ignoreUnknownFields: false });
  t.throws(() => withOptions.decode(Buffer.from('{"zzz":1}')), { code: Code.InvalidArgument });
});

t.test("JSON codec: a value that cannot be encoded is internal, naming the type", async (t) => {
  const codec = createJsonCodec(EchoRequestSchema);
  t.throws(() => codec.encode({ count: "not a number" }), {
    name: "ConnectError",
    code: Code.Internal,
    message: /cannot encode fcr\.test\.v1\.EchoRequest as JSON/,
  });
});

t.test("JSON codec: google.protobuf.Any of a type from the message's own file needs no registry", async (t) => {
  // ConformancePayload.RequestInfo carries its requests as Any; they are in the same file.
  const { ConformancePayload_RequestInfoSchema, UnaryRequestSchema } = await import(
    "../../conformance/gen/connectrpc/conformance/v1/service_pb.js"
  );
  const { anyPack, anyUnpack } = await import("@bufbuild/protobuf/wkt");
  const inner = create(UnaryRequestSchema, { requestData: new Uint8Array([1, 2, 3]) });
  const info = create(ConformancePayload_RequestInfoSchema, { requests: [anyPack(UnaryRequestSchema, inner)] });
  const codec = createJsonCodec(ConformancePayload_RequestInfoSchema);
  const bytes = codec.encode(info);
  t.match(json(bytes), {
    requests: [{ "@type": "type.googleapis.com/connectrpc.conformance.v1.UnaryRequest", requestData: "AQID" }],
  });
  const back = codec.decode(bytes);
  t.same(anyUnpack(back.requests[0], UnaryRequestSchema)?.requestData, new Uint8Array([1, 2, 3]));
});
