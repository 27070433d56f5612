// conformance/server-runner driven as connectconformance --mode server drives
// it: one size-delimited ServerCompatRequest on stdin, one ServerCompatResponse
// on stdout, then the ConformanceService it started is called by this
// library's client and by @connectrpc/connect-node, over every protocol.
// SIGTERM must stop it with exit code 0, and stdout must carry nothing but
// the one framed response.
import { performance } from "node:perf_hooks";
import { create, fromBinary, fromJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient as createConnectEsClient } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport as createConnectEsConnectTransport,
  createGrpcTransport as createConnectEsGrpcTransport,
  createGrpcWebTransport as createConnectEsGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import t, { type Test } from "tap";
import { Code as ConfCode, HTTPVersion, Protocol } from "../../conformance/gen/connectrpc/conformance/v1/config_pb.js";
import {
  type ServerCompatRequest,
  ServerCompatRequestSchema,
  type ServerCompatResponse,
  ServerCompatResponseSchema,
} from "../../conformance/gen/connectrpc/conformance/v1/server_compat_pb.js";
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
import {
  type Client,
  Code,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import {
  clientCert,
  exitWithin,
  type RunnerProcess,
  SERVER_RUNNER,
  serverCert,
  splitFrames,
  startRunner,
} from "../helpers/conformance-runner.js";

type ConformanceClient = Client<typeof ConformanceService>;

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "<none>");

// ---------------------------------------------------------------------------
// The runner.

interface StartedRunner {
  runner: RunnerProcess;
  response: ServerCompatResponse;
  baseUrl: string;
}

async function startServerRunner(t: Test, init: MessageInitShape<typeof ServerCompatRequestSchema>) {
  const runner = startRunner(SERVER_RUNNER);
  t.teardown(() => runner.kill());
  const request: ServerCompatRequest = create(ServerCompatRequestSchema, init);
  runner.write(ServerCompatRequestSchema, request);
  const response = await runner.read(ServerCompatResponseSchema);
  const scheme = request.useTls ? "https" : "http";
  return { runner, response, baseUrl: `${scheme}://${response.host}:${response.port}` } satisfies StartedRunner;
}

/** SIGTERM: the runner must exit with code 0 promptly; stdout then holds exactly the one framed response. */
async function checkSigterm(t: Test, s: StartedRunner) {
  const sentAt = performance.now();
  s.runner.child.kill("SIGTERM");
  const exit = await exitWithin(s.runner, 5_000);
  t.not(exit, "timeout", "the runner exits after SIGTERM");
  if (exit !== "timeout") {
    t.same(exit, { code: 0, signal: null }, "exit code 0");
    t.ok(performance.now() - sentAt < 3_000, `exited promptly (${Math.round(performance.now() - sentAt)} ms)`);
  }
  const { frames, rest } = splitFrames(s.runner.stdout());
  t.equal(frames.length, 1, "stdout holds one frame");
  t.equal(rest.byteLength, 0, "and nothing after it");
  if (frames[0]) {
    t.same(fromBinary(ServerCompatResponseSchema, frames[0]), s.response, "the frame is the ServerCompatResponse");
  }
}

// ---------------------------------------------------------------------------
// Clients: this library's and connect-node's, over each protocol.

type ConnectEsTransport = Parameters<typeof createConnectEsClient>[1];
type NodeTlsOptions = { ca?: Buffer; cert?: Buffer; key?: Buffer };

/** Makes clients of both libraries; whatever they opened is closed in teardown. */
function clientMaker(t: Test, baseUrl: string) {
  const transports: Transport[] = [];
  const sessions: Http2SessionManager[] = [];
  t.teardown(() => {
    for (const tr of transports) tr.close();
    for (const m of sessions) m.abort();
  });
  return {
    ours(tr: Transport): ConformanceClient {
      transports.push(tr);
      return createClient(ConformanceService, tr);
    },
    theirs(tr: ConnectEsTransport): ConformanceClient {
      return createConnectEsClient(ConformanceService, tr) as unknown as ConformanceClient;
    },
    /** An HTTP/2 session manager for connect-node, aborted in teardown. */
    session(tls?: NodeTlsOptions): Http2SessionManager {
      const m = new Http2SessionManager(baseUrl, undefined, tls);
      sessions.push(m);
      return m;
    },
  };
}

interface Variant {
  name: string;
  h2: boolean;
  /** JSON instead of protobuf binary. */
  json?: boolean;
  /** Connect with useHttpGet: IdempotentUnary goes as a GET. */
  get?: boolean;
  client: ConformanceClient;
}

