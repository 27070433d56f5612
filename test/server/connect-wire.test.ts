// The Connect protocol on the wire (connectrpc.com/docs/protocol), spoken with
// raw HTTP/1.1 and HTTP/2 requests.
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import { EchoResponseSchema, ErrorInfoSchema } from "../gen/fcr/test/v1/test_pb.js";
import { connectHttpStatusOfCode } from "../helpers/connect-spec.js";
import { echoBytes, endStreamOf, envelope, h1, h2, type RawResponse, SERVICE } from "../helpers/raw-http.js";
import { type StartedServer, startServer } from "../helpers/server.js";

const PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" };
const JSON_CT = { "content-type": "application/json", "connect-protocol-version": "1" };
const STREAM_PROTO = { "content-type": "application/connect+proto", "connect-protocol-version": "1" };

async function server(t: Test, opts: Parameters<typeof startServer>[0] = {}): Promise<StartedServer> {
  const s = await startServer(opts);
  t.teardown(s.close);
  return s;
}

function decodeEcho(res: RawResponse) {
  return fromBinary(EchoResponseSchema, res.body);
}

function errorBody(res: RawResponse): { code: string; message?: string; details?: { type: string; value: string }[] } {
  return JSON.parse(res.body.toString("utf8"));
}

t.test("unary: application/proto POST answers 200 application/proto with the message", async (t) => {
  const s = await server(t);
  for (const send of [h1, h2]) {
    const s2 = send === h2 ? await server(t, { http2: true }) : s;
    const res = await send(s2.port, {
      path: `${SERVICE}/Unary`,
      headers: PROTO,
      body: echoBytes({ text: "hi", payload: new Uint8Array([1, 2, 3]) }),
    });
    t.equal(res.status, 200);
    t.equal(res.headers["content-type"], "application/proto");
    t.equal(Number(res.headers["content-length"]), res.body.length, "unary responses carry a content-length");
    const msg = decodeEcho(res);
    t.equal(msg.text, "hi");
    t.same([...msg.payload], [1, 2, 3]);
  }
});

t.test("unary: application/json with charset=utf-8 and mixed-case content-type answers application/json", async (t) => {
  const s = await server(t);
  for (const ct of ["application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"]) {
    const res = await h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: { "content-type": ct, "connect-protocol-version": "1" },
      body: JSON.stringify({ text: "héllo", payload: "AQID" }),
    });
    t.equal(res.status, 200, ct);
    t.equal(res.headers["content-type"], "application/json", ct);
    t.same(JSON.parse(res.body.toString("utf8")), { text: "héllo", payload: "AQID" }, ct);
  }
});

t.test("unary: a charset other than utf-8 is an unsupported content-type (415)", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { "content-type": "application/json; charset=latin1" },
    body: "{}",
  });
  t.equal(res.status, 415);
});

t.test("unary errors: HTTP status from the code table, JSON body with code, message and details", async (t) => {
  const s = await server(t);
  for (const [code, status] of Object.entries(connectHttpStatusOfCode)) {
    const res = await h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: PROTO,
      body: echoBytes({ text: `error:${code}:went wrong: badly` }),
    });
    t.equal(res.status, status, `${code} -> ${status}`);
    t.equal(res.headers["content-type"], "application/json", `${code}: error body is JSON even for a proto request`);
    const body = errorBody(res);
    t.equal(body.code, code);
    t.equal(body.message, "went wrong: badly");
    t.equal(body.details?.length, 1);
    const detail = body.details?.[0];
    t.equal(detail?.type, "fcr.test.v1.ErrorInfo");
    t.notMatch(detail?.value ?? "", /=/, "detail value is unpadded base64");
    const expected = toBinary(
      ErrorInfoSchema,
      create(ErrorInfoSchema, { reason: "on-purpose", fields: { codeName: code } }),
    );
    t.same([...Buffer.from(detail?.value ?? "", "base64")], [...expected], "detail value is the ErrorInfo bytes");
    t.equal(res.headers["x-error-meta"], "yes", "error metadata travels as headers");
  }
});

