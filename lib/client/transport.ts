import { kMaxLength } from "node:buffer";
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  compressionOption,
  compressionsOption,
  DEFAULT_READ_MAX_BYTES,
  functionsOption,
  intOption,
  objectOption,
  optionError,
} from "../options.js";
import { Code } from "../protocol/code.js";
import { type Codec, createCodec, type JsonOptions } from "../protocol/codec.js";
import { type Compression, CompressionRegistry } from "../protocol/compression.js";
import type { ProtocolName } from "../protocol/content-type.js";
import { ConnectError } from "../protocol/error.js";
import { MAX_TIMER_MS } from "../protocol/timeout.js";
import { ClientCall } from "./call.js";
import type { CallOptions } from "./client.js";
import { connectStream, connectUnary } from "./connect.js";
import { AlpnClient, Http1Client, Http2Client, type HttpClient } from "./exchange.js";
import { grpcStream, grpcUnary } from "./grpc.js";
import { grpcWebStream, grpcWebUnary } from "./grpc-web.js";
import { type Http2SessionOptions, Http2Sessions } from "./http2-sessions.js";
import {
  applyInterceptors,
  type ClientInterceptor,
  type ClientStreamRequest,
  type ClientStreamResponse,
  type ClientUnaryRequest,
  type ClientUnaryResponse,
} from "./interceptor.js";

/** What a transport fixes for all of its calls. */
export interface TransportConfig {
  readonly http: HttpClient;
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8080` or `https://host/api`. */
  readonly baseUrl: string;
  /** The path prefix of `baseUrl`, without a trailing slash. */
  readonly basePath: string;
  readonly sendCompression: Compression | undefined;
  readonly acceptCompression: CompressionRegistry;
  readonly compressMinBytes: number;
  readonly readMaxBytes: number;
  readonly writeMaxBytes: number;
  readonly useHttpGet: boolean;
  codecs(method: DescMethod): { input: Codec; output: Codec };
}

/** TLS settings for `https:` base URLs. */
export interface ClientTlsOptions {
  /** Certificates to trust instead of the system's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** A client certificate and its key, for servers that require one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Server name for SNI and certificate checks, when it differs from the URL's host. */
  servername?: string;
  /** Default true. Turning it off accepts any certificate: for tests only. */
  rejectUnauthorized?: boolean;
}

/** Options shared by the three transports. */
export interface TransportOptions {
  /** Where the services are served, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /**
   * "2" or "1.1". gRPC always uses HTTP/2. For Connect and gRPC-Web the default
   * is HTTP/1.1 for `http:` and whatever ALPN picks for `https:`; "2" on
   * `http:` is h2c with prior knowledge.
   */
  httpVersion?: "1.1" | "2";
  /** Protobuf binary (default) or JSON. */
  useBinaryFormat?: boolean;
  /** Options for the JSON codec. */
  jsonOptions?: JsonOptions;
  /** Compresses request messages of at least `compressMinBytes` with this: "gzip", "br", "deflate". Default none. */
  sendCompression?: string | Compression;
  /** Compressions the server may answer with. Default gzip, br and deflate. */
  acceptCompression?: readonly (string | Compression)[];
  /**
   * Request messages smaller than this go uncompressed. Default 0: a transport
   * given `sendCompression` compresses every message, as connect-go, grpc-go
   * and grpc-js do, so a server that requires compression always gets it.
   */
  compressMinBytes?: number;
  /** The largest response message accepted, after decompression too. Default 4 MiB. */
  readMaxBytes?: number;
  /** The largest request message sent. Default: unlimited. */
  writeMaxBytes?: number;
  /** Interceptors, outermost first. */
  interceptors?: readonly ClientInterceptor[];
  tls?: ClientTlsOptions;
  /** HTTP/2 session pool settings. */
  http2?: Http2SessionOptions;
}

/** Options of `createConnectTransport`: those of every transport, and Connect GET. */
export interface ConnectTransportOptions extends TransportOptions {
  /** Sends unary calls of methods marked `idempotency_level = NO_SIDE_EFFECTS` as cacheable GET requests. */
  useHttpGet?: boolean;
}