function clientVariants(t: Test, baseUrl: string): Variant[] {
  const { ours, theirs, session } = clientMaker(t, baseUrl);
  return [
    {
      name: "ours connect h1",
      h2: false,
      get: true,
      client: ours(createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true })),
    },
    {
      name: "ours connect h2c",
      h2: true,
      get: true,
      client: ours(createConnectTransport({ baseUrl, httpVersion: "2", useHttpGet: true })),
    },
    {
      name: "ours connect+json h1",
      h2: false,
      get: true,
      json: true,
      client: ours(createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true, useBinaryFormat: false })),
    },
    { name: "ours grpc h2c", h2: true, client: ours(createGrpcTransport({ baseUrl })) },
    { name: "ours grpc-web h1", h2: false, client: ours(createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })) },
    { name: "ours grpc-web h2c", h2: true, client: ours(createGrpcWebTransport({ baseUrl, httpVersion: "2" })) },
    {
      name: "connect-node connect h1",
      h2: false,
      get: true,
      client: theirs(createConnectEsConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true })),
    },
    {
      name: "connect-node connect h2c",
      h2: true,
      get: true,
      client: theirs(
        createConnectEsConnectTransport({ baseUrl, httpVersion: "2", useHttpGet: true, sessionManager: session() }),
      ),
    },
    {
      name: "connect-node grpc h2c",
      h2: true,
      client: theirs(createConnectEsGrpcTransport({ baseUrl, sessionManager: session() })),
    },
    {
      name: "connect-node grpc-web h1",
      h2: false,
      client: theirs(createConnectEsGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
    },
    {
      name: "connect-node grpc-web h2c",
      h2: true,
      client: theirs(createConnectEsGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager: session() })),
    },
  ];
}

// ---------------------------------------------------------------------------
// Checking results.

/** What both libraries' ConnectError have in common. */
interface AnyConnectError {
  code: number;
  rawMessage: string;
  metadata: Headers;
  details: ({ type: string } | { desc: { typeName: string } })[];
  findDetails: ConnectErrorFindDetails;
}
type ConnectErrorFindDetails = (desc: typeof ConformancePayload_RequestInfoSchema) => {
  requests: Any[];
  requestHeaders: Header[];
}[];

async function rejection(p: Promise<unknown> | (() => Promise<unknown>)): Promise<AnyConnectError | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
    return undefined;
  } catch (e) {
    if (e && typeof e === "object" && "code" in e && "rawMessage" in e) return e as AnyConnectError;
    throw e;
  }
}

function headerValues(list: Header[] | undefined, name: string): string[] | undefined {
  return list?.find((h) => h.name.toLowerCase() === name)?.value;
}

/** The request data of the requests echoed in a RequestInfo, checked to be of `typeName`. */
function echoed(t: Test, requests: Any[] | undefined, typeName: string): string[] {
  return (requests ?? []).map((any) => {
    t.equal(any.typeUrl, `type.googleapis.com/${typeName}`, "echoed request type");
    const desc = {
      [UnaryRequestSchema.typeName]: UnaryRequestSchema,
      [IdempotentUnaryRequestSchema.typeName]: IdempotentUnaryRequestSchema,
      [ServerStreamRequestSchema.typeName]: ServerStreamRequestSchema,
      [ClientStreamRequestSchema.typeName]: ClientStreamRequestSchema,
      [BidiStreamRequestSchema.typeName]: BidiStreamRequestSchema,
    }[typeName];
    const m = desc ? anyUnpack(any, desc) : undefined;
    return m && "requestData" in m ? dec(m.requestData) : "<undecodable>";
  });
}

/** Request messages as an async iterable: connect-node's streaming clients take nothing else. */
async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const header = (name: string, ...value: string[]) => create(HeaderSchema, { name, value });