t.test("unary errors: a JSON request gets the same JSON error body", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: JSON_CT,
    body: JSON.stringify({ text: "error:not_found:nope" }),
  });
  t.equal(res.status, 404);
  t.equal(res.headers["content-type"], "application/json");
  t.match(errorBody(res), { code: "not_found", message: "nope", details: [{ type: "fcr.test.v1.ErrorInfo" }] });
});

t.test("unary: response headers are plain headers, response trailers travel as trailer- headers", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "x-echo-header": "h-value", "x-echo-trailer": "t-value" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(res.status, 200);
  t.equal(res.headers["x-echo-header"], "h-value");
  t.equal(res.headers["trailer-x-echo-trailer"], "t-value");
  t.equal(res.headers["x-echo-trailer"], undefined, "a trailer is not also sent unprefixed");
});

t.test("unary over HTTP/2: trailers still travel as trailer- headers, not HTTP trailers", async (t) => {
  const s = await server(t, { http2: true });
  const res = await h2(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "x-echo-trailer": "t-value" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(res.status, 200);
  t.equal(res.headers["trailer-x-echo-trailer"], "t-value");
  t.notOk(res.trailers && Object.keys(res.trailers).length > 0, "no HTTP trailers on a Connect unary response");
});

// ---------------------------------------------------------------------------
// Connect GET

function b64url(bytes: Uint8Array, pad: boolean): string {
  const s = Buffer.from(bytes).toString("base64url");
  return pad ? s + "=".repeat((4 - (s.length % 4)) % 4) : s;
}

t.test("GET: message, encoding, base64, compression and connect are accepted in any order", async (t) => {
  const s = await server(t);
  // 0xfb 0xff makes "-" and "_" appear in base64url; 4 bytes of payload force padding.
  const bytes = echoBytes({ text: "get", payload: new Uint8Array([0xfb, 0xff, 0xfe, 0xfb]) });
  const unpadded = b64url(bytes, false);
  const padded = b64url(bytes, true);
  t.ok(/[-_]/.test(unpadded), "precondition: the URL-safe alphabet is exercised");
  t.not(padded, unpadded, "precondition: this message needs padding");
  const queries = [
    `message=${unpadded}&encoding=proto&base64=1&connect=v1`,
    `connect=v1&base64=1&encoding=proto&message=${unpadded}`,
    `encoding=proto&message=${padded}&connect=v1&base64=1`,
    `base64=1&message=${padded.replace(/=/g, "%3D")}&encoding=proto`,
    `compression=identity&base64=1&message=${unpadded}&encoding=proto&connect=v1`,
    `compression=gzip&encoding=proto&base64=1&message=${b64url(gzipSync(bytes), false)}&connect=v1`,
  ];
  for (const q of queries) {
    const res = await h1(s.port, { method: "GET", path: `${SERVICE}/Echo?${q}` });
    t.equal(res.status, 200, q);
    t.equal(res.headers["content-type"], "application/proto", q);
    if (res.status === 200) {
      const msg = decodeEcho(res);
      t.equal(msg.text, "get", q);
      t.same([...msg.payload], [0xfb, 0xff, 0xfe, 0xfb], q);
    }
  }
});

t.test("GET: percent-encoded JSON and percent-encoded binary without base64", async (t) => {
  const s = await server(t);
  const text = "a b&c=d/é?+%";
  const json = await h1(s.port, {
    method: "GET",
    path: `${SERVICE}/Echo?encoding=json&message=${encodeURIComponent(JSON.stringify({ text }))}&connect=v1`,
  });
  t.equal(json.status, 200);
  t.equal(json.headers["content-type"], "application/json");
  t.same(JSON.parse(json.body.toString("utf8")), { text });

  const bytes = echoBytes({ text: "bin", payload: new Uint8Array([0, 0x80, 0xff, 0x25]) });
  const pct = [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  const bin = await h1(s.port, { method: "GET", path: `${SERVICE}/Echo?encoding=proto&message=${pct}` });
  t.equal(bin.status, 200);
  t.same([...decodeEcho(bin).payload], [0, 0x80, 0xff, 0x25]);
});

t.test("GET: a non-idempotent method answers 405 with Allow: POST", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    method: "GET",
    path: `${SERVICE}/Unary?encoding=proto&base64=1&message=${b64url(echoBytes({ text: "x" }), false)}`,
  });
  t.equal(res.status, 405);
  t.equal(res.headers.allow, "POST");
});