/**
 * Carries calls of any client to one server. Create one per server and share
 * it: it pools the connections. `close()` drops them.
 */
export interface Transport {
  readonly protocol: ProtocolName;
  /** A unary call. */
  unary(method: DescMethod, message: unknown, options?: CallOptions): Promise<unknown>;
  /** A streaming call: request messages in, response messages out as they arrive. */
  stream(method: DescMethod, messages: AsyncIterable<unknown>, options?: CallOptions): AsyncIterable<unknown>;
  /** Closes the pooled connections; calls in flight fail, and later calls fail with unavailable. */
  close(): void;
}

interface ProtocolCalls {
  unary(call: ClientCall, req: ClientUnaryRequest): Promise<ClientUnaryResponse>;
  stream(call: ClientCall, req: ClientStreamRequest): Promise<ClientStreamResponse>;
}

const DEFAULT_COMPRESS_MIN_BYTES = 0;

/** Where a request keeps its call, for REQUEST_SIGNAL's getter. */
const REQUEST_CALL = Symbol("fastify-connectrpc call");

/**
 * A request's `signal`: an own, enumerable getter (a spread copy gets the
 * signal as a value), the same function on every request, defined with
 * Object.defineProperty. Written in the object literal, the getter made every
 * request a dictionary-mode object whose getter outlived the young generation,
 * and with it the call's whole object graph until a mark-compact (over
 * HTTP/1.1, 3 KB promoted per call and a third of the client's CPU:
 * bench/RESULTS.md, "the client request's signal getter").
 */
const REQUEST_SIGNAL: PropertyDescriptor = {
  get(this: { [REQUEST_CALL]: ClientCall }) {
    return this[REQUEST_CALL].signal;
  },
  enumerable: true,
  configurable: true,
};

class ClientTransport implements Transport {
  private readonly interceptors: readonly ClientInterceptor[];
  private closed = false;

  constructor(
    readonly protocol: ProtocolName,
    private readonly config: TransportConfig,
    private readonly calls: ProtocolCalls,
    interceptors: readonly ClientInterceptor[] | undefined,
  ) {
    this.interceptors = interceptors ?? [];
  }

  private run(call: ClientCall, req: ClientUnaryRequest | ClientStreamRequest) {
    const calls = this.calls;
    const inner = (r: ClientUnaryRequest | ClientStreamRequest) =>
      r.stream ? calls.stream(call, r) : calls.unary(call, r);
    return this.interceptors.length === 0 ? inner(req) : applyInterceptors(inner, this.interceptors)(req);
  }

  /**
   * The request interceptors see, written out whole: on Node 20, spreading an
   * object and adding properties to the copy costs about 3 us (V8 makes new
   * maps for them each time: bench/RESULTS.md). `signal` is a getter, so a
   * call nobody asks it of makes no AbortSignal; one shared getter, defined
   * on each request (see REQUEST_SIGNAL).
   */
  private request<R extends ClientUnaryRequest | ClientStreamRequest>(
    call: ClientCall,
    method: DescMethod,
    options: CallOptions,
    stream: R["stream"],
    requestMethod: "GET" | "POST",
    message: R["message"],
  ): R {
    const req = {
      service: method.parent,
      method,
      url: `${this.config.baseUrl}/${method.parent.typeName}/${method.name}`,
      requestMethod,
      header: new Headers(options.headers),
      timeoutMs: call.timeoutMs,
      protocol: this.protocol,
      httpVersion: this.config.http.httpVersion,
      context: options.context,
      stream,
      message,
      [REQUEST_CALL]: call,
    };
    return Object.defineProperty(req, "signal", REQUEST_SIGNAL) as unknown as R;
  }

