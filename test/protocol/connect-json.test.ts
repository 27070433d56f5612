import { create, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import {
  endStreamFromJson,
  endStreamToJsonBytes,
  errorFromJson,
  errorToJson,
  errorToJsonBytes,
} from "../../lib/protocol/connect-json.js";
import { ConnectError } from "../../lib/protocol/error.js";
import { ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";

// Three bytes of proto would need no padding; this detail is 4 bytes long, so
// padded base64 would end in "==".
const info = { reason: "AB" };
const infoBytes = toBinary(ErrorInfoSchema, create(ErrorInfoSchema, info));

function parse(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString("utf8"));
}

t.test("errorToJson: {code, message, details: [{type, value}]} with unpadded base64 values", async (t) => {
  t.equal(infoBytes.byteLength % 3, 1, "the detail's base64 would be padded");
  const e = new ConnectError("quota exceeded", Code.ResourceExhausted, {
    details: [
      { desc: ErrorInfoSchema, value: info },
      { type: "google.rpc.RetryInfo", value: new Uint8Array([0xff, 0xfe]), debug: { retryDelay: "1s" } },
    ],
  });
  t.same(errorToJson(e), {
    code: "resource_exhausted",
    message: "quota exceeded",
    details: [
      { type: "fcr.test.v1.ErrorInfo", value: Buffer.from(infoBytes).toString("base64").replace(/=+$/, "") },
      { type: "google.rpc.RetryInfo", value: "//4", debug: { retryDelay: "1s" } },
    ],
  });
  const json = errorToJson(e);
  t.notMatch(json.details?.[0].value ?? "=", /=/);
});

t.test("errorToJson: the message is the raw message, without the [code] prefix", async (t) => {
  t.same(errorToJson(new ConnectError("no such user", Code.NotFound)), { code: "not_found", message: "no such user" });
});

t.test("errorToJson leaves out an empty message and empty details", async (t) => {
  t.same(errorToJson(new ConnectError("", Code.Internal)), { code: "internal" });
});

t.test("errorToJsonBytes is the JSON text of errorToJson", async (t) => {
  const e = new ConnectError("bad", Code.InvalidArgument, { details: [{ desc: ErrorInfoSchema, value: info }] });
  t.same(parse(errorToJsonBytes(e)), errorToJson(e));
});

t.test("errorFromJson(errorToJson(e)) round trips code, message and details", async (t) => {
  const e = new ConnectError("quota exceeded", Code.ResourceExhausted, {
    details: [{ desc: ErrorInfoSchema, value: { reason: "QUOTA", fields: { limit: "10" } } }],
  });
  const back = errorFromJson(parse(errorToJsonBytes(e)), { "x-trace": "t1" });
  t.ok(back instanceof ConnectError);
  t.equal(back?.code, Code.ResourceExhausted);
  t.equal(back?.rawMessage, "quota exceeded");
  t.equal(back?.message, "[resource_exhausted] quota exceeded");
  t.equal(back?.metadata.get("x-trace"), "t1", "the metadata given is the error's metadata");
  t.equal(back?.details.length, 1);
  t.same(back?.details[0], {
    type: "fcr.test.v1.ErrorInfo",
    value: new Uint8Array(
      toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "QUOTA", fields: { limit: "10" } })),
    ),
    debug: undefined,
  });
  const infos = back?.findDetails(ErrorInfoSchema) ?? [];
  t.equal(infos.length, 1);
  t.equal(infos[0]?.reason, "QUOTA");
  t.same(infos[0]?.fields, { limit: "10" });
});

t.test("errorFromJson for every code name", async (t) => {
  for (let code = 1; code <= 16; code++) {
    const back = errorFromJson(errorToJson(new ConnectError("m", code)));
    t.equal(back?.code, code);
  }
});

t.test("errorFromJson accepts padded base64, keeps debug, and skips malformed details", async (t) => {
  const back = errorFromJson({
    code: "unavailable",
    details: [
      { type: "a.B", value: "//4=", debug: { x: 1 } },
      { type: "a.C", value: "//4" },
      { type: "a.D" },
      { value: "AA" },
      { type: 1, value: "AA" },
      null,
      "detail",
    ],
  });
  t.equal(back?.details.length, 2);
  t.same(back?.details[0], { type: "a.B", value: new Uint8Array([0xff, 0xfe]), debug: { x: 1 } });
  t.same(back?.details[1], { type: "a.C", value: new Uint8Array([0xff, 0xfe]), debug: undefined });
  t.equal(back?.rawMessage, "", "a missing message is empty");
});

t.test("errorFromJson: a non-string message is empty", async (t) => {
  t.equal(errorFromJson({ code: "internal", message: 42 })?.rawMessage, "");
});

t.test(
  "errorFromJson: a missing, null or unrecognized code is the fallback's, the body's message is kept",
  async (t) => {
    const fallback = { code: Code.Unavailable, message: "HTTP 503" };
    for (const json of [
      { code: "ok" },
      { code: "bogus" },
      { code: "INTERNAL" },
      { code: 13 },
      { code: "" },
      { code: null },
      {},
    ]) {
      const e = errorFromJson({ ...json, message: "oops", extra: true }, undefined, fallback);
      t.equal(e?.code, Code.Unavailable, JSON.stringify(json));
      t.equal(e?.rawMessage, "oops", `${JSON.stringify(json)}: the message`);
      t.equal(
        errorFromJson(json, undefined, fallback)?.rawMessage,
        "HTTP 503",
        `${JSON.stringify(json)}: no message, the fallback's`,
      );
    }
    t.equal(
      errorFromJson({ code: "not_found" }, undefined, fallback)?.rawMessage,
      "",
      "a valid code without a message: empty",
    );
  },
);

