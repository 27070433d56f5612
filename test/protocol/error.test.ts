import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import { ConnectError, detailToWire, type IncomingDetail } from "../../lib/protocol/error.js";
import { EchoRequestSchema, ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";

t.test("message is formatted as [code] msg; rawMessage is the message alone", async (t) => {
  const e = new ConnectError("no such user", Code.NotFound);
  t.equal(e.message, "[not_found] no such user");
  t.equal(e.rawMessage, "no such user");
  t.equal(e.code, Code.NotFound);
  t.equal(e.name, "ConnectError");
  t.ok(e instanceof ConnectError);
  t.ok(e instanceof Error);
  t.match(String(e), /^ConnectError: \[not_found\] no such user/);
});

t.test("an empty message is formatted as [code] alone", async (t) => {
  const e = new ConnectError("", Code.Internal);
  t.equal(e.message, "[internal]");
  t.equal(e.rawMessage, "");
});

t.test("the default code is unknown; details default to none; no cause unless given", async (t) => {
  const e = new ConnectError("oops");
  t.equal(e.code, Code.Unknown);
  t.equal(e.message, "[unknown] oops");
  t.same(e.details, []);
  t.equal(e.cause, undefined);
  t.notOk("cause" in e, "no cause property at all");
  t.same([...e.metadata], []);
});

t.test("cause is kept on the error", async (t) => {
  const cause = new Error("root");
  t.equal(new ConnectError("x", Code.Aborted, { cause }).cause, cause);
});

t.test("subclasses keep their prototype", async (t) => {
  class MyError extends ConnectError {}
  const e = new MyError("x", Code.Aborted);
  t.ok(e instanceof MyError);
  t.ok(e instanceof ConnectError);
});

t.test("metadata accepts any Headers init and is a Headers object", async (t) => {
  const fromRecord = new ConnectError("x", Code.Unknown, { metadata: { "X-Retry": "3" } });
  t.ok(fromRecord.metadata instanceof Headers);
  t.equal(fromRecord.metadata.get("x-retry"), "3");
  const fromPairs = new ConnectError("x", Code.Unknown, {
    metadata: [
      ["a", "1"],
      ["a", "2"],
    ],
  });
  t.equal(fromPairs.metadata.get("a"), "1, 2");
  const source = new Headers({ b: "1" });
  const fromHeaders = new ConnectError("x", Code.Unknown, { metadata: source });
  t.equal(fromHeaders.metadata.get("b"), "1");
  source.set("b", "changed");
  t.equal(fromHeaders.metadata.get("b"), "1", "the metadata is a copy");
});

t.test("ConnectError.from passes a ConnectError through unchanged", async (t) => {
  const e = new ConnectError("already", Code.NotFound);
  t.equal(ConnectError.from(e), e);
  t.equal(ConnectError.from(e, Code.Internal), e, "its code is kept");
  t.equal(ConnectError.from(e).code, Code.NotFound);
});

t.test("ConnectError.from wraps other errors without leaking their message", async (t) => {
  const secret = new Error("SELECT * FROM users WHERE password = 'hunter2'");
  const e = ConnectError.from(secret);
  t.equal(e.code, Code.Unknown);
  t.equal(e.message, "[unknown] unknown error");
  t.notMatch(e.message, /hunter2|SELECT/);
  t.equal(e.cause, secret, "the original is the cause");
  t.equal(e.details.length, 0);

  const internal = ConnectError.from(new TypeError("x is undefined"), Code.Internal);
  t.equal(internal.code, Code.Internal);
  t.equal(internal.rawMessage, "internal error");
});

t.test("ConnectError.from wraps non-Error values too", async (t) => {
  for (const reason of ["a string", 42, null, undefined, { message: "object" }]) {
    const e = ConnectError.from(reason);
    t.equal(e.code, Code.Unknown);
    t.equal(e.rawMessage, "unknown error");
    t.equal(e.cause, reason);
  }
});

t.test("ConnectError.from turns an AbortError into canceled", async (t) => {
  const ac = new AbortController();
  ac.abort();
  const dom = ConnectError.from(ac.signal.reason);
  t.equal(dom.code, Code.Canceled, "the DOMException of AbortController.abort()");
  t.equal(dom.rawMessage, "operation was aborted");
  t.equal(dom.cause, ac.signal.reason);

  const plain = Object.assign(new Error("The operation was aborted"), { name: "AbortError" });
  t.equal(ConnectError.from(plain, Code.Internal).code, Code.Canceled, "an Error named AbortError");
});

t.test("findDetails decodes outgoing details (descriptor and init) of the asked type", async (t) => {
  const e = new ConnectError("x", Code.FailedPrecondition, {
    details: [
      { desc: ErrorInfoSchema, value: { reason: "QUOTA", fields: { limit: "10" } } },
      { desc: EchoRequestSchema, value: { text: "other type" } },
      { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "SECOND" }) },
    ],
  });
  const infos = e.findDetails(ErrorInfoSchema);
  t.equal(infos.length, 2);
  t.equal(infos[0].$typeName, "fcr.test.v1.ErrorInfo");
  t.equal(infos[0].reason, "QUOTA");
  t.same(infos[0].fields, { limit: "10" });
  t.equal(infos[1].reason, "SECOND");
  const echoes = e.findDetails(EchoRequestSchema);
  t.equal(echoes.length, 1);
  t.equal(echoes[0].text, "other type");
});

t.test("findDetails decodes incoming details from their bytes and skips ones that do not decode", async (t) => {
  const bytes = toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "WIRE", fields: { a: "b" } }));
  const e = new ConnectError("x", Code.Unavailable, {
    details: [
      { type: "fcr.test.v1.ErrorInfo", value: bytes },
      { type: "fcr.test.v1.ErrorInfo", value: new Uint8Array([0x0a, 0x05, 0x61]) }, // truncated
      { type: "google.rpc.RetryInfo", value: new Uint8Array([1, 2, 3]) },
    ],
  });
  const infos = e.findDetails(ErrorInfoSchema);
  t.equal(infos.length, 1);
  t.equal(infos[0].reason, "WIRE");
  t.same(infos[0].fields, { a: "b" });
  t.same(e.findDetails(EchoRequestSchema), [], "no detail of that type");
});

t.test("detailToWire gives the type name and binary bytes of an outgoing detail", async (t) => {
  const wire = detailToWire({ desc: ErrorInfoSchema, value: { reason: "R", fields: { k: "v" } } });
  t.equal(wire.type, "fcr.test.v1.ErrorInfo");
  t.ok(wire.value instanceof Uint8Array);
  const back = fromBinary(ErrorInfoSchema, wire.value);
  t.equal(back.reason, "R");
  t.same(back.fields, { k: "v" });
  t.equal(wire.debug, undefined);
});

t.test("detailToWire passes an incoming detail through as it is", async (t) => {
  const incoming: IncomingDetail = { type: "x.Y", value: new Uint8Array([8, 1]), debug: { a: 1 } };
  t.equal(detailToWire(incoming), incoming);
});
