// Bad input gets a clear error and harms nothing: after each bad request the
// server still answers a normal one.
import * as http from "node:http";
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import { EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import {
  echoBytes,
  endStreamOf,
  envelope,
  h1,
  h2,
  logCapture,
  type RawResponse,
  SERVICE,
  waitFor,
} from "../helpers/raw-http.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" };
const JSON_CT = { "content-type": "application/json", "connect-protocol-version": "1" };
const STREAM_PROTO = { "content-type": "application/connect+proto", "connect-protocol-version": "1" };
const READ_MAX = 1024;

type Log = Record<string, unknown>;

async function server(t: Test, opts: Parameters<typeof startServer>[0] = {}): Promise<StartedServer & { logs: Log[] }> {
  const { stream, lines } = logCapture();
  const s = await startServer({
    fastify: { logger: { level: "info", stream } },
    ...opts,
    plugin: { readMaxBytes: READ_MAX, ...opts.plugin },
  });
  t.teardown(s.close);
  return { ...s, logs: lines };
}

/** The server still answers a normal unary call and a normal stream. */
async function stillHealthy(t: Test, s: StartedServer, label: string): Promise<void> {
  const unary = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "fine" }) });
  t.equal(unary.status, 200, `${label}: a normal unary call still works`);
  if (unary.status === 200) t.equal(fromBinary(EchoResponseSchema, unary.body).text, "fine");
  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ count: 2 })),
  });
  t.equal(stream.status, 200);
  const { messages, end } = endStreamOf(stream.body);
  t.equal(messages.length, 2, `${label}: a normal stream still works`);
  t.same(end, {});
}

function errorBody(res: RawResponse): { code?: string; message?: string } {
  return JSON.parse(res.body.toString("utf8"));
}

function completedLine(logs: Log[], rpc: string, code: string): Log | undefined {
  return logs.find((l) => l.msg === "rpc completed" && l.rpc === `fcr.test.v1.TestService/${rpc}` && l.code === code);
}

// ---------------------------------------------------------------------------

t.test("bad JSON is invalid_argument naming the message type", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers: JSON_CT, body: '{"text":' });
  t.equal(res.status, 400);
  t.equal(errorBody(res).code, "invalid_argument");
  t.match(errorBody(res).message, /fcr\.test\.v1\.EchoRequest/);
  const wrongType = await h1(s.port, { path: `${SERVICE}/Unary`, headers: JSON_CT, body: '{"count":"many"}' });
  t.equal(wrongType.status, 400, "a JSON value of the wrong type");
  t.equal(errorBody(wrongType).code, "invalid_argument");

  const stream = await h1(s.port, {
    path: `${SERVICE}/ClientStream`,
    headers: { "content-type": "application/connect+json" },
    body: envelope(0, Buffer.from("{not json")),
  });
  t.equal(stream.status, 200);
  t.match(endStreamOf(stream.body).end.error, { code: "invalid_argument", message: /EchoRequest/ });
  await stillHealthy(t, s, "after bad JSON");
});

t.test("bad proto bytes are invalid_argument", async (t) => {
  const s = await server(t);
  // Field 1 (text) declared 100 bytes long, but only 2 follow.
  const bad = Buffer.from([0x0a, 100, 0x61, 0x62]);
  const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: bad });
  t.equal(res.status, 400);
  t.equal(errorBody(res).code, "invalid_argument");
  t.match(errorBody(res).message, /EchoRequest/);

  const stream = await h1(s.port, { path: `${SERVICE}/ClientStream`, headers: STREAM_PROTO, body: envelope(0, bad) });
  t.equal(stream.status, 200);
  t.equal(endStreamOf(stream.body).end.error?.code, "invalid_argument");
  await stillHealthy(t, s, "after bad proto");
});

t.test("a truncated envelope in a streaming request is invalid_argument", async (t) => {
  const s = await server(t);
  const whole = envelope(0, echoBytes({ text: "truncated soon" }));
  for (const [label, body] of [
    ["inside the message", whole.subarray(0, whole.length - 4)],
    ["inside the 5-byte header", whole.subarray(0, 3)],
    ["after a complete envelope", Buffer.concat([whole, whole.subarray(0, 7)])],
  ] as const) {
    const res = await h1(s.port, { path: `${SERVICE}/ClientStream`, headers: STREAM_PROTO, body });
    t.equal(res.status, 200, label);
    const { end } = endStreamOf(res.body);
    t.match(end.error, { code: "invalid_argument", message: /truncated/ }, label);
  }
  await stillHealthy(t, s, "after truncated envelopes");
});