/** A feed of request messages the test pushes one at a time. */
class Feed<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private closed = false;
  private wake?: () => void;
  push(m: T) {
    this.queue.push(m);
    this.wake?.();
  }
  close() {
    this.closed = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) {
        yield m;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

// ---------------------------------------------------------------------------
// The cases, for one client variant.

function callCases(t: Test, v: Variant) {
  const { client } = v;

  t.test("unary: response headers and trailers echoed, data returned", async (t) => {
    let h: Headers | undefined;
    let tr: Headers | undefined;
    const res = await client.unary(
      {
        requestData: enc("unary-req"),
        responseDefinition: {
          responseHeaders: [header("x-custom-header", "hv")],
          responseTrailers: [header("x-custom-trailer", "tv")],
          response: { case: "responseData", value: enc("unary-data") },
        },
      },
      { onHeader: (x) => (h = x), onTrailer: (x) => (tr = x) },
    );
    t.equal(dec(res.payload?.data), "unary-data");
    t.equal(h?.get("x-custom-header"), "hv", "response header");
    t.equal(tr?.get("x-custom-trailer"), "tv", "response trailer");
    t.same(echoed(t, res.payload?.requestInfo?.requests, UnaryRequestSchema.typeName), ["unary-req"]);
  });

  t.test("unary: request headers and timeout_ms in RequestInfo", async (t) => {
    const res = await client.unary(
      { requestData: enc("hdr") },
      { headers: { "x-conformance-test": "req-header-value" }, timeoutMs: 8_000 },
    );
    const info = res.payload?.requestInfo;
    t.same(headerValues(info?.requestHeaders, "x-conformance-test"), ["req-header-value"], "request header seen");
    const timeout = info?.timeoutMs === undefined ? undefined : Number(info.timeoutMs);
    t.ok(timeout !== undefined && timeout > 6_000 && timeout <= 8_000, `timeout_ms reported: ${timeout}`);
    const noTimeout = await client.unary({ requestData: enc("no-timeout") });
    t.equal(noTimeout.payload?.requestInfo?.timeoutMs, undefined, "no timeout_ms without a deadline");
  });

  t.test("unary: error with details, RequestInfo attached", async (t) => {
    const custom = anyPack(HeaderSchema, header("detail-name", "detail-value"));
    let h: Headers | undefined;
    let tr: Headers | undefined;
    const err = await rejection(
      client.unary(
        {
          requestData: enc("err-req"),
          responseDefinition: {
            responseHeaders: [header("x-custom-header", "err-hv")],
            responseTrailers: [header("x-custom-trailer", "err-tv")],
            response: {
              case: "error",
              value: { code: ConfCode.FAILED_PRECONDITION, message: "failed on purpose", details: [custom] },
            },
          },
        },
        { onHeader: (x) => (h = x), onTrailer: (x) => (tr = x) },
      ),
    );
    t.ok(err, "the call failed");
    if (!err) return;
    t.equal(err.code, Code.FailedPrecondition, "code");
    t.equal(err.rawMessage, "failed on purpose", "message");
    t.same(
      err.details.map((d) => ("type" in d ? d.type : d.desc.typeName)),
      [HeaderSchema.typeName, ConformancePayload_RequestInfoSchema.typeName],
      "detail types: the defined detail, then RequestInfo",
    );
    const infos = err.findDetails(ConformancePayload_RequestInfoSchema);
    t.equal(infos.length, 1, "one RequestInfo detail");
    t.same(echoed(t, infos[0]?.requests, UnaryRequestSchema.typeName), ["err-req"], "it echoes the request");
    const seenHeader = h?.get("x-custom-header") ?? err.metadata.get("x-custom-header");
    const seenTrailer = tr?.get("x-custom-trailer") ?? err.metadata.get("x-custom-trailer");
    t.equal(seenHeader, "err-hv", "response header delivered with the error");
    t.equal(seenTrailer, "err-tv", "response trailer delivered with the error");
  });

  t.test("server stream: headers before the first message, messages spaced by response_delay_ms", async (t) => {
    const delay = 150;
    let headerAt: number | undefined;
    let h: Headers | undefined;
    let tr: Headers | undefined;
    const at: number[] = [];
    const got: ConformancePayload[] = [];
    const start = performance.now();
    for await (const m of client.serverStream(
      {
        requestData: enc("ss-req"),
        responseDefinition: {
          responseHeaders: [header("x-custom-header", "ss-hv")],
          responseTrailers: [header("x-custom-trailer", "ss-tv")],
          responseData: [enc("d0"), enc("d1"), enc("d2")],
          responseDelayMs: delay,
        },
      },
      {
        onHeader: (x) => {
          headerAt = performance.now();
          h = x;
        },
        onTrailer: (x) => (tr = x),
      },
    )) {
      at.push(performance.now());
      if (m.payload) got.push(m.payload);
    }
    t.same(
      got.map((p) => dec(p.data)),
      ["d0", "d1", "d2"],
    );
    t.same(echoed(t, got[0]?.requestInfo?.requests, ServerStreamRequestSchema.typeName), ["ss-req"], "first echoes");
    t.same(
      got.slice(1).map((p) => p.requestInfo),
      [undefined, undefined],
      "later messages carry no RequestInfo",
    );
    t.equal(h?.get("x-custom-header"), "ss-hv", "response header");
    t.equal(tr?.get("x-custom-trailer"), "ss-tv", "response trailer");
    t.ok(headerAt !== undefined, "onHeader was called");
    if (headerAt !== undefined && at[0] !== undefined) {
      t.ok(
        at[0] - headerAt >= delay * 0.6,
        `headers arrived ${Math.round(at[0] - headerAt)} ms before the first message (${Math.round(headerAt - start)} ms after the call)`,
      );
    }
    for (let i = 1; i < at.length; i++) {
      t.ok(at[i] - at[i - 1] >= delay * 0.6, `message ${i} came ${Math.round(at[i] - at[i - 1])} ms after the last`);
    }
  });

  t.test("client stream: every request echoed in order", async (t) => {
    const reqs: MessageInitShape<typeof ClientStreamRequestSchema>[] = [
      {
        requestData: enc("cs0"),
        responseDefinition: {
          responseHeaders: [header("x-custom-header", "cs-hv")],
          response: { case: "responseData", value: enc("cs-data") },
        },
      },
      { requestData: enc("cs1") },
      { requestData: enc("cs2") },
    ];
    let h: Headers | undefined;
    const res = await client.clientStream(each(reqs), { onHeader: (x) => (h = x) });
    t.equal(dec(res.payload?.data), "cs-data");
    t.same(echoed(t, res.payload?.requestInfo?.requests, ClientStreamRequestSchema.typeName), ["cs0", "cs1", "cs2"]);
    t.equal(h?.get("x-custom-header"), "cs-hv", "response header");
  });

  t.test("half-duplex bidi: all requests echoed in the first response", async (t) => {
    const reqs: MessageInitShape<typeof BidiStreamRequestSchema>[] = [
      {
        requestData: enc("hd0"),
        fullDuplex: false,
        responseDefinition: {
          responseTrailers: [header("x-custom-trailer", "hd-tv")],
          responseData: [enc("hd-a"), enc("hd-b")],
        },
      },
      { requestData: enc("hd1") },
      { requestData: enc("hd2") },
    ];
    let tr: Headers | undefined;
    const got: ConformancePayload[] = [];
    for await (const m of client.bidiStream(each(reqs), { onTrailer: (x) => (tr = x) }))
      if (m.payload) got.push(m.payload);
    t.same(
      got.map((p) => dec(p.data)),
      ["hd-a", "hd-b"],
    );
    t.same(echoed(t, got[0]?.requestInfo?.requests, BidiStreamRequestSchema.typeName), ["hd0", "hd1", "hd2"]);
    t.equal(got[1]?.requestInfo, undefined, "the second response carries no RequestInfo");
    t.equal(tr?.get("x-custom-trailer"), "hd-tv", "response trailer");
  });

  if (v.h2) {
    t.test("full-duplex bidi: one answer per request, each echoing the requests since the last", async (t) => {
      const feed = new Feed<MessageInitShape<typeof BidiStreamRequestSchema>>();
      const it = client.bidiStream(feed, { headers: { "x-conformance-test": "fd" } })[Symbol.asyncIterator]();
      const got: ConformancePayload[] = [];
      feed.push({
        requestData: enc("fd0"),
        fullDuplex: true,
        responseDefinition: { responseData: [enc("fd-a"), enc("fd-b"), enc("fd-c")] },
      });
      for (const next of ["fd1", "fd2", undefined]) {
        const r = await it.next();
        t.notOk(r.done, "a response arrived before the next request was sent");
        if (r.done) break;
        if (r.value.payload) got.push(r.value.payload);
        if (next) feed.push({ requestData: enc(next) });
      }
      feed.close();
      t.ok((await it.next()).done, "the stream ends after the request stream closes");
      t.same(
        got.map((p) => dec(p.data)),
        ["fd-a", "fd-b", "fd-c"],
      );
      t.same(
        got.map((p) => echoed(t, p.requestInfo?.requests, BidiStreamRequestSchema.typeName)),
        [["fd0"], ["fd1"], ["fd2"]],
        "each response echoes the request since the last response",
      );
      t.same(headerValues(got[0]?.requestInfo?.requestHeaders, "x-conformance-test"), ["fd"], "first: headers");
      t.same(got[1]?.requestInfo?.requestHeaders ?? [], [], "later: no headers");
    });
  }

  t.test(`IdempotentUnary${v.get ? " as a Connect GET" : ""}`, async (t) => {
    const res = await client.idempotentUnary({
      requestData: enc("get-req"),
      responseDefinition: { response: { case: "responseData", value: enc("get-data") } },
    });
    t.equal(dec(res.payload?.data), "get-data");
    const info = res.payload?.requestInfo;
    t.same(echoed(t, info?.requests, IdempotentUnaryRequestSchema.typeName), ["get-req"]);
    if (!v.get) return;
    const params = info?.connectGetInfo?.queryParams ?? [];
    t.same(headerValues(params, "connect"), ["v1"], "connect=v1");
    t.same(headerValues(params, "encoding"), [v.json ? "json" : "proto"], "encoding");
    const message = headerValues(params, "message")?.[0];
    t.ok(message, "message query parameter reported");
    if (message) {
      const decoded = v.json
        ? fromJsonString(IdempotentUnaryRequestSchema, message)
        : fromBinary(IdempotentUnaryRequestSchema, Buffer.from(message, "base64url"));
      t.equal(dec(decoded.requestData), "get-req", "the message parameter is the request");
    }
    if (!v.json) t.same(headerValues(params, "base64"), ["1"], "base64=1");
  });

  t.test("Unimplemented answers unimplemented", async (t) => {
    const err = await rejection(client.unimplemented({}));
    t.equal(err?.code, Code.Unimplemented);
  });
}

// ---------------------------------------------------------------------------

t.test("plaintext runner: HTTP/1.1 and h2c on one port", async (t) => {
  const s = await startServerRunner(t, { protocol: Protocol.CONNECT, httpVersion: HTTPVersion.HTTP_VERSION_2 });
  t.equal(s.response.host, "127.0.0.1", "host");
  t.ok(s.response.port > 0, "an ephemeral port");
  t.equal(s.response.pemCert.byteLength, 0, "no pem_cert without TLS");
  for (const v of clientVariants(t, s.baseUrl)) t.test(v.name, async (t) => callCases(t, v));
  // The clients above still hold pooled connections: SIGTERM must not wait on them.
  t.test("SIGTERM stops the runner", (t) => checkSigterm(t, s));
});

t.test("message_receive_limit", async (t) => {
  const limit = 1024;
  const s = await startServerRunner(t, {
    protocol: Protocol.GRPC,
    httpVersion: HTTPVersion.HTTP_VERSION_2,
    messageReceiveLimit: limit,
  });
  const { baseUrl } = s;
  const { ours, theirs, session } = clientMaker(t, baseUrl);
  const clients: [string, ConformanceClient][] = [
    ["ours connect h1", ours(createConnectTransport({ baseUrl, httpVersion: "1.1" }))],
    ["ours connect h1 gzip", ours(createConnectTransport({ baseUrl, httpVersion: "1.1", sendCompression: "gzip" }))],
    ["ours grpc", ours(createGrpcTransport({ baseUrl }))],
    ["ours grpc gzip", ours(createGrpcTransport({ baseUrl, sendCompression: "gzip" }))],
    ["ours grpc-web h1", ours(createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }))],
    [
      "connect-node connect h2c",
      theirs(createConnectEsConnectTransport({ baseUrl, httpVersion: "2", sessionManager: session() })),
    ],
    [
      "connect-node grpc gzip",
      theirs(createConnectEsGrpcTransport({ baseUrl, sessionManager: session(), sendCompression: compressionGzip })),
    ],
  ];
  for (const [name, client] of clients) {
    t.test(name, async (t) => {
      const small = await client.unary({ requestData: new Uint8Array(100) });
      t.ok(small.payload?.requestInfo, "a request under the limit succeeds");
      // Zeros compress well: with gzip the wire message is small, the decompressed one is not.
      const err = await rejection(client.unary({ requestData: new Uint8Array(limit * 2) }));
      t.equal(err?.code, Code.ResourceExhausted, `a larger request fails: resource_exhausted (${err?.rawMessage})`);
      const streamErr = await rejection(
        client.clientStream(each([{ requestData: new Uint8Array(10) }, { requestData: new Uint8Array(limit * 2) }])),
      );
      t.equal(streamErr?.code, Code.ResourceExhausted, "a larger client-stream message fails too");
    });
  }
  t.test("SIGTERM stops the runner", (t) => checkSigterm(t, s));
});

