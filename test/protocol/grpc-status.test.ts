// The status of a gRPC / gRPC-Web call: grpc-status, grpc-message and grpc-status-details-bin
// (grpc/grpc doc/PROTOCOL-HTTP2.md, "Responses"; google.rpc.Status in googleapis' status.proto).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import { ConnectError, type IncomingDetail } from "../../lib/protocol/error.js";
import {
  decodeGrpcMessage,
  decodeStatusDetails,
  encodeGrpcMessage,
  encodeStatusDetails,
  grpcStatusFromTrailers,
  grpcStatusTrailers,
} from "../../lib/protocol/grpc-status.js";
import { decodeBinaryHeader, encodeBinaryHeader } from "../../lib/protocol/headers.js";
import { ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

/** A `get` over a plain record, as the client reads trailers. */
function getter(record: Record<string, string>): (name: string) => string | null {
  return (name) => record[name] ?? null;
}

// ---- grpc-message: Percent-Encoded (PROTOCOL-HTTP2.md, "Status-Message") ----

t.test("Status-Message: space and VCHAR except % (0x20-0x24, 0x26-0x7E) are sent unencoded", async (t) => {
  let printable = "";
  for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x25) printable += String.fromCharCode(c);
  t.equal(encodeGrpcMessage(printable), printable);
  t.equal(encodeGrpcMessage(""), "");
});

t.test("Status-Message: % itself is encoded as %25", async (t) => {
  t.equal(encodeGrpcMessage("100%"), "100%25");
  t.equal(encodeGrpcMessage("%41"), "%2541", "an existing escape-looking sequence is not passed through");
});

t.test("Status-Message: bytes outside 0x20-0x7E are encoded as %XX with upper-case hex", async (t) => {
  t.equal(encodeGrpcMessage("a\nb\tc"), "a%0Ab%09c", "control characters");
  t.equal(encodeGrpcMessage("\u0000\u001f\u007f"), "%00%1F%7F", "NUL, 0x1F and DEL");
});

t.test("Status-Message: a Unicode message is encoded as its UTF-8 bytes, each percent-encoded", async (t) => {
  t.equal(encodeGrpcMessage("héllo"), "h%C3%A9llo", "two-byte UTF-8");
  t.equal(encodeGrpcMessage("€"), "%E2%82%AC", "three-byte UTF-8");
  t.equal(encodeGrpcMessage("😀 ok"), "%F0%9F%98%80 ok", "four-byte UTF-8 (a surrogate pair in JS)");
});

t.test("Status-Message: the decoder reverses the encoder for any Unicode message", async (t) => {
  for (const m of ["plain", "", "100% sure", "h\u00e9llo w\u00f6rld", "a\r\nb", "😀€é%", "%%%", "%2541"]) {
    const wire = encodeGrpcMessage(m);
    t.match(wire, /^[\x20-\x7e]*$/, `${JSON.stringify(m)} travels as printable ASCII`);
    t.equal(decodeGrpcMessage(wire), m, JSON.stringify(m));
  }
});

t.test("Status-Message: the decoder accepts lower-case hex digits too", async (t) => {
  t.equal(decodeGrpcMessage("h%c3%a9llo%0a"), "héllo\n");
});

t.test("Status-Message: a malformed escape MUST NOT fail the decoding; it is kept as it is", async (t) => {
  for (const s of ["%", "50% off", "%4", "%zz", "%4g", "trailing %", "%%"]) {
    t.equal(decodeGrpcMessage(s), s, JSON.stringify(s));
  }
  t.equal(decodeGrpcMessage("%zz and %C3%A9"), "%zz and é", "valid escapes beside a broken one are still decoded");
});

t.test("Status-Message: escapes that are not UTF-8 decode to replacement characters, not an error", async (t) => {
  // The spec lets a decoder replace what it cannot decode; the rest of the message must survive.
  t.equal(decodeGrpcMessage("bad %FF byte"), "bad \ufffd byte");
  t.equal(decodeGrpcMessage("cut %C3"), "cut \ufffd");
});

// ---- google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3 } ----

const errorInfo = { reason: "quota", fields: { zone: "eu" } };
const errorInfoBytes = toBinary(ErrorInfoSchema, create(ErrorInfoSchema, errorInfo));