t.test("PUT answers 405 with an Allow header naming what the method accepts", async (t) => {
  const s = await server(t);
  const unary = await h1(s.port, { method: "PUT", path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes() });
  t.equal(unary.status, 405);
  t.equal(unary.headers.allow, "POST");
  const echo = await h1(s.port, { method: "PUT", path: `${SERVICE}/Echo`, headers: PROTO, body: echoBytes() });
  t.equal(echo.status, 405);
  t.match(echo.headers.allow ?? "", /\bGET\b/);
  t.match(echo.headers.allow ?? "", /\bPOST\b/);
});

t.test("an unknown content-type answers 415 with Accept-Post", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { "content-type": "text/plain" },
    body: "hello",
  });
  t.equal(res.status, 415);
  const accept = String(res.headers["accept-post"] ?? "");
  t.match(accept, /application\/proto/);
  t.match(accept, /application\/json/);
  t.match(res.body.toString(), /text\/plain/, "the message names the content-type it got");
  const missing = await h1(s.port, { path: `${SERVICE}/Unary`, body: "hello" });
  t.equal(missing.status, 415, "no content-type at all is 415 too");
});

t.test("a streaming content-type to a unary method, and a unary one to a streaming method, answer 415", async (t) => {
  const s = await server(t);
  const a = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ text: "x" })),
  });
  t.equal(a.status, 415, "application/connect+proto to Unary");
  const b = await h1(s.port, { path: `${SERVICE}/ServerStream`, headers: PROTO, body: echoBytes({ count: 1 }) });
  t.equal(b.status, 415, "application/proto to ServerStream");
  t.match(String(b.headers["accept-post"] ?? ""), /application\/connect\+proto/);
});

// ---------------------------------------------------------------------------
// Streaming

t.test("streaming: HTTP 200, messages, then an end-of-stream envelope (flag 0x02) with metadata", async (t) => {
  for (const http2 of [false, true]) {
    const s = await server(t, { http2 });
    const send = http2 ? h2 : h1;
    const res = await send(s.port, {
      path: `${SERVICE}/ServerStream`,
      headers: { ...STREAM_PROTO, "x-echo-trailer": "tv", "x-echo-header": "hv" },
      body: envelope(0, echoBytes({ text: "s", count: 3 })),
    });
    t.equal(res.status, 200);
    t.equal(res.headers["content-type"], "application/connect+proto");
    t.equal(res.headers["x-echo-header"], "hv");
    const { messages, end, endFlags } = endStreamOf(res.body);
    t.same(
      messages.map((m) => fromBinary(EchoResponseSchema, m.data).index),
      [0, 1, 2],
    );
    t.ok(
      messages.every((m) => m.flags === 0),
      "message envelopes have flags 0",
    );
    t.equal(endFlags, 0x02);
    t.same(end, { metadata: { "x-echo-trailer": ["tv"] } }, "end-of-stream has trailers and no error");
  }
});