t.test("a request envelope with invalid flags is invalid_argument", async (t) => {
  const s = await server(t);
  for (const flags of [0x02, 0x80, 0x04]) {
    const res = await h1(s.port, {
      path: `${SERVICE}/ClientStream`,
      headers: STREAM_PROTO,
      body: envelope(flags, echoBytes({ text: "x" })),
    });
    t.equal(res.status, 200);
    t.match(
      endStreamOf(res.body).end.error,
      { code: "invalid_argument", message: /flags/ },
      `flags 0x${flags.toString(16)}`,
    );
  }
  const compressedWithoutEncoding = await h1(s.port, {
    path: `${SERVICE}/ClientStream`,
    headers: STREAM_PROTO,
    body: envelope(0x01, echoBytes({ text: "x" })),
  });
  // Internal, not invalid_argument: the conformance suite's Connect unexpected-compressed-message case.
  t.equal(
    endStreamOf(compressedWithoutEncoding.body).end.error?.code,
    "internal",
    "the compressed flag without connect-content-encoding",
  );
  await stillHealthy(t, s, "after invalid flags");
});

t.test("a unary body over readMaxBytes is resource_exhausted, declared or chunked", async (t) => {
  const s = await server(t);
  const big = echoBytes({ payload: new Uint8Array(READ_MAX * 2) });
  const declared = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "content-length": big.length },
    body: big,
  });
  t.equal(declared.status, 429);
  t.match(errorBody(declared), { code: "resource_exhausted", message: /readMaxBytes/ });

  const chunked = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "transfer-encoding": "chunked" },
    body: big,
  });
  t.equal(chunked.status, 429);
  t.match(errorBody(chunked), { code: "resource_exhausted", message: /readMaxBytes/ });

  const atLimit = echoBytes({ payload: new Uint8Array(READ_MAX - 3) });
  t.equal(atLimit.length, READ_MAX, "precondition: exactly readMaxBytes");
  const ok = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: atLimit });
  t.equal(ok.status, 200, "a body of exactly readMaxBytes is accepted");
  await stillHealthy(t, s, "after oversized unary bodies");
});

t.test("an oversized unary body leaves a keep-alive connection usable", async (t) => {
  const s = await server(t);
  let connections = 0;
  s.app.server.on("connection", () => connections++);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const big = echoBytes({ payload: new Uint8Array(256 * 1024) });
  for (const headers of [PROTO, { ...PROTO, "transfer-encoding": "chunked" }]) {
    const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers, body: big, agent });
    t.equal(res.status, 429);
    const next = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "n" }), agent });
    t.equal(next.status, 200, "the next request on the same agent succeeds");
  }
  t.equal(connections, 1, "all four requests went over one connection");
});