t.test("google.rpc.Status: code as field 1 varint, message as field 2, omitted when empty", async (t) => {
  // 08 05 = field 1 varint 5; 12 02 "hi" = field 2, length 2.
  t.equal(hex(encodeStatusDetails(new ConnectError("hi", Code.NotFound))), "080512026869");
  t.equal(hex(encodeStatusDetails(new ConnectError("", Code.Internal))), "080d", "no message field at all");
});

t.test("google.rpc.Status: each detail is a google.protobuf.Any with a type.googleapis.com/ type URL", async (t) => {
  const bytes = encodeStatusDetails(
    new ConnectError("", Code.Aborted, { details: [{ type: "a.B", value: new Uint8Array([1, 2]) }] }),
  );
  const typeUrl = Buffer.from("type.googleapis.com/a.B").toString("hex"); // 23 bytes = 0x17
  // 1a 1d = field 3, length 29: [0a 17 <type url>] [12 02 01 02].
  t.equal(hex(bytes), `080a1a1d0a17${typeUrl}12020102`);
});

t.test("google.rpc.Status: a detail given as a message is sent as its binary form", async (t) => {
  const err = new ConnectError("over quota", Code.ResourceExhausted, {
    details: [{ desc: ErrorInfoSchema, value: errorInfo }],
  });
  const decoded = decodeStatusDetails(encodeStatusDetails(err));
  t.equal(decoded.details.length, 1);
  t.equal(decoded.details[0].type, "fcr.test.v1.ErrorInfo");
  t.same(fromBinary(ErrorInfoSchema, decoded.details[0].value), create(ErrorInfoSchema, errorInfo));
});

t.test("google.rpc.Status: encode then decode gives back code, message and every detail in order", async (t) => {
  const details: IncomingDetail[] = [
    { type: "fcr.test.v1.ErrorInfo", value: errorInfoBytes },
    { type: "google.rpc.RetryInfo", value: new Uint8Array([0x0a, 0x02, 0x08, 0x3c]) },
    { type: "google.rpc.Empty", value: new Uint8Array(0) },
  ];
  const err = new ConnectError("héllo, 100%", Code.Unavailable, { details });
  const decoded = decodeStatusDetails(encodeStatusDetails(err));
  t.equal(decoded.code, Code.Unavailable);
  t.equal(decoded.message, "héllo, 100%", "the message is raw UTF-8 inside the proto, not percent-encoded");
  t.same(
    decoded.details.map((d) => ({ type: d.type, value: hex(d.value) })),
    details.map((d) => ({ type: d.type, value: hex(d.value) })),
  );
});

t.test("google.rpc.Status: a missing field decodes to its proto3 default", async (t) => {
  t.same(decodeStatusDetails(new Uint8Array(0)), { code: 0, message: "", details: [] });
  t.same(decodeStatusDetails(fromHex("1203616263")), { code: 0, message: "abc", details: [] });
});

t.test("google.rpc.Status: the type name is what follows the last / of the type URL", async (t) => {
  const url = Buffer.from("example.com/types/x.y.Z").toString("hex"); // 23 bytes
  const decoded = decodeStatusDetails(fromHex(`08031a1b0a17${url}1200`));
  t.same(decoded.details, [{ type: "x.y.Z", value: new Uint8Array(0) }]);
  const bare = Buffer.from("x.Y").toString("hex");
  t.equal(decodeStatusDetails(fromHex(`1a050a03${bare}`)).details[0].type, "x.Y", "a URL without / is the name");
});

t.test("google.rpc.Status: unknown fields of every wire type are skipped, in Status and in Any", async (t) => {
  const typeUrl = Buffer.from("type.googleapis.com/a.B").toString("hex");
  const bytes = fromHex(
    [
      "2001", // field 4 varint 1
      "0805", // code 5
      "290102030405060708", // field 5 fixed64
      "3d01020304", // field 7 fixed32
      "420178", // field 8 length-delimited "x"
      "1202 6869", // message "hi"
      // Any with its own unknown field 3 (varint) between type_url and value.
      "1a20 0a17",
      typeUrl,
      "1801 1203 aabbcc",
      "0807", // a second code field: the last one wins, as in proto3
    ].join(""),
  );
  const decoded = decodeStatusDetails(bytes);
  t.equal(decoded.code, 7);
  t.equal(decoded.message, "hi");
  t.same(
    decoded.details.map((d) => ({ type: d.type, value: hex(d.value) })),
    [{ type: "a.B", value: "aabbcc" }],
  );
});