  async unary(method: DescMethod, message: unknown, options: CallOptions = {}): Promise<unknown> {
    this.checkOpen();
    const call = new ClientCall(this.config, method, options);
    const get = this.config.useHttpGet && method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    const req = this.request<ClientUnaryRequest>(call, method, options, false, get ? "GET" : "POST", message);
    let res: ClientUnaryResponse | ClientStreamResponse;
    try {
      res = await this.run(call, req);
    } catch (e) {
      const error = call.failure(e);
      if (call.responseHeader) options.onHeader?.(call.responseHeader);
      options.onTrailer?.(error.metadata);
      throw error;
    } finally {
      call.finish();
    }
    options.onHeader?.(res.header);
    options.onTrailer?.(res.trailer);
    return res.message;
  }

  async *stream(
    method: DescMethod,
    messages: AsyncIterable<unknown>,
    options: CallOptions = {},
  ): AsyncIterable<unknown> {
    this.checkOpen();
    const call = new ClientCall(this.config, method, options);
    const req = this.request<ClientStreamRequest>(call, method, options, true, "POST", messages);
    let trailer: Headers | undefined;
    let headerSent = false;
    try {
      const res = await this.run(call, req);
      headerSent = true;
      options.onHeader?.(res.header);
      trailer = res.trailer;
      if (res.stream) yield* res.message;
      else yield res.message;
    } catch (e) {
      const error = call.failure(e);
      if (call.responseHeader && !headerSent) options.onHeader?.(call.responseHeader);
      trailer = error.metadata;
      throw error;
    } finally {
      call.finish();
      if (trailer) options.onTrailer?.(trailer);
    }
  }

  close(): void {
    this.closed = true;
    this.config.http.close();
  }

  /** A closed transport takes no new calls (as a closed grpc-js channel). */
  private checkOpen(): void {
    if (this.closed) throw new ConnectError("the transport is closed", Code.Unavailable);
  }
}

function baseUrlOption(opts: TransportOptions): URL {
  let url: URL | undefined;
  try {
    url = new URL(opts.baseUrl);
  } catch {}
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw optionError("baseUrl", "an http: or https: URL", opts.baseUrl);
  }
  return url;
}

function httpVersionOption(protocol: ProtocolName, opts: TransportOptions): "1.1" | "2" | undefined {
  const httpVersion = opts.httpVersion ?? (protocol === "grpc" ? "2" : undefined);
  if (httpVersion !== undefined && httpVersion !== "1.1" && httpVersion !== "2") {
    throw optionError("httpVersion", '"1.1" or "2"', httpVersion);
  }
  if (protocol === "grpc" && httpVersion !== "2") {
    throw optionError("httpVersion", '"2" (gRPC needs HTTP/2 trailers)', httpVersion);
  }
  return httpVersion;
}

function sendCompressionOption(opts: SharedTransportOptions): Compression | undefined {
  if (opts.sendCompression === undefined || opts.sendCompression === "identity") return undefined;
  const sendCompression = compressionOption(opts.sendCompression);
  if (!sendCompression) {
    throw optionError("sendCompression", '"gzip", "br", "deflate" or a Compression object', opts.sendCompression);
  }
  return sendCompression;
}

function http2Option(opts: TransportOptions): Http2SessionOptions {
  objectOption(opts, "http2");
  const h2: Http2SessionOptions = opts.http2 ?? {};
  return {
    // SETTINGS_MAX_CONCURRENT_STREAMS is a 31-bit stream count in practice (stream ids are 31 bits).
    maxConcurrentStreams: intOption(h2, "maxConcurrentStreams", 1, 2 ** 31 - 1, undefined),
    pingIntervalMs: intOption(h2, "pingIntervalMs", 1, MAX_TIMER_MS, undefined),
    pingTimeoutMs: intOption(h2, "pingTimeoutMs", 1, MAX_TIMER_MS, undefined),
    idleTimeoutMs: intOption(h2, "idleTimeoutMs", 1, MAX_TIMER_MS, undefined),
  };
}

