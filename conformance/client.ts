// The client under test for the connectrpc conformance suite: reads
// ClientCompatRequests from stdin until EOF, runs each RPC with this
// library's client (concurrently), and writes one ClientCompatResponse per
// request. See docs/testing_clients.md and conformance/README.md.
import { setTimeout as sleep } from "node:timers/promises";
import { create, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  type CallOptions,
  ConnectError,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
  type TransportOptions,
} from "../lib/client/index.js";
import {
  type ClientCompatRequest,
  ClientCompatRequestSchema,
  type ClientCompatResponse,
  ClientCompatResponseSchema,
  type ClientResponseResult,
  ClientResponseResultSchema,
} from "./gen/connectrpc/conformance/v1/client_compat_pb.js";
import { Codec, Compression, HTTPVersion, Protocol, StreamType } from "./gen/connectrpc/conformance/v1/config_pb.js";
import {
  type ConformancePayload,
  ConformancePayloadSchema,
  ConformanceService,
  ErrorSchema,
  type Header,
  HeaderSchema,
} from "./gen/connectrpc/conformance/v1/service_pb.js";
import { readMessages, writeMessage } from "./stdio.js";

const compressionNames: Partial<Record<Compression, string>> = {
  [Compression.GZIP]: "gzip",
  [Compression.BR]: "br",
  [Compression.DEFLATE]: "deflate",
};

/** Transports are pooled by their settings, so requests with the same settings share connections. */
const transports = new Map<string, Transport>();

function transportFor(req: ClientCompatRequest): Transport {
  const key = JSON.stringify([
    req.protocol,
    req.httpVersion,
    req.codec,
    req.compression,
    req.host,
    req.port,
    Buffer.from(req.serverTlsCert).toString("base64"),
    req.clientTlsCreds ? Buffer.from(req.clientTlsCreds.cert).toString("base64") : "",
    req.messageReceiveLimit,
    req.useGetHttpMethod,
  ]);
  let t = transports.get(key);
  if (t) return t;
  const tls = req.serverTlsCert.byteLength > 0;
  const host = req.host.includes(":") ? `[${req.host}]` : req.host;
  if (req.compression !== Compression.IDENTITY && req.compression !== Compression.UNSPECIFIED) {
    if (!compressionNames[req.compression]) throw new Error(`unsupported compression ${Compression[req.compression]}`);
  }
  if (req.codec !== Codec.PROTO && req.codec !== Codec.JSON) throw new Error(`unsupported codec ${Codec[req.codec]}`);
  const options: TransportOptions = {
    baseUrl: `${tls ? "https" : "http"}://${host}:${req.port}`,
    httpVersion: req.httpVersion === HTTPVersion.HTTP_VERSION_1 ? "1.1" : "2",
    useBinaryFormat: req.codec !== Codec.JSON,
    sendCompression: compressionNames[req.compression],
    ...(req.messageReceiveLimit > 0 ? { readMaxBytes: req.messageReceiveLimit } : {}),
    ...(tls
      ? {
          tls: {
            ca: Buffer.from(req.serverTlsCert),
            ...(req.clientTlsCreds
              ? { cert: Buffer.from(req.clientTlsCreds.cert), key: Buffer.from(req.clientTlsCreds.key) }
              : {}),
          },
        }
      : {}),
  };
  switch (req.protocol) {
    case Protocol.CONNECT:
      t = createConnectTransport({ ...options, useHttpGet: req.useGetHttpMethod });
      break;
    case Protocol.GRPC:
      t = createGrpcTransport({ ...options, httpVersion: "2" });
      break;
    case Protocol.GRPC_WEB:
      t = createGrpcWebTransport(options);
      break;
    default:
      throw new Error(`unsupported protocol ${Protocol[req.protocol]}`);
  }
  transports.set(key, t);
  return t;
}

function toHeaders(list: Header[]): Headers {
  const h = new Headers();
  for (const { name, value } of list) for (const v of value) h.append(name, v);
  return h;
}

function fromHeaders(h: Headers | undefined): Header[] {
  const out: Header[] = [];
  h?.forEach((value, name) => {
    out.push(create(HeaderSchema, { name, value: [value] }));
  });
  return out;
}

function errorResult(e: unknown) {
  const err = e instanceof ConnectError ? e : undefined;
  return create(ErrorSchema, {
    code: err ? (err.code as number) : 2 /* unknown */,
    message: err ? err.rawMessage : e instanceof Error ? e.message : String(e),
    details:
      err?.details.map((d) => {
        if ("desc" in d) return anyPack(d.desc, create(d.desc, d.value));
        return { $typeName: "google.protobuf.Any", typeUrl: `type.googleapis.com/${d.type}`, value: d.value } as Any;
      }) ?? [],
  });
}

function payloadOf(response: unknown): ConformancePayload {
  return (response as { payload?: ConformancePayload }).payload ?? create(ConformancePayloadSchema);
}

/** Request messages fed one at a time (full duplex) or all at once; counts what the transport took. */
class RequestFeed implements AsyncIterable<unknown> {
  taken = 0;
  private readonly queue: unknown[] = [];
  private closed = false;
  private wake?: () => void;

