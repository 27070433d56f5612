import type { IncomingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";
import { create } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import {
  type Client,
  type ClientInterceptor,
  Code,
  ConnectError,
  type ConnectTransportOptions,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type Transport,
} from "../../lib/client/index.js";
import type { HandlerContext, ServiceImpl } from "../../lib/index.js";
import { brotli, gzip } from "../../lib/protocol/compression.js";
import { parseConnectTimeout, parseGrpcTimeout } from "../../lib/protocol/timeout.js";
import { EchoRequestSchema, type EchoResponse, ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { counting, hex, PAYLOAD } from "../helpers/peer.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";
import { selfSigned } from "../helpers/tls.js";

/** How long the server may take to notice something (an abort, a call). Generous; a pass is fast. */
const WAIT_MS = 2000;

interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: IncomingHttpHeaders;
}

/**
 * The server side of the calls: request heads (onRequest hook), handler
 * contexts, the counts of the server's compressions, and the client a
 * handler relays to (deadline propagation).
 */
class Probe {
  readonly seen = new Map<string, SeenRequest>();
  /** The `x-call` of every request the HTTP server got. */
  readonly raw = new Set<string>();
  readonly contexts = new Map<string, HandlerContext>();
  private readonly listeners = new Set<() => void>();
  readonly gzip = counting(gzip);
  readonly br = counting(brotli);
  /** Set by a test: Unary with text "relay" calls Echo through it, with `{ context: ctx }`. */
  relay?: Client<typeof TestService>;
  readonly relayErrors = new Map<string, ConnectError>();

  record(ctx: HandlerContext): void {
    const id = ctx.requestHeader.get("x-call");
    if (id === null) return;
    this.contexts.set(id, ctx);
    for (const l of this.listeners) l();
  }

  /** The request head of a call. */
  request(id: string): SeenRequest | undefined {
    return this.seen.get(id);
  }

  /** The handler context of a call, once its handler has started. */
  handler(id: string): Promise<HandlerContext> {
    const found = this.contexts.get(id);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = () => {
        const ctx = this.contexts.get(id);
        if (!ctx) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(ctx);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`the handler of call ${id} was not called`));
      }, WAIT_MS);
      this.listeners.add(listener);
    });
  }

  readonly impl: ServiceImpl<typeof TestService> = {
    echo: (req, ctx) => {
      this.record(ctx);
      return testServiceImpl.echo(req, ctx);
    },
    unary: async (req, ctx) => {
      this.record(ctx);
      if (req.text === "relay" && this.relay) {
        const id = ctx.requestHeader.get("x-call") ?? "";
        try {
          const inner = await this.relay.echo(
            { text: "inner", delayMs: req.delayMs },
            { context: ctx, headers: { "x-call": `${id}-inner` } },
          );
          return { text: `relayed ${inner.text}` };
        } catch (e) {
          this.relayErrors.set(id, ConnectError.from(e));
          throw e;
        }
      }
      return testServiceImpl.unary(req, ctx);
    },
    serverStream: (req, ctx) => {
      this.record(ctx);
      return testServiceImpl.serverStream(req, ctx);
    },
    clientStream: (reqs, ctx) => {
      this.record(ctx);
      return testServiceImpl.clientStream(reqs, ctx);
    },
    bidi: (reqs, ctx) => {
      this.record(ctx);
      return testServiceImpl.bidi(reqs, ctx);
    },
  };
}

async function startProbed(probe: Probe, kind: ServerKind): Promise<StartedServer> {
  return startServer({
    http2: kind !== "h1",
    fastify:
      kind === "tls" ? ({ https: { allowHTTP1: true, key: tlsCert.key, cert: tlsCert.cert } } as never) : undefined,
    plugin: {
      routes: (router) => void router.service(TestService, probe.impl),
      acceptCompression: [probe.gzip.compression, probe.br.compression],
    },
    setup(app) {
      app.addHook("onRequest", async (req) => {
        const id = req.headers["x-call"];
        if (typeof id !== "string") return;
        probe.seen.set(id, {
          method: req.method,
          url: req.url,
          httpVersion: req.raw.httpVersion,
          headers: req.headers,
        });
      });
    },
  });
}

/** Resolves true once `signal` aborts, false if it has not within `ms`. */
function abortedWithin(signal: AbortSignal, ms = WAIT_MS): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
  });
}

/** The ConnectError a call fails with; throws if it succeeds. */
async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e;
    throw new Error(`expected a ConnectError, got ${String(e)}`);
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Drains a response stream: the messages received, and the error it ended with. */
async function collect(it: AsyncIterable<EchoResponse>): Promise<{ messages: EchoResponse[]; error?: ConnectError }> {
  const messages: EchoResponse[] = [];
  try {
    for await (const m of it) messages.push(m);
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    return { messages, error: e };
  }
  return { messages };
}