/** The HTTP version asked for; else HTTP/1.1 for `http:`, and what ALPN picks for `https:`. */
function httpClientFor(
  url: URL,
  httpVersion: "1.1" | "2" | undefined,
  tls: ClientTlsOptions | undefined,
  http2: Http2SessionOptions,
): HttpClient {
  const make = (version: "1.1" | "2"): HttpClient => {
    if (version === "1.1") return new Http1Client(url, tls);
    return new Http2Client(new Http2Sessions(url, tls, http2), url.protocol.slice(0, -1), url.host);
  };
  if (httpVersion !== undefined) return make(httpVersion);
  return url.protocol === "https:" ? new AlpnClient(url, tls, make) : make("1.1");
}

/** The codecs of each method, made once per method. */
function codecsFor(opts: SharedTransportOptions): TransportConfig["codecs"] {
  const name = (opts.useBinaryFormat ?? true) ? "proto" : "json";
  const cache = new Map<DescMethod, { input: Codec; output: Codec }>();
  return (method) => {
    let c = cache.get(method);
    if (!c) {
      c = {
        input: createCodec(method.input, name, opts.jsonOptions),
        output: createCodec(method.output, name, opts.jsonOptions),
      };
      cache.set(method, c);
    }
    return c;
  };
}

/** Validates a network transport's options (a bad one names itself) and builds the transport. */
function resolveTransport(protocol: ProtocolName, opts: ConnectTransportOptions): Transport {
  if (opts === null || typeof opts !== "object") throw optionError("options", "an object", opts);
  const url = baseUrlOption(opts);
  const httpVersion = httpVersionOption(protocol, opts);
  objectOption(opts, "tls");
  const http2 = http2Option(opts);
  return transportOver(protocol, opts, url, () => httpClientFor(url, httpVersion, opts.tls, http2));
}

/** The options every transport shares, the network ones and the inject one. */
export type SharedTransportOptions = Omit<ConnectTransportOptions, "baseUrl" | "httpVersion" | "tls" | "http2">;

/**
 * A transport whose exchanges go through the HttpClient `http()` makes (once
 * every option has been checked), with the options all transports share. The
 * inject transport comes in here with its own HttpClient, so it runs the same
 * protocol code as the network ones.
 */
export function transportOver(
  protocol: ProtocolName,
  opts: SharedTransportOptions,
  url: URL,
  http: () => HttpClient,
): Transport {
  const sendCompression = sendCompressionOption(opts);
  objectOption(opts, "jsonOptions");
  functionsOption(opts, "interceptors");
  const basePath = url.pathname.replace(/\/+$/, "");
  const config: TransportConfig = {
    baseUrl: url.origin + basePath,
    basePath,
    sendCompression,
    acceptCompression: new CompressionRegistry(compressionsOption(opts.acceptCompression)),
    compressMinBytes: intOption(opts, "compressMinBytes", 0, kMaxLength, DEFAULT_COMPRESS_MIN_BYTES),
    readMaxBytes: intOption(opts, "readMaxBytes", 1, kMaxLength, DEFAULT_READ_MAX_BYTES),
    writeMaxBytes: intOption(opts, "writeMaxBytes", 1, kMaxLength, kMaxLength),
    useHttpGet: protocol === "connect" && opts.useHttpGet === true,
    codecs: codecsFor(opts),
    http: http(),
  };
  return new ClientTransport(protocol, config, protocolCalls[protocol], opts.interceptors);
}

const protocolCalls: Record<ProtocolName, ProtocolCalls> = {
  connect: { unary: connectUnary, stream: connectStream },
  grpc: { unary: grpcUnary, stream: grpcStream },
  "grpc-web": { unary: grpcWebUnary, stream: grpcWebStream },
};

/** A transport speaking the Connect protocol. */
export function createConnectTransport(options: ConnectTransportOptions): Transport {
  return resolveTransport("connect", options);
}

/** A transport speaking gRPC over HTTP/2 (h2c with prior knowledge for `http:`). */
export function createGrpcTransport(options: TransportOptions): Transport {
  return resolveTransport("grpc", options);
}

/** A transport speaking gRPC-Web (HTTP/1.1 or HTTP/2), as browsers do. */
export function createGrpcWebTransport(options: TransportOptions): Transport {
  return resolveTransport("grpc-web", options);
}