  push(m: unknown): void {
    this.queue.push(m);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
    for (;;) {
      if (this.queue.length > 0) {
        const m = this.queue.shift();
        yield m;
        this.taken++;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }
}

/** Runs one RPC as the request describes and records what happened. */
async function runRpc(req: ClientCompatRequest): Promise<ClientResponseResult> {
  if (req.rawRequest) throw new Error("raw requests are for the reference client only");
  if (req.service !== undefined && req.service !== ConformanceService.typeName) {
    throw new Error(`unknown service "${req.service}"`);
  }
  const method: DescMethod | undefined = ConformanceService.methods.find((m) => m.name === req.method);
  if (!method) throw new Error(`unknown method "${req.method}"`);
  const messages = req.requestMessages.map((any) => {
    const m = anyUnpack(any, method.input);
    if (!m) throw new Error(`request message is ${any.typeUrl}, expected ${method.input.typeName}`);
    return m as MessageShape<typeof method.input>;
  });
  const transport = transportFor(req);
  const result = create(ClientResponseResultSchema);
  const controller = new AbortController();
  const cancel = () => controller.abort();
  const timing = req.cancel?.cancelTiming;
  const options: CallOptions = {
    headers: toHeaders(req.requestHeaders),
    timeoutMs: req.timeoutMs,
    signal: controller.signal,
    onHeader: (h) => {
      result.responseHeaders = fromHeaders(h);
    },
    onTrailer: (t) => {
      result.responseTrailers = fromHeaders(t);
    },
  };
  const cancelAfterCloseSend = () => {
    if (timing?.case === "afterCloseSendMs") setTimeout(cancel, timing.value);
  };
  const onResponse = (response: unknown) => {
    result.payloads.push(payloadOf(response));
    if (timing?.case === "afterNumResponses" && result.payloads.length === timing.value) cancel();
  };

  const feed = new RequestFeed();
  try {
    switch (req.streamType) {
      case StreamType.UNARY: {
        const pending = transport.unary(method, messages[0], options);
        cancelAfterCloseSend();
        onResponse(await pending);
        break;
      }
      case StreamType.SERVER_STREAM: {
        feed.push(messages[0]);
        feed.close();
        const it = transport.stream(method, feed, options)[Symbol.asyncIterator]();
        const first = it.next();
        cancelAfterCloseSend();
        for (let r = await first; !r.done; r = await it.next()) onResponse(r.value);
        break;
      }
      case StreamType.CLIENT_STREAM:
      case StreamType.HALF_DUPLEX_BIDI_STREAM: {
        const it = transport.stream(method, feed, options)[Symbol.asyncIterator]();
        const first = it.next();
        first.catch(() => {});
        for (const m of messages) {
          if (req.requestDelayMs > 0) await sleep(req.requestDelayMs);
          if (controller.signal.aborted) break;
          feed.push(m);
        }
        if (timing?.case === "beforeCloseSend") cancel();
        feed.close();
        cancelAfterCloseSend();
        for (let r = await first; !r.done; r = await it.next()) onResponse(r.value);
        break;
      }
      case StreamType.FULL_DUPLEX_BIDI_STREAM: {
        const it = transport.stream(method, feed, options)[Symbol.asyncIterator]();
        let done = false;
        for (const m of messages) {
          if (req.requestDelayMs > 0) await sleep(req.requestDelayMs);
          feed.push(m);
          const r = await it.next();
          if (r.done) {
            done = true;
            break;
          }
          onResponse(r.value);
        }
        if (timing?.case === "beforeCloseSend") cancel();
        feed.close();
        cancelAfterCloseSend();
        if (!done) for (let r = await it.next(); !r.done; r = await it.next()) onResponse(r.value);
        break;
      }
      default:
        throw new Error(`unsupported stream type ${StreamType[req.streamType]}`);
    }
  } catch (e) {
    result.error = errorResult(e);
  }
  if (req.streamType !== StreamType.UNARY && req.streamType !== StreamType.SERVER_STREAM) {
    result.numUnsentRequests = Math.max(0, messages.length - feed.taken);
  }
  return result;
}

async function handle(req: ClientCompatRequest): Promise<ClientCompatResponse> {
  try {
    const response = await runRpc(req);
    return create(ClientCompatResponseSchema, {
      testName: req.testName,
      result: { case: "response", value: response },
    });
  } catch (e) {
    return create(ClientCompatResponseSchema, {
      testName: req.testName,
      result: { case: "error", value: { message: e instanceof Error ? e.message : String(e) } },
    });
  }
}

async function main(): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for await (const req of readMessages(ClientCompatRequestSchema, process.stdin)) {
    const p = handle(req).then((res) => writeMessage(ClientCompatResponseSchema, res, process.stdout));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  for (const t of transports.values()) t.close();
  // Exit only once every result has left (stdout may be a pipe the suite reads slowly).
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.once("SIGTERM", () => process.exit(0));
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`conformance client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