t.test("streaming errors: still HTTP 200, error and metadata in the end-of-stream message", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "x-echo-trailer": "tv" },
    body: envelope(0, echoBytes({ text: "error:not_found:gone", count: 2 })),
  });
  t.equal(res.status, 200);
  const { messages, end, endFlags } = endStreamOf(res.body);
  t.equal(messages.length, 2);
  t.equal(endFlags, 0x02);
  t.match(end.error, { code: "not_found", message: "gone", details: [{ type: "fcr.test.v1.ErrorInfo" }] });
  t.notMatch(end.error?.details?.[0]?.value ?? "", /=/, "detail value is unpadded base64");
  t.same(end.metadata?.["x-echo-trailer"], ["tv"]);
  t.same(end.metadata?.["x-error-meta"], ["yes"], "error metadata joins the end-of-stream metadata");
});

t.test(
  "streaming: a compressed envelope in a request that declares no compression is internal, as the suite and connect-go have it",
  async (t) => {
    const s = await server(t);
    for (const encoding of [undefined, "identity"]) {
      const res = await h1(s.port, {
        path: `${SERVICE}/ServerStream`,
        headers: { ...STREAM_PROTO, ...(encoding ? { "connect-content-encoding": encoding } : {}) },
        body: envelope(1, gzipSync(echoBytes({ text: "s", count: 1 }))),
      });
      t.equal(res.status, 200, `${encoding ?? "no encoding"}: errors of a stream travel in the end-of-stream message`);
      const { messages, end } = endStreamOf(res.body);
      t.equal(messages.length, 0);
      t.match(end.error, { code: "internal", message: /compressed message, but the request declares no compression/ });
    }
  },
);