type Req = Parameters<Client<typeof TestService>["unary"]>[0];

async function* gen(...reqs: Req[]): AsyncGenerator<Req> {
  for (const r of reqs) yield r;
}

/** A request stream the test feeds one message at a time. */
function pushable() {
  const queue: Req[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* iterate(): AsyncGenerator<Req> {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return {
    iterable: iterate(),
    push(r: Req) {
      queue.push(r);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

let callSeq = 0;
/** A unique id for one call, sent as `x-call`. */
function callId(name: string): string {
  return `${name}-${++callSeq}`;
}

type ServerKind = "h1" | "h2c" | "tls";
interface Config {
  protocol: "connect" | "grpc" | "grpc-web";
  server: ServerKind;
  /** What the transport is given; undefined lets the URL (and ALPN for https) decide. */
  httpVersion?: "1.1" | "2";
  /** The HTTP version the server should see. */
  wire: "1.1" | "2.0";
  binary: boolean;
}

function label(c: Config): string {
  const via =
    c.server === "h1"
      ? "HTTP/1.1"
      : c.server === "h2c"
        ? "h2c"
        : c.httpVersion === undefined
          ? "TLS (ALPN)"
          : `TLS httpVersion ${c.httpVersion}`;
  return `${c.protocol} over ${via}, ${c.binary ? "proto" : "JSON"}`;
}

const configs: Config[] = [];
for (const binary of [true, false]) {
  for (const protocol of ["connect", "grpc-web"] as const) {
    configs.push({ protocol, server: "h1", wire: "1.1", binary });
    configs.push({ protocol, server: "h2c", httpVersion: "2", wire: "2.0", binary });
    configs.push({ protocol, server: "tls", wire: "2.0", binary });
    configs.push({ protocol, server: "tls", httpVersion: "1.1", wire: "1.1", binary });
  }
  configs.push({ protocol: "grpc", server: "h2c", wire: "2.0", binary });
  configs.push({ protocol: "grpc", server: "tls", wire: "2.0", binary });
}

/** The request content-type each protocol and codec should put on the wire. */
function contentType(c: Config, streaming: boolean): string {
  const codec = c.binary ? "proto" : "json";
  if (c.protocol === "connect") return streaming ? `application/connect+${codec}` : `application/${codec}`;
  if (c.protocol === "grpc") return c.binary ? "application/grpc" : "application/grpc+json";
  return `application/grpc-web+${codec}`;
}

/** The header naming a message compression, in requests and responses. */
function encodingHeader(c: Config, streaming: boolean): string {
  if (c.protocol === "connect") return streaming ? "connect-content-encoding" : "content-encoding";
  return "grpc-encoding";
}

/** The deadline a request carries, in milliseconds. */
function sentTimeout(c: Config, seen: SeenRequest | undefined): number | undefined {
  if (!seen) return undefined;
  if (c.protocol === "connect") return parseConnectTimeout(seen.headers["connect-timeout-ms"] as string | undefined);
  return parseGrpcTimeout(seen.headers["grpc-timeout"] as string | undefined);
}

function checkError(
  t: Test,
  err: ConnectError | undefined,
  code: Code,
  codeName: string,
  message: string,
  what = "the call",
): void {
  t.ok(err instanceof ConnectError, `${what} failed with a ConnectError`);
  if (!err) return;
  t.equal(err.code, code, `${what}: code`);
  t.equal(err.rawMessage, message, `${what}: message`);
  t.equal(err.metadata.get("x-error-meta"), "yes", `${what}: error metadata`);
  t.same(
    err.findDetails(ErrorInfoSchema).map((d) => ({ reason: d.reason, fields: d.fields })),
    [{ reason: "on-purpose", fields: { codeName } }],
    `${what}: the ErrorInfo detail`,
  );
}

const tlsCert = selfSigned();
/** The SNI server name of every TLS connection the server accepted. */
const sniNames: (string | false | undefined)[] = [];
const servers = {} as Record<ServerKind, { probe: Probe; server: StartedServer; baseUrl: string }>;

t.before(async () => {
  for (const kind of ["h1", "h2c", "tls"] as const) {
    const probe = new Probe();
    const server = await startProbed(probe, kind);
    const baseUrl = kind === "tls" ? `https://127.0.0.1:${server.port}` : server.baseUrl;
    servers[kind] = { probe, server, baseUrl };
    // Every request the HTTP server itself got, before Fastify's routing and hooks.
    server.app.server.on("request", (req: { headers: IncomingHttpHeaders }) => {
      const id = req.headers["x-call"];
      if (typeof id === "string") probe.raw.add(id);
    });
    server.app.server.on("secureConnection", (socket: TLSSocket) => {
      sniNames.push((socket as TLSSocket & { servername?: string | false }).servername);
      // Node's HTTP/2 server leaves Nagle on for the HTTP/1.1 connections it
      // falls back to (allowHTTP1), which costs a streaming call there ~40 ms
      // (delayed ACK). That is the server's business, not the client's.
      socket.setNoDelay(true);
    });
  }
});
t.teardown(async () => {
  for (const s of Object.values(servers)) await s.server.close();
});

for (const c of configs) {
  t.test(label(c), async (t) => {
    const { probe, baseUrl } = servers[c.server];
    const transports: Transport[] = [];
    t.teardown(() => {
      for (const tr of transports) tr.close();
    });
    const transport = (extra: Partial<ConnectTransportOptions> = {}): Transport => {
      const options: ConnectTransportOptions = {
        baseUrl,
        httpVersion: c.httpVersion,
        useBinaryFormat: c.binary,
        tls: c.server === "tls" ? { ca: tlsCert.cert } : undefined,
        ...extra,
      };
      const tr =
        c.protocol === "connect"
          ? createConnectTransport(options)
          : c.protocol === "grpc"
            ? createGrpcTransport(options)
            : createGrpcWebTransport(options);
      transports.push(tr);
      return tr;
    };
    const make = (extra: Partial<ConnectTransportOptions> = {}) => createClient(TestService, transport(extra));
    const client = make();

    t.test("unary, with an init object and with a created message", async (t) => {
      const id = callId("unary");
      const r = await client.unary({ text: "hello", payload: PAYLOAD.subarray(0, 100) }, { headers: { "x-call": id } });
      t.equal(r.text, "hello");
      t.equal(hex(r.payload), hex(PAYLOAD.subarray(0, 100)));
      t.equal(r.$typeName, "fcr.test.v1.EchoResponse");
      const seen = probe.request(id);
      t.equal(seen?.httpVersion, c.wire, `the request went over HTTP/${c.wire}`);
      t.equal(seen?.method, "POST");
      t.equal(seen?.headers["content-type"], contentType(c, c.protocol !== "connect"));
      const made = create(EchoRequestSchema, { text: "made", count: 2 });
      const r2 = await client.unary(made);
      t.equal(r2.text, "made");
      const r3 = await client.echo({});
      t.equal(r3.text, "", "an empty message");
    });

    t.test("server streaming", async (t) => {
      const id = callId("server-stream");
      const { messages, error } = await collect(
        client.serverStream({ text: "s", count: 3 }, { headers: { "x-call": id } }),
      );
      t.equal(error, undefined);
      t.same(
        messages.map((m) => [m.text, m.index]),
        [
          ["s", 0],
          ["s", 1],
          ["s", 2],
        ],
      );
      t.equal(probe.request(id)?.headers["content-type"], contentType(c, true));
      t.equal(probe.request(id)?.httpVersion, c.wire);
      const none = await collect(client.serverStream({ text: "none", count: 0 }));
      t.same(none, { messages: [] }, "a stream with no messages ends cleanly");
    });

    t.test("client streaming, from an async and a sync iterable", async (t) => {
      const r = await client.clientStream(gen({ text: "a" }, { text: "b" }, create(EchoRequestSchema, { text: "c" })));
      t.equal(r.text, "a,b,c");
      t.equal(r.index, 3);
      const r2 = await client.clientStream([{ text: "x" }, { text: "y" }]);
      t.equal(r2.text, "x,y");
      const r3 = await client.clientStream([]);
      t.equal(r3.index, 0, "no request messages");
    });

    t.test("bidi streaming, full duplex", async (t) => {
      // Each response arrives before the next request is sent (HTTP/1.1 too:
      // the server answers while the request body is still open).
      const p = pushable();
      const it = client.bidi(p.iterable)[Symbol.asyncIterator]();
      const got: string[] = [];
      for (const text of ["one", "two", "three"]) {
        p.push({ text });
        const r = await it.next();
        t.equal(r.done, false);
        if (!r.done) got.push(`${r.value.index}:${r.value.text}`);
      }
      p.end();
      t.same(await it.next(), { done: true, value: undefined }, "the stream ends after the requests do");
      t.same(got, ["0:one", "1:two", "2:three"]);

      const { messages, error } = await collect(client.bidi([{ text: "a" }, { text: "b" }]));
      t.equal(error, undefined);
      t.same(
        messages.map((m) => `${m.index}:${m.text}`),
        ["0:a", "1:b"],
        "from an array",
      );
    });

    t.test("errors: code, message, metadata and details", async (t) => {
      let trailer: Headers | undefined;
      let header: Headers | undefined;
      const unaryErr = await rejection(
        client.unary(
          { text: "error:not_found:no such thing" },
          { onHeader: (h) => (header = h), onTrailer: (h) => (trailer = h) },
        ),
      );
      checkError(t, unaryErr, Code.NotFound, "not_found", "no such thing", "unary");
      t.equal(trailer?.get("x-error-meta"), "yes", "onTrailer is called on failure, with the error's metadata");
      t.ok(header instanceof Headers, "onHeader is called on failure too");

      const s = await collect(client.serverStream({ text: "error:permission_denied:late", count: 2 }));
      t.equal(s.messages.length, 2, "the messages before the error arrive");
      checkError(t, s.error, Code.PermissionDenied, "permission_denied", "late", "server stream");

      const cs = await rejection(client.clientStream([{ text: "ok" }, { text: "error:aborted:in the middle" }]));
      checkError(t, cs, Code.Aborted, "aborted", "in the middle", "client stream");

      const b = await collect(client.bidi([{ text: "fine" }, { text: "error:out_of_range:too far" }]));
      t.same(
        b.messages.map((m) => m.text),
        ["fine"],
      );
      checkError(t, b.error, Code.OutOfRange, "out_of_range", "too far", "bidi");

      const hidden = await rejection(client.unary({ text: "error:throw" }));
      t.equal(hidden.code, Code.Internal, "a thrown plain Error is internal");
      t.notMatch(hidden.message, /secret/);

      const unicode = await rejection(client.unary({ text: "error:invalid_argument:ünïcödé % 100\u{1F600}" }));
      t.equal(unicode.code, Code.InvalidArgument);
      t.equal(unicode.rawMessage, "ünïcödé % 100\u{1F600}", "a non-ASCII message survives");
    });

    t.test("metadata: headers, trailers and -bin values, through onHeader and onTrailer", async (t) => {
      const bin = Uint8Array.from([0, 1, 2, 0xfe, 0xff]);
      const headers = {
        "x-echo-header": "head-value",
        "x-echo-trailer": "trail-value",
        "x-echo-bin": encodeBinaryHeader(bin),
      };
      const events: string[] = [];
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const id = callId("meta");
      const r = await client.unary(
        { text: "m" },
        {
          headers: { ...headers, "x-call": id },
          onHeader: (h) => {
            events.push("header");
            header = h;
          },
          onTrailer: (h) => {
            events.push("trailer");
            trailer = h;
          },
        },
      );
      t.equal(r.text, "m");
      t.same(events, ["header", "trailer"]);
      t.equal(header?.get("x-echo-header"), "head-value");
      t.equal(trailer?.get("x-echo-trailer"), "trail-value");
      const back = trailer?.get("x-echo-bin");
      t.equal(back === null || back === undefined ? "" : hex(decodeBinaryHeader(back)), hex(bin), "-bin round trip");
      const seenBin = probe.request(id)?.headers["x-echo-bin"];
      t.equal(
        typeof seenBin === "string" ? hex(decodeBinaryHeader(seenBin)) : "",
        hex(bin),
        "the server got the bytes",
      );

      // A stream: the header before the first message, the trailer after the last.
      const order: string[] = [];
      let streamTrailer: Headers | undefined;
      for await (const m of client.serverStream(
        { text: "m", count: 2 },
        {
          headers,
          onHeader: (h) => order.push(`header ${h.get("x-echo-header")}`),
          onTrailer: (h) => {
            streamTrailer = h;
            order.push(`trailer ${h.get("x-echo-trailer")}`);
          },
        },
      )) {
        order.push(`message ${m.index}`);
      }
      t.same(order, ["header head-value", "message 0", "message 1", "trailer trail-value"]);
      const sb = streamTrailer?.get("x-echo-bin");
      t.equal(sb ? hex(decodeBinaryHeader(sb)) : "", hex(bin), "-bin trailer on a stream");
    });

    for (const name of ["gzip", "br"] as const) {
      t.test(`${name} both ways`, async (t) => {
        const counts = name === "gzip" ? probe.gzip.counts : probe.br.counts;
        const compressed = make({ sendCompression: name, compressMinBytes: 0, acceptCompression: [name] });
        const before = { ...counts };
        const id = callId(`compress-${name}`);
        let header: Headers | undefined;
        const r = await compressed.unary(
          { text: "z", payload: PAYLOAD },
          { headers: { "x-call": id }, onHeader: (h) => (header = h) },
        );
        t.equal(hex(r.payload), hex(PAYLOAD), "the payload round-trips");
        t.equal(probe.request(id)?.headers[encodingHeader(c, c.protocol !== "connect")], name, "the request says so");
        t.equal(header?.get(encodingHeader(c, c.protocol !== "connect")), name, "the response is compressed too");
        t.ok(counts.decompress > before.decompress, "the server decompressed the request");
        t.ok(counts.compress > before.compress, "the server compressed the response");

        // compressMinBytes 0: even a tiny message is compressed.
        const small = { ...counts };
        const r2 = await compressed.unary({ text: "tiny" });
        t.equal(r2.text, "tiny");
        t.equal(counts.decompress, small.decompress + 1, "a tiny request was compressed");

        const sid = callId(`compress-stream-${name}`);
        let streamHeader: Headers | undefined;
        const s = await collect(
          compressed.serverStream(
            { text: "z", count: 2, payload: PAYLOAD },
            { headers: { "x-call": sid }, onHeader: (h) => (streamHeader = h) },
          ),
        );
        t.equal(s.error, undefined);
        t.same(
          s.messages.map((m) => hex(m.payload) === hex(PAYLOAD)),
          [true, true],
        );
        t.equal(probe.request(sid)?.headers[encodingHeader(c, true)], name);
        t.equal(streamHeader?.get(encodingHeader(c, true)), name);

        const cs = await compressed.clientStream([{ text: "a", payload: PAYLOAD }, { text: "b" }]);
        t.equal(cs.text, "a,b");
      });
    }

    if (c.protocol === "connect") {
      t.test("Connect GET for side-effect-free methods", async (t) => {
        const get = make({ useHttpGet: true });
        const id = callId("get");
        let header: Headers | undefined;
        const r = await get.echo(
          { text: "by GET ?&=/ü", payload: PAYLOAD.subarray(0, 50) },
          { headers: { "x-call": id }, onHeader: (h) => (header = h) },
        );
        t.equal(r.text, "by GET ?&=/ü");
        t.equal(hex(r.payload), hex(PAYLOAD.subarray(0, 50)));
        const seen = probe.request(id);
        t.equal(seen?.method, "GET", "Echo went as GET");
        t.match(seen?.url, `encoding=${c.binary ? "proto" : "json"}`);
        t.equal(seen?.headers["content-type"], undefined, "a GET has no content-type");
        t.ok(header, "onHeader is called for GET");

        const err = await rejection(get.echo({ text: "error:not_found:by get" }));
        checkError(t, err, Code.NotFound, "not_found", "by get", "GET");

        const uid = callId("get-unary");
        await get.unary({ text: "post" }, { headers: { "x-call": uid } });
        t.equal(probe.request(uid)?.method, "POST", "Unary stays POST");

        const gz = make({ useHttpGet: true, sendCompression: "gzip", compressMinBytes: 0 });
        const gid = callId("get-gzip");
        const gr = await gz.echo({ text: "zipped get" }, { headers: { "x-call": gid } });
        t.equal(gr.text, "zipped get");
        t.equal(probe.request(gid)?.method, "GET");
        t.match(probe.request(gid)?.url, "compression=gzip");

        const plain = callId("no-get");
        await client.echo({ text: "x" }, { headers: { "x-call": plain } });
        t.equal(probe.request(plain)?.method, "POST", "without useHttpGet, Echo is a POST");
      });
    }

    // Deadlines, cancellation, propagation and interceptors do not depend on
    // the codec: JSON configurations skip them to keep the file fast.
    if (c.binary) {
      t.test("deadlines", async (t) => {
        const id = callId("deadline");
        const r = await client.unary({ text: "in time" }, { timeoutMs: 5000, headers: { "x-call": id } });
        t.equal(r.text, "in time");
        const sent = sentTimeout(c, probe.request(id));
        t.ok(sent !== undefined && sent <= 5000 && sent > 4000, `the request carried the deadline (${sent})`);
        const left = (await probe.handler(id)).timeoutMs();
        t.ok(left !== undefined && left <= 5000 && left > 4000, `the handler saw the time left (${left})`);

        const noDeadline = callId("no-deadline");
        await client.unary({ text: "x" }, { headers: { "x-call": noDeadline } });
        t.equal(sentTimeout(c, probe.request(noDeadline)), undefined, "no deadline, no header");

        const slow = callId("slow");
        const started = Date.now();
        const err = await rejection(
          client.unary({ text: "slow", delayMs: 5000 }, { timeoutMs: 150, headers: { "x-call": slow } }),
        );
        t.equal(err.code, Code.DeadlineExceeded);
        t.ok(Date.now() - started < 2000, "the call failed near its deadline");
        t.ok(await abortedWithin((await probe.handler(slow)).signal), "the handler's signal aborted");

        const slowStream = callId("slow-stream");
        const s = await collect(
          client.serverStream(
            { text: "s", count: 100, delayMs: 30 },
            { timeoutMs: 200, headers: { "x-call": slowStream } },
          ),
        );
        t.equal(s.error?.code, Code.DeadlineExceeded, "a stream fails with deadline_exceeded");
        t.ok(s.messages.length > 0 && s.messages.length < 100, `cut short after ${s.messages.length} messages`);
        t.ok(await abortedWithin((await probe.handler(slowStream)).signal), "the stream handler's signal aborted");

        const zero = await rejection(client.unary({ text: "x" }, { timeoutMs: 0 }));
        t.equal(zero.code, Code.DeadlineExceeded, "timeoutMs 0 has already passed");
      });

      t.test("cancellation with an AbortSignal", async (t) => {
        const id = callId("cancel-stream");
        const controller = new AbortController();
        const received: number[] = [];
        const error = await rejection(
          (async () => {
            for await (const m of client.serverStream(
              { text: "s", count: 100, delayMs: 30 },
              { signal: controller.signal, headers: { "x-call": id } },
            )) {
              received.push(m.index);
              if (received.length === 2) controller.abort();
            }
          })(),
        );
        t.equal(error.code, Code.Canceled);
        t.same(received, [0, 1], "no message after the abort");
        t.ok(await abortedWithin((await probe.handler(id)).signal), "the handler's signal aborted");

        const uid = callId("cancel-unary");
        const uc = new AbortController();
        const pending = client.unary(
          { text: "slow", delayMs: 5000 },
          { signal: uc.signal, headers: { "x-call": uid } },
        );
        const ctx = await probe.handler(uid);
        uc.abort();
        const uerr = await rejection(pending);
        t.equal(uerr.code, Code.Canceled);
        t.ok(await abortedWithin(ctx.signal), "the unary handler's signal aborted");

        const bid = callId("cancel-bidi");
        const bc = new AbortController();
        const p = pushable();
        const it = client.bidi(p.iterable, { signal: bc.signal, headers: { "x-call": bid } })[Symbol.asyncIterator]();
        p.push({ text: "first" });
        const first = await it.next();
        t.equal(first.done ? undefined : first.value.text, "first");
        const bctx = await probe.handler(bid);
        bc.abort();
        const berr = await rejection(it.next());
        t.equal(berr.code, Code.Canceled, "bidi fails with canceled");
        t.ok(await abortedWithin(bctx.signal), "the bidi handler's signal aborted");

        const pre = AbortSignal.abort();
        const pid = callId("pre-aborted");
        const perr = await rejection(client.unary({ text: "x" }, { signal: pre, headers: { "x-call": pid } }));
        t.equal(perr.code, Code.Canceled, "an aborted signal fails the call at once");
        t.equal(probe.raw.has(pid), false, "and nothing is sent");

        // A consumer that stops reading early cancels the call on the server.
        const eid = callId("break-early");
        let trailerCalled = false;
        for await (const m of client.serverStream(
          { text: "s", count: 100, delayMs: 20 },
          { headers: { "x-call": eid }, onTrailer: () => (trailerCalled = true) },
        )) {
          if (m.index === 1) break;
        }
        t.ok(await abortedWithin((await probe.handler(eid)).signal), "breaking out of the loop aborts the handler");
        t.ok(trailerCalled, "onTrailer is still called");
      });

      t.test("concurrent calls share the transport", async (t) => {
        const unary = Array.from({ length: 20 }, (_, i) => client.unary({ text: `u${i}`, delayMs: 20 }));
        const streams = Array.from({ length: 5 }, (_, i) =>
          collect(client.serverStream({ text: `s${i}`, count: 3, delayMs: 10 })),
        );
        t.same(
          (await Promise.all(unary)).map((r) => r.text),
          Array.from({ length: 20 }, (_, i) => `u${i}`),
        );
        t.same(
          (await Promise.all(streams)).map((s) => `${s.messages.map((m) => m.index).join("")} ${s.error ?? "ok"}`),
          Array(5).fill("012 ok"),
        );
      });

      t.test("transport.close() fails the calls in flight", async (t) => {
        const closing = make();
        await closing.unary({ text: "warm" });
        const uid = callId("close-unary");
        const pending = rejection(closing.unary({ text: "slow", delayMs: 5000 }, { headers: { "x-call": uid } }));
        const stream = collect(closing.serverStream({ text: "s", count: 100, delayMs: 30 }));
        const ctx = await probe.handler(uid);
        transports[transports.length - 1].close();
        t.equal((await pending).code, Code.Unavailable, "the unary call");
        t.equal((await stream).error?.code, Code.Unavailable, "the stream");
        t.ok(await abortedWithin(ctx.signal), "the server saw the call go away");
      });

      t.test("a handler's calls inherit its deadline and cancellation ({ context: ctx })", async (t) => {
        probe.relay = make();
        t.teardown(() => {
          probe.relay = undefined;
        });
        const id = callId("relay");
        const r = await client.unary({ text: "relay" }, { timeoutMs: 3000, headers: { "x-call": id } });
        t.equal(r.text, "relayed inner");
        const outer = sentTimeout(c, probe.request(id));
        const inner = sentTimeout(c, probe.request(`${id}-inner`));
        t.ok(outer !== undefined && outer <= 3000, `the outer call carried a deadline (${outer})`);
        t.ok(
          inner !== undefined && outer !== undefined && inner <= outer,
          `the inner call's deadline (${inner}) is within the outer one (${outer})`,
        );

        const noDeadline = callId("relay-no-deadline");
        await client.unary({ text: "relay" }, { headers: { "x-call": noDeadline } });
        t.equal(sentTimeout(c, probe.request(`${noDeadline}-inner`)), undefined, "no outer deadline, none inherited");

        // The outer call times out: the inner call, waiting on a slow handler, goes with it.
        const dl = callId("relay-deadline");
        const derr = await rejection(
          client.unary({ text: "relay", delayMs: 5000 }, { timeoutMs: 300, headers: { "x-call": dl } }),
        );
        t.equal(derr.code, Code.DeadlineExceeded);
        const innerCtx = await probe.handler(`${dl}-inner`);
        t.ok(await abortedWithin(innerCtx.signal), "the inner handler was aborted");

        // The caller cancels the outer call: the inner call is cancelled too.
        const cid = callId("relay-cancel");
        const controller = new AbortController();
        const pending = client.unary(
          { text: "relay", delayMs: 5000 },
          { signal: controller.signal, headers: { "x-call": cid } },
        );
        const cancelledInner = await probe.handler(`${cid}-inner`);
        controller.abort();
        t.equal((await rejection(pending)).code, Code.Canceled);
        t.ok(await abortedWithin(cancelledInner.signal), "the inner handler was aborted");
        for (let i = 0; i < 100 && !probe.relayErrors.has(cid); i++) await new Promise((r) => setTimeout(r, 10));
        t.equal(probe.relayErrors.get(cid)?.code, Code.Canceled, "the inner call failed with canceled");
      });

      t.test("interceptors", async (t) => {
        const log: string[] = [];
        const seenResponses: { stream: boolean; echo: string | null; text?: string }[] = [];
        const outer: ClientInterceptor = (next) => async (req) => {
          log.push(`outer > ${req.method.name} ${req.stream ? "stream" : "unary"}`);
          req.header.set("x-echo-header", "from-interceptor");
          req.header.set("x-intercepted", "1");
          const res = await next(req);
          log.push("outer <");
          seenResponses.push({
            stream: res.stream,
            echo: res.header.get("x-echo-header"),
            text: res.stream ? undefined : (res.message as EchoResponse).text,
          });
          return res;
        };
        const inner: ClientInterceptor = (next) => async (req) => {
          log.push(`inner > ${req.header.get("x-intercepted")} ${req.timeoutMs}`);
          const res = await next(req);
          log.push("inner <");
          return res;
        };
        const intercepted = make({ interceptors: [outer, inner] });
        const id = callId("intercepted");
        const r = await intercepted.unary({ text: "i" }, { headers: { "x-call": id }, timeoutMs: 4000 });
        t.equal(r.text, "i");
        t.equal(probe.request(id)?.headers["x-intercepted"], "1", "the interceptor's header reached the server");
        t.same(log, ["outer > Unary unary", "inner > 1 4000", "inner <", "outer <"]);
        t.same(seenResponses, [{ stream: false, echo: "from-interceptor", text: "i" }]);

        const s = await collect(intercepted.serverStream({ text: "s", count: 2 }));
        t.equal(s.messages.length, 2);
        t.same(seenResponses[1], { stream: true, echo: "from-interceptor", text: undefined });

        // An interceptor may also fail the call.
        const failing = make({
          interceptors: [
            () => async () => {
              throw new ConnectError("refused locally", Code.FailedPrecondition);
            },
          ],
        });
        const err = await rejection(failing.unary({ text: "x" }));
        t.equal(err.code, Code.FailedPrecondition);
        t.equal(err.rawMessage, "refused locally");
      });
    }

    t.test("writeMaxBytes: a large request fails with resource_exhausted before it reaches a handler", async (t) => {
      const limited = make({ writeMaxBytes: 100 });
      const id = callId("write-max");
      const err = await rejection(limited.unary({ text: "big", payload: PAYLOAD }, { headers: { "x-call": id } }));
      t.equal(err.code, Code.ResourceExhausted);
      t.match(err.rawMessage, /writeMaxBytes 100/);
      await new Promise((r) => setTimeout(r, 50));
      t.equal(probe.contexts.has(id), false, "no handler ran");
      if (c.protocol === "connect") t.equal(probe.raw.has(id), false, "a Connect unary request is not sent at all");
      const ok = await limited.unary({ text: "small" });
      t.equal(ok.text, "small", "a small request still goes");

      // A stream fails at its first oversized message; the server never gets it.
      const sid = callId("write-max-stream");
      const serr = await rejection(
        limited.clientStream([{ text: "a" }, { text: "b", payload: PAYLOAD }], { headers: { "x-call": sid } }),
      );
      t.equal(serr.code, Code.ResourceExhausted, "a client stream fails too");
      t.match(serr.rawMessage, /writeMaxBytes 100/);
      const sctx = probe.contexts.get(sid);
      if (sctx) t.ok(await abortedWithin(sctx.signal), "the server's handler, if it started, was aborted");
    });

    t.test("readMaxBytes: a large response fails with resource_exhausted", async (t) => {
      const limited = make({ readMaxBytes: 100, acceptCompression: [] });
      const err = await rejection(limited.unary({ text: "big", payload: PAYLOAD }));
      t.equal(err.code, Code.ResourceExhausted);
      const s = await collect(limited.serverStream({ text: "s", count: 2, payload: PAYLOAD }));
      t.equal(s.error?.code, Code.ResourceExhausted, "a stream message too");
      const ok = await limited.unary({ text: "small" });
      t.equal(ok.text, "small", "a small response passes");

      // After decompression too: gzip makes the response small on the wire.
      const zipped = make({ readMaxBytes: 1000, acceptCompression: ["gzip"] });
      const zerr = await rejection(zipped.unary({ text: "big", payload: PAYLOAD }));
      t.equal(zerr.code, Code.ResourceExhausted, "a compressed response that inflates past the limit");
    });
  });
}

t.test("ALPN picks HTTP/1.1 when the TLS server offers no h2", async (t) => {
  const probe = new Probe();
  const s = await startServer({
    fastify: { https: { key: tlsCert.key, cert: tlsCert.cert } } as never,
    plugin: { routes: (router) => void router.service(TestService, probe.impl) },
    setup(app) {
      app.addHook("onRequest", async (req) => {
        const id = req.headers["x-call"];
        if (typeof id === "string") {
          probe.seen.set(id, {
            method: req.method,
            url: req.url,
            httpVersion: req.raw.httpVersion,
            headers: req.headers,
          });
        }
      });
    },
  });
  t.teardown(s.close);
  const baseUrl = `https://127.0.0.1:${s.port}`;
  const tls = { ca: tlsCert.cert };
  const connect = createConnectTransport({ baseUrl, tls });
  const web = createGrpcWebTransport({ baseUrl, tls });
  const grpc = createGrpcTransport({ baseUrl, tls });
  t.teardown(() => {
    for (const tr of [connect, web, grpc]) tr.close();
  });
  for (const [name, tr] of [
    ["Connect", connect],
    ["gRPC-Web", web],
  ] as const) {
    const client = createClient(TestService, tr);
    const id = callId(`alpn-h1-${name}`);
    const r = await client.unary({ text: name }, { headers: { "x-call": id } });
    t.equal(r.text, name);
    t.equal(probe.request(id)?.httpVersion, "1.1", `${name} went over HTTP/1.1`);
    const { messages } = await collect(client.serverStream({ text: "s", count: 2 }));
    t.equal(messages.length, 2, `${name} streams too`);
  }
  const err = await rejection(createClient(TestService, grpc).unary({ text: "x" }));
  t.equal(err.code, Code.Unavailable, "gRPC cannot use a server without h2");

  const untrusted = createConnectTransport({ baseUrl });
  t.teardown(() => untrusted.close());
  const tlsErr = await rejection(createClient(TestService, untrusted).unary({ text: "x" }));
  t.equal(tlsErr.code, Code.Unavailable, "a certificate the client does not trust fails the call");
  t.match(tlsErr.rawMessage, /certificate/i);
});

t.test("TLS to an IP address sends no SNI server name (RFC 6066, 3)", async (t) => {
  t.ok(sniNames.length > 0, "TLS connections were made");
  t.same(
    sniNames.filter((n) => typeof n === "string" && n !== ""),
    [],
    "no connection named the server by its IP address",
  );
});

t.test("tls.servername names the server when it differs from the URL's host", async (t) => {
  const { baseUrl } = servers.tls;
  const tls = { ca: tlsCert.cert, servername: "localhost" };
  const before = sniNames.length;
  for (const [name, tr] of [
    ["Connect, HTTP/1.1", createConnectTransport({ baseUrl, httpVersion: "1.1", tls })],
    ["Connect, ALPN", createConnectTransport({ baseUrl, tls })],
    ["Connect, HTTP/2", createConnectTransport({ baseUrl, httpVersion: "2", tls })],
    ["gRPC", createGrpcTransport({ baseUrl, tls })],
  ] as const) {
    t.teardown(() => tr.close());
    let text: string;
    try {
      text = (await createClient(TestService, tr).unary({ text: name })).text;
    } catch (e) {
      text = String(e);
    }
    t.equal(text, name, `${name}: the call succeeds`);
  }
  t.ok(
    sniNames.slice(before).every((n) => n === "localhost"),
    "every connection sent it as SNI",
  );
});