t.test(
  "google.rpc.Status: a known field number with the wrong wire type is skipped like an unknown field",
  async (t) => {
    // field 1 as length-delimited, field 2 as varint: neither is taken.
    t.same(decodeStatusDetails(fromHex("0a0101 1001 0809")), { code: 9, message: "", details: [] });
  },
);

t.test("google.rpc.Status: truncated bytes throw rather than decode to something made up", async (t) => {
  t.throws(() => decodeStatusDetails(fromHex("1205 6869")), "a message longer than the buffer");
  t.throws(() => decodeStatusDetails(fromHex("08")), "a varint cut off");
});

// ---- grpcStatusTrailers: what the server sends ----

t.test("Responses: a successful call ends with grpc-status 0 and nothing else of the status", async (t) => {
  t.same(grpcStatusTrailers(undefined, undefined), { "grpc-status": "0" });
  t.same(grpcStatusTrailers(undefined, new Headers({ "x-cost": "7" })), { "x-cost": "7", "grpc-status": "0" });
});

t.test(
  "Responses: an error sends its code as grpc-status and its message percent-encoded in grpc-message",
  async (t) => {
    const out = grpcStatusTrailers(new ConnectError("not here: é 100%", Code.NotFound), undefined);
    t.same(out, { "grpc-status": "5", "grpc-message": "not here: %C3%A9 100%25" });
  },
);

t.test(
  "Responses: an error without a message sends no grpc-message, and no details header without details",
  async (t) => {
    const out = grpcStatusTrailers(new ConnectError("", Code.Internal), undefined);
    t.same(out, { "grpc-status": "13" });
  },
);

t.test("Responses: details travel in grpc-status-details-bin as an unpadded base64 google.rpc.Status", async (t) => {
  const err = new ConnectError("over quota", Code.ResourceExhausted, {
    details: [{ desc: ErrorInfoSchema, value: errorInfo }],
  });
  const out = grpcStatusTrailers(err, undefined);
  const bin = String(out["grpc-status-details-bin"]);
  t.notMatch(bin, /=/, "no padding (PROTOCOL-HTTP2.md, Custom-Metadata: senders emit unpadded base64)");
  t.equal(bin, encodeBinaryHeader(encodeStatusDetails(err)));
  const status = decodeStatusDetails(decodeBinaryHeader(bin));
  t.equal(status.code, Code.ResourceExhausted, "the Status carries the same code as grpc-status");
  t.equal(status.message, "over quota");
  t.equal(status.details[0].type, "fcr.test.v1.ErrorInfo");
});

t.test("Responses: the handler's trailers and the error's metadata go out with the status", async (t) => {
  const err = new ConnectError("no", Code.PermissionDenied, { metadata: { "x-why": "policy", "x-cost": "2" } });
  const out = grpcStatusTrailers(err, new Headers({ "x-cost": "1" }));
  t.equal(out["x-why"], "policy");
  t.same(out["x-cost"], ["1", "2"], "a name in both keeps both values");
  t.equal(out["grpc-status"], "7");
});

t.test("Responses: metadata cannot override the protocol's own status headers", async (t) => {
  const sneaky = { "grpc-status": "0", "grpc-message": "fine", "grpc-status-details-bin": "AAAA" };
  const out = grpcStatusTrailers(new ConnectError("real", Code.Aborted, { metadata: sneaky }), new Headers(sneaky));
  t.same(out, { "grpc-status": "10", "grpc-message": "real" });
  t.same(grpcStatusTrailers(undefined, new Headers(sneaky)), { "grpc-status": "0" });
});

// ---- grpcStatusFromTrailers: what the client reads ----

t.test("Responses: grpc-status 0 is success", async (t) => {
  t.equal(grpcStatusFromTrailers(getter({ "grpc-status": "0" }), new Headers()), undefined);
  t.equal(
    grpcStatusFromTrailers(getter({ "grpc-status": "0", "grpc-message": "ignored" }), new Headers()),
    undefined,
    "a message beside status 0 does not make it an error",
  );
});