t.test("a streaming message over readMaxBytes is resource_exhausted", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, {
    path: `${SERVICE}/ClientStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ payload: new Uint8Array(READ_MAX * 2) })),
  });
  t.equal(res.status, 200);
  t.match(endStreamOf(res.body).end.error, { code: "resource_exhausted", message: /readMaxBytes/ });

  // Only the header arrives: the declared length alone is refused.
  const header = Buffer.alloc(5);
  header.writeUInt32BE(0xffff_ffff, 1);
  const headerOnly = await h1(s.port, { path: `${SERVICE}/ClientStream`, headers: STREAM_PROTO, body: header });
  t.equal(endStreamOf(headerOnly.body).end.error?.code, "resource_exhausted");
  await stillHealthy(t, s, "after oversized stream messages");
});

t.test("an over-compressed gzip body (small compressed, huge decompressed) is resource_exhausted", async (t) => {
  const s = await server(t, { plugin: { readMaxBytes: 64 * 1024 } });
  const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024));
  t.ok(bomb.length < 64 * 1024, `precondition: the bomb is small (${bomb.length} bytes)`);

  const unary = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "content-encoding": "gzip" },
    body: bomb,
  });
  t.equal(unary.status, 429);
  t.match(errorBody(unary), { code: "resource_exhausted", message: /readMaxBytes/ });

  const stream = await h1(s.port, {
    path: `${SERVICE}/ClientStream`,
    headers: { ...STREAM_PROTO, "connect-content-encoding": "gzip" },
    body: envelope(0x01, bomb),
  });
  t.equal(stream.status, 200);
  t.equal(endStreamOf(stream.body).end.error?.code, "resource_exhausted");

  const get = await h1(s.port, {
    method: "GET",
    path: `${SERVICE}/Echo?encoding=proto&base64=1&compression=gzip&message=${bomb.toString("base64url")}`,
  });
  t.equal(get.status, 429, "GET with compression=gzip too");

  const garbage = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "content-encoding": "gzip" },
    body: Buffer.from("not gzip at all"),
  });
  t.equal(garbage.status, 400, "a body that is not gzip is invalid_argument");
  t.equal(errorBody(garbage).code, "invalid_argument");
  await stillHealthy(t, s, "after gzip bombs");
});

t.test("a bad connect-timeout-ms is invalid_argument", async (t) => {
  const s = await server(t);
  for (const value of ["12345678901", "abc", "-1", "1.5", ""]) {
    const res = await h1(s.port, {
      path: `${SERVICE}/Unary`,
      headers: { ...PROTO, "connect-timeout-ms": value },
      body: echoBytes({ text: "x" }),
    });
    t.equal(res.status, 400, `unary, "${value}"`);
    t.match(errorBody(res), { code: "invalid_argument", message: /connect-timeout-ms/ }, `unary, "${value}"`);
  }
  const stream = await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: { ...STREAM_PROTO, "connect-timeout-ms": "12345678901" },
    body: envelope(0, echoBytes({ count: 1 })),
  });
  t.equal(stream.status, 200);
  t.equal(endStreamOf(stream.body).end.error?.code, "invalid_argument");
  const ten = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { ...PROTO, "connect-timeout-ms": "9999999999" },
    body: echoBytes({ text: "x" }),
  });
  t.equal(ten.status, 200, "10 digits is still valid");
  await stillHealthy(t, s, "after bad timeouts");
});

// ---------------------------------------------------------------------------
// Clients that vanish

/** Starts an HTTP/1.1 request, hands back the request to write to and destroy. */
function openH1(port: number, path: string, headers: http.OutgoingHttpHeaders) {
  const req = http.request({ host: "127.0.0.1", port, method: "POST", path, headers, agent: false });
  req.on("error", () => {});
  req.flushHeaders();
  return req;
}

t.test("a client that vanishes mid-request or mid-stream harms nothing (HTTP/1.1)", async (t) => {
  const s = await server(t);

  // Unary: content-length promises more than arrives.
  const unary = openH1(s.port, `${SERVICE}/Unary`, { ...PROTO, "content-length": 100 });
  unary.write(Buffer.alloc(10));
  await new Promise((r) => setTimeout(r, 30));
  unary.destroy();
  t.ok(
    await waitFor(() => completedLine(s.logs, "Unary", "canceled") !== undefined),
    "the unary call ends as canceled",
  );

  // Client stream: one envelope, then the socket goes.
  const client = openH1(s.port, `${SERVICE}/ClientStream`, { ...STREAM_PROTO, "transfer-encoding": "chunked" });
  client.write(envelope(0, echoBytes({ text: "one" })));
  await new Promise((r) => setTimeout(r, 30));
  client.destroy();
  t.ok(
    await waitFor(() => completedLine(s.logs, "ClientStream", "canceled") !== undefined),
    "the client stream ends as canceled",
  );

  // Server stream: the client leaves after the first message.
  const streaming = openH1(s.port, `${SERVICE}/ServerStream`, STREAM_PROTO);
  streaming.end(envelope(0, echoBytes({ count: 10_000, delayMs: 2 })));
  await new Promise<void>((resolve) => {
    streaming.on("response", (res) => res.once("data", () => resolve()));
  });
  streaming.destroy();
  t.ok(
    await waitFor(() => completedLine(s.logs, "ServerStream", "canceled") !== undefined),
    "the server stream ends as canceled",
  );
  await stillHealthy(t, s, "after vanished clients");
});

// Node's http2 client sends END_STREAM before RST_STREAM on `stream.close(code)`,
// so these tests cut requests off with `stream.destroy(error)` (RST_STREAM
// without END_STREAM) or by dropping the whole session.
t.test("HTTP/2: a request cut off mid-body is canceled, never handled as a complete request", async (t) => {
  const handled: string[] = [];
  const s = await server(t, {
    http2: true,
    plugin: {
      routes(router) {
        router.service(TestService, {
          ...testServiceImpl,
          unary(req) {
            handled.push(`unary:${req.text}`);
            return { text: req.text };
          },
          async clientStream(reqs) {
            const texts: string[] = [];
            for await (const r of reqs) texts.push(r.text);
            handled.push(`clientStream:${texts.join(",")}`);
            return { text: texts.join(",") };
          },
        });
      },
    },
  });
  const open = (path: string, headers: http2.OutgoingHttpHeaders) => {
    const session = http2.connect(`http://127.0.0.1:${s.port}`);
    t.teardown(() => session.destroy());
    session.on("error", () => {});
    const stream = session.request({ ":method": "POST", ":path": path, ...headers });
    stream.on("error", () => {});
    return { session, stream };
  };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  for (const how of ["RST_STREAM", "connection drop"] as const) {
    const cut = (c: { session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream }) =>
      how === "RST_STREAM" ? c.stream.destroy(new Error("client gone")) : c.session.destroy();
    s.logs.length = 0;
    handled.length = 0;

    // Unary: the first part of the body is itself a valid EchoRequest; the rest never comes.
    const unary = open(`${SERVICE}/Unary`, { ...PROTO, "content-length": 100 });
    unary.stream.write(echoBytes({ text: "partial" }));
    await settle();
    cut(unary);
    t.ok(
      await waitFor(() => completedLine(s.logs, "Unary", "canceled") !== undefined),
      `${how}: the unary call ends as canceled`,
    );

    // Client stream: one whole message, then the request is cut off.
    const client = open(`${SERVICE}/ClientStream`, STREAM_PROTO);
    client.stream.write(envelope(0, echoBytes({ text: "one" })));
    await settle();
    cut(client);
    t.ok(
      await waitFor(() => completedLine(s.logs, "ClientStream", "canceled") !== undefined),
      `${how}: the client stream ends as canceled`,
    );

    // Bidi: cut off after the first reply.
    const bidi = open(`${SERVICE}/Bidi`, STREAM_PROTO);
    bidi.stream.write(envelope(0, echoBytes({ text: "first" })));
    await new Promise<void>((resolve) => bidi.stream.once("data", () => resolve()));
    cut(bidi);
    t.ok(
      await waitFor(() => completedLine(s.logs, "Bidi", "canceled") !== undefined),
      `${how}: the bidi call ends as canceled`,
    );
    await settle();
    t.same(handled, [], `${how}: no handler took a cut-off request for a complete one`);
  }

  // The server still serves HTTP/2 calls.
  const ok = await h2(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "after" }) });
  t.equal(ok.status, 200);
  t.equal(fromBinary(EchoResponseSchema, ok.body).text, "after");
});