t.test(
  "errorFromJson is undefined for what is no error object, so the caller falls back to the HTTP status",
  async (t) => {
    for (const json of [null, undefined, "internal", 13, []]) {
      t.equal(errorFromJson(json), undefined, JSON.stringify(json));
    }
  },
);

t.test("endStreamToJsonBytes with no error and no trailers is {}", async (t) => {
  t.same(parse(endStreamToJsonBytes(undefined, new Headers())), {});
});

t.test("endStreamToJsonBytes puts trailers and the error's metadata in metadata, as lists", async (t) => {
  const trailer = new Headers({ "x-trailer": "t", "x-shared": "from-trailer" });
  const e = new ConnectError("gone", Code.NotFound, { metadata: { "x-error": "e", "x-shared": "from-error" } });
  t.same(parse(endStreamToJsonBytes(e, trailer)), {
    error: { code: "not_found", message: "gone" },
    metadata: { "x-shared": ["from-trailer", "from-error"], "x-trailer": ["t"], "x-error": ["e"] },
  });
});

t.test("endStreamFromJson(endStreamToJsonBytes()) round trips trailers without an error", async (t) => {
  const trailer = new Headers({ "x-a": "1", "x-bin-bin": "AQID" });
  const back = endStreamFromJson(endStreamToJsonBytes(undefined, trailer));
  t.equal(back.error, undefined);
  t.same([...back.trailer], [...trailer]);
});

t.test("endStreamFromJson(endStreamToJsonBytes()) round trips an error with metadata", async (t) => {
  const trailer = new Headers({ "x-trailer": "t" });
  const e = new ConnectError("quota", Code.ResourceExhausted, {
    metadata: { "x-error": "e" },
    details: [{ desc: ErrorInfoSchema, value: { reason: "Q" } }],
  });
  const back = endStreamFromJson(endStreamToJsonBytes(e, trailer));
  t.equal(back.error?.code, Code.ResourceExhausted);
  t.equal(back.error?.rawMessage, "quota");
  t.equal(back.error?.findDetails(ErrorInfoSchema)[0]?.reason, "Q");
  t.equal(back.trailer.get("x-trailer"), "t");
  t.equal(back.trailer.get("x-error"), "e");
  t.equal(back.error?.metadata.get("x-trailer"), "t", "the error's metadata is the trailers");
  t.equal(back.error?.metadata.get("x-error"), "e");
});

t.test(
  "endStreamFromJson: an error whose code is missing, null or unrecognized is unknown, with its message",
  async (t) => {
    for (const error of ['{"code":"bogus","message":"oops"}', '{"code":null,"message":"oops"}', '{"message":"oops"}']) {
      const back = endStreamFromJson(Buffer.from(`{"error":${error}}`));
      t.equal(back.error?.code, Code.Unknown, error);
      t.equal(back.error?.rawMessage, "oops", error);
    }
  },
);

t.test("endStreamFromJson: repeated metadata values are appended", async (t) => {
  const back = endStreamFromJson(Buffer.from('{"metadata":{"x-a":["1","2"],"set-cookie":["a=1","b=2"]}}'));
  t.equal(back.trailer.get("x-a"), "1, 2");
  t.same(back.trailer.getSetCookie(), ["a=1", "b=2"]);
});

t.test("endStreamFromJson: {} and a null error are a clean end", async (t) => {
  const empty = endStreamFromJson(Buffer.from("{}"));
  t.equal(empty.error, undefined);
  t.same([...empty.trailer], []);
  t.equal(endStreamFromJson(Buffer.from('{"error":null}')).error, undefined);
});

t.test("endStreamFromJson reads a subarray of a larger buffer", async (t) => {
  const whole = Buffer.from('xx{"metadata":{"x-a":["1"]}}yy');
  t.equal(endStreamFromJson(whole.subarray(2, whole.length - 2)).trailer.get("x-a"), "1");
});

t.test("malformed end-stream messages are internal errors", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /not JSON/],
    ["{", /not JSON/],
    ["null", /not a JSON object/],
    ["42", /not a JSON object/],
    ['"end"', /not a JSON object/],
    ['{"metadata":"x"}', /metadata is not an object/],
    ['{"metadata":null}', /metadata is not an object/],
    ['{"metadata":{"x-a":"1"}}', /metadata "x-a" is not a list/],
    ['{"error":"internal"}', /error is not an object/],
    ['{"error":[]}', /error is not an object/],
  ];
  for (const [text, message] of cases) {
    t.throws(
      () => endStreamFromJson(Buffer.from(text)),
      { name: "ConnectError", code: Code.Internal, message },
      JSON.stringify(text),
    );
  }
});

t.test("malformed end-stream metadata names and values are internal errors, not TypeErrors", async (t) => {
  // The Headers constructor throws a TypeError for a name or value that is not
  // a valid HTTP field; the end-stream message came from the peer, so it is
  // the peer's malformed message (Connect protocol, "Streaming-Response").
  for (const text of ['{"metadata":{"bad name":["x"]}}', '{"metadata":{"x-a":["line\\nbreak"]}}']) {
    t.throws(
      () => endStreamFromJson(Buffer.from(text)),
      { name: "ConnectError", code: Code.Internal, message: /invalid end-of-stream message/ },
      text,
    );
  }
});