t.test("Responses: a missing grpc-status is an internal error, never a success", async (t) => {
  const metadata = new Headers({ "x-seen": "1" });
  const err = grpcStatusFromTrailers(getter({ "grpc-message": "whatever" }), metadata);
  t.ok(err instanceof ConnectError);
  t.equal(err?.code, Code.Internal);
  t.equal(err?.rawMessage, "protocol error: missing grpc-status");
  t.equal(err?.metadata.get("x-seen"), "1", "the trailers are still available to the caller");
});

t.test("Responses: grpc-status 1-16 becomes that code, with grpc-message decoded", async (t) => {
  for (let code = 1; code <= 16; code++) {
    const err = grpcStatusFromTrailers(
      getter({ "grpc-status": String(code), "grpc-message": "h%C3%A9 %zz" }),
      new Headers(),
    );
    t.equal(err?.code, code, `grpc-status ${code}`);
    t.equal(err?.rawMessage, "hé %zz");
  }
  const bare = grpcStatusFromTrailers(getter({ "grpc-status": "14" }), new Headers({ "x-a": "b" }));
  t.equal(bare?.rawMessage, "", "no grpc-message is an empty message");
  t.equal(bare?.metadata.get("x-a"), "b");
});

t.test("Status: grpc-status is 1*DIGIT; anything else is unknown, naming the value received", async (t) => {
  for (const status of ["", "abc", "-1", "+5", " 5", "5 ", "5.0", "0x5", "1e1", "OK"]) {
    const err = grpcStatusFromTrailers(getter({ "grpc-status": status, "grpc-message": "m" }), new Headers());
    t.equal(err?.code, Code.Unknown, JSON.stringify(status));
    t.equal(err?.rawMessage, `protocol error: invalid grpc-status "${status}"`, JSON.stringify(status));
  }
});

t.test("Status: a numeric grpc-status outside the defined codes 0-16 is unknown", async (t) => {
  for (const status of ["17", "99", "4294967296"]) {
    const err = grpcStatusFromTrailers(getter({ "grpc-status": status }), new Headers());
    t.equal(err?.code, Code.Unknown, status);
    t.equal(err?.rawMessage, `protocol error: invalid grpc-status "${status}"`);
  }
});

t.test("Responses: grpc-status-details-bin is decoded into the error's details", async (t) => {
  const sent = new ConnectError("over quota", Code.ResourceExhausted, {
    details: [{ desc: ErrorInfoSchema, value: errorInfo }],
  });
  const trailers = grpcStatusTrailers(sent, undefined) as Record<string, string>;
  const err = grpcStatusFromTrailers(getter(trailers), new Headers());
  t.equal(err?.code, Code.ResourceExhausted);
  t.equal(err?.details.length, 1);
  t.same(err?.findDetails(ErrorInfoSchema), [create(ErrorInfoSchema, errorInfo)]);
});

t.test("Responses: grpc-status and grpc-message win over the code and message inside details-bin", async (t) => {
  const inner = encodeBinaryHeader(encodeStatusDetails(new ConnectError("inner", Code.Internal)));
  const err = grpcStatusFromTrailers(
    getter({ "grpc-status": "5", "grpc-message": "outer", "grpc-status-details-bin": inner }),
    new Headers(),
  );
  t.equal(err?.code, Code.NotFound);
  t.equal(err?.rawMessage, "outer");
});

t.test("Responses: details that fail to decode are dropped; the status and message still stand", async (t) => {
  const truncated = encodeBinaryHeader(fromHex("1a05 0a03 61")); // an Any cut off mid-field
  const err = grpcStatusFromTrailers(
    getter({ "grpc-status": "3", "grpc-message": "bad input", "grpc-status-details-bin": truncated }),
    new Headers(),
  );
  t.equal(err?.code, Code.InvalidArgument);
  t.equal(err?.rawMessage, "bad input");
  t.same(err?.details, []);
});

t.test("Status: an invalid grpc-status keeps the details that did decode", async (t) => {
  const bin = encodeBinaryHeader(
    encodeStatusDetails(
      new ConnectError("x", Code.Aborted, { details: [{ type: "a.B", value: new Uint8Array([9]) }] }),
    ),
  );
  const err = grpcStatusFromTrailers(getter({ "grpc-status": "nope", "grpc-status-details-bin": bin }), new Headers());
  t.equal(err?.code, Code.Unknown);
  t.same(
    err?.details.map((d) => ("type" in d ? d.type : "")),
    ["a.B"],
  );
});