// ---------------------------------------------------------------------------
// Handler bugs

t.test("a handler that throws a plain Error: internal, 'internal error', nothing leaked, logged", async (t) => {
  const s = await server(t);
  const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "error:throw" }) });
  t.equal(res.status, 500);
  const text = res.body.toString("utf8");
  t.same(JSON.parse(text), { code: "internal", message: "internal error" });
  t.notMatch(text, /secret internal detail/);
  t.notMatch(text, /\bat .*\.ts:\d+/, "no stack trace");

  const failed = s.logs.find((l) => l.msg === "handler failed");
  t.ok(failed, "the error is logged");
  t.equal(failed?.level, 50, "at error level");
  t.match(failed?.err, { message: "secret internal detail", stack: /Error: secret internal detail/ });
  t.equal(failed?.rpc, "fcr.test.v1.TestService/Unary");

  const done = completedLine(s.logs, "Unary", "internal");
  t.ok(done, "an 'rpc completed' line is logged");
  t.match(done, { rpc: "fcr.test.v1.TestService/Unary", protocol: "connect", code: "internal", level: 30 });
  t.type(done?.durationMs, "number");
  t.ok(failed?.reqId !== undefined && failed?.reqId === done?.reqId, "both go through the request's logger");

  const stream = await h1(s.port, {
    path: `${SERVICE}/Bidi`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ text: "error:throw" })),
  });
  t.equal(stream.status, 200);
  t.same(endStreamOf(stream.body).end, { error: { code: "internal", message: "internal error" } });
  t.notMatch(stream.body.toString("utf8"), /secret/);
  await stillHealthy(t, s, "after handler errors");
});

t.test("every call logs 'rpc completed' with rpc, protocol, code and durationMs", async (t) => {
  const s = await server(t);
  await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "ok" }) });
  await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "error:not_found:x" }) });
  await h1(s.port, {
    path: `${SERVICE}/ServerStream`,
    headers: STREAM_PROTO,
    body: envelope(0, echoBytes({ count: 1 })),
  });
  const lines = s.logs.filter((l) => l.msg === "rpc completed");
  t.same(
    lines.map((l) => [l.rpc, l.protocol, l.code, typeof l.durationMs]),
    [
      ["fcr.test.v1.TestService/Unary", "connect", "ok", "number"],
      ["fcr.test.v1.TestService/Unary", "connect", "not_found", "number"],
      ["fcr.test.v1.TestService/ServerStream", "connect", "ok", "number"],
    ],
  );
});