t.test("TLS runner with a required client certificate", async (t) => {
  const server = serverCert();
  const client = clientCert();
  const stranger = clientCert();
  const s = await startServerRunner(t, {
    protocol: Protocol.CONNECT,
    httpVersion: HTTPVersion.HTTP_VERSION_2,
    useTls: true,
    serverCreds: { cert: server.cert, key: server.key },
    clientTlsCert: client.cert,
  });
  t.equal(Buffer.from(s.response.pemCert).toString(), server.cert.toString(), "pem_cert is the given certificate");
  t.match(s.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const { baseUrl } = s;
  const { ours, theirs, session } = clientMaker(t, baseUrl);
  const withCert = { ca: server.cert, cert: client.cert, key: client.key };
  const noCert = { ca: server.cert };

  const accepted: [string, ConformanceClient][] = [
    ["ours connect (ALPN)", ours(createConnectTransport({ baseUrl, tls: withCert }))],
    ["ours connect h1", ours(createConnectTransport({ baseUrl, httpVersion: "1.1", tls: withCert }))],
    ["ours grpc h2", ours(createGrpcTransport({ baseUrl, tls: withCert }))],
    ["ours grpc-web h1", ours(createGrpcWebTransport({ baseUrl, httpVersion: "1.1", tls: withCert }))],
    ["connect-node grpc h2", theirs(createConnectEsGrpcTransport({ baseUrl, sessionManager: session(withCert) }))],
    [
      "connect-node connect h1",
      theirs(createConnectEsConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: withCert })),
    ],
  ];
  for (const [name, c] of accepted) {
    t.test(`${name} with the client certificate: calls succeed`, async (t) => {
      const res = await c.unary({ requestData: enc("tls") });
      t.same(echoed(t, res.payload?.requestInfo?.requests, UnaryRequestSchema.typeName), ["tls"]);
      const got: string[] = [];
      for await (const m of c.serverStream({ responseDefinition: { responseData: [enc("a"), enc("b")] } }))
        got.push(dec(m.payload?.data));
      t.same(got, ["a", "b"], "server stream over TLS");
    });
  }

  // Without the certificate the server must refuse the connection. A refused
  // TLS 1.3 handshake shows only after the client thinks it is done, so a
  // client that misses it waits for the call's deadline instead.
  const refused: [string, () => ConformanceClient][] = [
    [
      "ours connect h1, no client certificate",
      () => ours(createConnectTransport({ baseUrl, httpVersion: "1.1", tls: noCert })),
    ],
    ["ours connect (ALPN), no client certificate", () => ours(createConnectTransport({ baseUrl, tls: noCert }))],
    ["ours grpc h2, no client certificate", () => ours(createGrpcTransport({ baseUrl, tls: noCert }))],
    [
      "ours grpc h2, an untrusted client certificate",
      () => ours(createGrpcTransport({ baseUrl, tls: { ...noCert, cert: stranger.cert, key: stranger.key } })),
    ],
    [
      "connect-node grpc h2, no client certificate",
      () => theirs(createConnectEsGrpcTransport({ baseUrl, sessionManager: session(noCert) })),
    ],
  ];
  for (const [name, make] of refused) {
    t.test(`${name}: the call fails`, async (t) => {
      const c = make();
      const started = performance.now();
      const err = await rejection(c.unary({ requestData: enc("no-cert") }, { timeoutMs: 2_000 }));
      const ms = Math.round(performance.now() - started);
      t.ok(err, "the call fails");
      t.not(err?.code, Code.DeadlineExceeded, `on the handshake, not at the deadline (${ms} ms: ${err?.rawMessage})`);
      // This library reports a failed connection as unavailable (connect-node says internal).
      if (name.startsWith("ours")) t.equal(err?.code, Code.Unavailable, "unavailable");
    });
  }

  t.test("SIGTERM stops the runner", (t) => checkSigterm(t, s));
});

t.test("a runner given no request exits non-zero at EOF, writing nothing to stdout", async (t) => {
  const runner = startRunner(SERVER_RUNNER);
  t.teardown(() => runner.kill());
  runner.end();
  const exit = await exitWithin(runner, 10_000);
  t.not(exit, "timeout", "it exits");
  if (exit !== "timeout") t.not(exit.code, 0, "with a non-zero code");
  t.equal(runner.stdout().byteLength, 0, "nothing on stdout");
});