t.test("streaming JSON: application/connect+json, JSON messages and end-of-stream", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/ClientStream`,
    headers: { "content-type": "application/connect+json" },
    body: Buffer.concat([
      envelope(0, Buffer.from(JSON.stringify({ text: "a" }))),
      envelope(0, Buffer.from(JSON.stringify({ text: "b" }))),
    ]),
  });
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/connect+json");
  const { messages, end } = endStreamOf(res.body);
  t.same(
    messages.map((m) => JSON.parse(m.data.toString())),
    [{ text: "a,b", index: 2 }],
  );
  t.same(end, {});
});

// ---------------------------------------------------------------------------
// Connect-Protocol-Version

t.test("Connect-Protocol-Version other than 1 is invalid_argument", async (t) => {
  const s = await server(t);
  const unary = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "connect-protocol-version": "2" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(unary.status, 400);
  t.equal(errorBody(unary).code, "invalid_argument");
  t.match(errorBody(unary).message ?? "", /Connect-Protocol-Version/i);

  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "connect-protocol-version": "2" },
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.status, 200);
  t.equal(endStreamOf(stream.body).end.error?.code, "invalid_argument");
});

t.test(
  "requireConnectProtocolHeader: a missing version header (or connect=v1 on GET) is invalid_argument",
  async (t) => {
    const s = await server(t, { plugin: { requireConnectProtocolHeader: true } });
    const missing = await h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: { "content-type": "application/proto" },
      body: echoBytes({ text: "x" }),
    });
    t.equal(missing.status, 400);
    t.equal(errorBody(missing).code, "invalid_argument");
    const present = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "x" }) });
    t.equal(present.status, 200);

    const q = `encoding=proto&base64=1&message=${b64url(echoBytes({ text: "g" }), false)}`;
    const getMissing = await h1(s.port, { method: "GET", path: `${SERVICE}/Echo?${q}` });
    t.equal(getMissing.status, 400);
    t.equal(errorBody(getMissing).code, "invalid_argument");
    const getPresent = await h1(s.port, { method: "GET", path: `${SERVICE}/Echo?${q}&connect=v1` });
    t.equal(getPresent.status, 200);
  },
);

t.test("without requireConnectProtocolHeader a missing version header is fine", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { "content-type": "application/proto" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(res.status, 200);
});

// ---------------------------------------------------------------------------
// Timeouts

t.test("connect-timeout-ms: a handler that overruns the deadline ends with deadline_exceeded (504)", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "connect-timeout-ms": "30" },
    body: echoBytes({ text: "slow", delayMs: 2000 }),
  });
  t.equal(res.status, 504);
  t.equal(errorBody(res).code, "deadline_exceeded");
});

// ---------------------------------------------------------------------------
// Compression

t.test("compression: a gzip request body with content-encoding: gzip is decompressed", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "content-encoding": "gzip" },
    body: gzipSync(echoBytes({ text: "zipped" })),
  });
  t.equal(res.status, 200);
  t.equal(decodeEcho(res).text, "zipped");
});

t.test("compression: an unknown content-encoding is unimplemented (501) naming the supported ones", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "content-encoding": "zstd" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(res.status, 501);
  const body = errorBody(res);
  t.equal(body.code, "unimplemented");
  t.match(body.message ?? "", /zstd/);
  t.match(body.message ?? "", /gzip/);

  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "connect-content-encoding": "zstd" },
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.status, 200);
  t.match(endStreamOf(stream.body).end.error, { code: "unimplemented", message: /gzip/ });
});

t.test("compression: accept-encoding gzip compresses a unary response only from compressMinBytes on", async (t) => {
  const min = 100;
  const s = await server(t, { plugin: { compressMinBytes: min } });
  // Find payload sizes whose encoded response is exactly min - 1 and min bytes.
  const sizeOf = (n: number) =>
    toBinary(EchoResponseSchema, create(EchoResponseSchema, { payload: new Uint8Array(n) })).length;
  let n = 0;
  while (sizeOf(n) < min) n++;
  t.equal(sizeOf(n), min, "precondition: a payload size hits the threshold exactly");
  t.equal(sizeOf(n - 1), min - 1);

  const call = (len: number) =>
    h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: { ...PROTO, "accept-encoding": "gzip" },
      body: echoBytes({ payload: new Uint8Array(len) }),
    });
  const below = await call(n - 1);
  t.equal(below.status, 200);
  t.equal(below.headers["content-encoding"], undefined, "below compressMinBytes: identity");
  t.equal(decodeEcho(below).payload.length, n - 1);

  const at = await call(n);
  t.equal(at.status, 200);
  t.equal(at.headers["content-encoding"], "gzip", "at compressMinBytes: gzip");
  t.equal(fromBinary(EchoResponseSchema, gunzipSync(at.body)).payload.length, n);

  const none = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: PROTO,
    body: echoBytes({ payload: new Uint8Array(n) }),
  });
  t.equal(none.headers["content-encoding"], undefined, "no accept-encoding: identity");
});

t.test("compression: the default compressMinBytes (1 KiB) leaves small responses alone", async (t) => {
  const s = await server(t);
  const small = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "accept-encoding": "gzip" },
    body: echoBytes({ text: "tiny" }),
  });
  t.equal(small.headers["content-encoding"], undefined);
  const big = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "accept-encoding": "gzip" },
    body: echoBytes({ payload: new Uint8Array(4096) }),
  });
  t.equal(big.headers["content-encoding"], "gzip");
  t.equal(fromBinary(EchoResponseSchema, gunzipSync(big.body)).payload.length, 4096);
});

t.test("compression: streaming with connect-content-encoding and connect-accept-encoding gzip", async (t) => {
  const s = await server(t, { plugin: { compressMinBytes: 10 } });
  const res = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "connect-content-encoding": "gzip", "connect-accept-encoding": "gzip" },
    body: envelope(1, gzipSync(echoBytes({ text: "z", count: 2, payload: new Uint8Array(200) }))),
  });
  t.equal(res.status, 200);
  t.equal(res.headers["connect-content-encoding"], "gzip");
  const { messages, end } = endStreamOf(res.body);
  t.same(end, {});
  t.equal(messages.length, 2);
  for (const m of messages) {
    t.equal(m.flags, 0x01, "large messages are compressed");
    t.equal(fromBinary(EchoResponseSchema, gunzipSync(m.data)).payload.length, 200);
  }
});
