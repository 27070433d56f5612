import { kMaxLength } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  compressionOption,
  compressionsOption,
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
import {
  applyInterceptors,
  type CallOptions,
  ClientCall,
  type ClientInterceptor,
  type ClientStreamRequest,
  type ClientStreamResponse,
  type ClientUnaryRequest,
  type ClientUnaryResponse,
  type TransportConfig,
} from "./call.js";
import { connectStream, connectUnary } from "./connect.js";
import { connectionError, Http1Client, Http2Client, type HttpClient } from "./exchange.js";
import { grpcStream, grpcUnary } from "./grpc.js";
import { grpcWebStream, grpcWebUnary } from "./grpc-web.js";
import { type Http2SessionOptions, Http2Sessions } from "./http2-sessions.js";

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
  /** Default 1 KiB. */
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

const DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024;
const DEFAULT_COMPRESS_MIN_BYTES = 1024;

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

  private request(call: ClientCall, method: DescMethod, options: CallOptions) {
    return {
      service: method.parent,
      method,
      url: `${this.config.baseUrl}/${method.parent.typeName}/${method.name}`,
      header: new Headers(options.headers),
      signal: call.signal,
      timeoutMs: call.timeoutMs,
      protocol: this.protocol,
      httpVersion: this.config.http.httpVersion,
      context: options.context,
    };
  }

  async unary(method: DescMethod, message: unknown, options: CallOptions = {}): Promise<unknown> {
    this.checkOpen();
    const call = new ClientCall(this.config, method, options);
    const get = this.config.useHttpGet && method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    const req: ClientUnaryRequest = {
      ...this.request(call, method, options),
      stream: false,
      requestMethod: get ? "GET" : "POST",
      message,
    };
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
    const req: ClientStreamRequest = {
      ...this.request(call, method, options),
      stream: true,
      requestMethod: "POST",
      message: messages,
    };
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

/** Picks HTTP/2 or HTTP/1.1 for an `https:` server by ALPN, once, then sticks with it. */
class AlpnClient implements HttpClient {
  httpVersion: "1.1" | "2" | undefined;
  private chosen?: Promise<HttpClient>;
  private closed = false;

  constructor(
    private readonly baseUrl: URL,
    private readonly tlsOptions: ClientTlsOptions | undefined,
    private readonly make: (version: "1.1" | "2") => HttpClient,
  ) {}

  async open(request: Parameters<HttpClient["open"]>[0]) {
    this.chosen ??= this.negotiate();
    return (await this.chosen).open(request);
  }

  private negotiate(): Promise<HttpClient> {
    const host = this.baseUrl.hostname.replace(/^\[(.*)\]$/, "$1");
    return new Promise<HttpClient>((resolve, reject) => {
      const socket = tls.connect({
        host,
        port: Number(this.baseUrl.port || 443),
        servername: net.isIP(host) ? undefined : host,
        ...this.tlsOptions,
        ALPNProtocols: ["h2", "http/1.1"],
      });
      socket.once("secureConnect", () => {
        const version = socket.alpnProtocol === "h2" ? "2" : "1.1";
        this.httpVersion = version;
        socket.destroy();
        resolve(this.make(version));
      });
      socket.once("error", (e) => {
        this.chosen = undefined;
        reject(connectionError(e));
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.chosen?.then(
      (c) => c.close(),
      () => {},
    );
  }
}

function resolveTransport(protocol: ProtocolName, opts: ConnectTransportOptions, calls: ProtocolCalls): Transport {
  if (opts === null || typeof opts !== "object") throw optionError("options", "an object", opts);
  const o = opts as unknown as Record<string, unknown>;
  let url: URL;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    throw optionError("baseUrl", "an http: or https: URL", opts.baseUrl);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw optionError("baseUrl", "an http: or https: URL", opts.baseUrl);
  }
  const httpVersion = opts.httpVersion ?? (protocol === "grpc" ? "2" : undefined);
  if (httpVersion !== undefined && httpVersion !== "1.1" && httpVersion !== "2") {
    throw optionError("httpVersion", '"1.1" or "2"', httpVersion);
  }
  if (protocol === "grpc" && httpVersion !== "2") {
    throw optionError("httpVersion", '"2" (gRPC needs HTTP/2 trailers)', httpVersion);
  }
  let sendCompression: Compression | undefined;
  if (opts.sendCompression !== undefined && opts.sendCompression !== "identity") {
    sendCompression = compressionOption(opts.sendCompression);
    if (!sendCompression) {
      throw optionError("sendCompression", '"gzip", "br", "deflate" or a Compression object', opts.sendCompression);
    }
  }
  objectOption(o, "jsonOptions");
  objectOption(o, "tls");
  objectOption(o, "http2");
  functionsOption(o, "interceptors");
  const h2 = (opts.http2 ?? {}) as Record<string, unknown>;
  const http2Options: Http2SessionOptions = {
    maxConcurrentStreams: intOption(h2, "maxConcurrentStreams", 1, 2 ** 31 - 1, undefined),
    pingIntervalMs: intOption(h2, "pingIntervalMs", 1, 2 ** 31 - 1, undefined),
    pingTimeoutMs: intOption(h2, "pingTimeoutMs", 1, 2 ** 31 - 1, undefined),
    idleTimeoutMs: intOption(h2, "idleTimeoutMs", 1, 2 ** 31 - 1, undefined),
  };
  const make = (version: "1.1" | "2"): HttpClient => {
    if (version === "1.1") return new Http1Client(url, opts.tls);
    const authority = url.host;
    return new Http2Client(new Http2Sessions(url, opts.tls, http2Options), url.protocol.slice(0, -1), authority);
  };
  const http =
    httpVersion !== undefined
      ? make(httpVersion)
      : url.protocol === "https:"
        ? new AlpnClient(url, opts.tls, make)
        : make("1.1");
  const binary = opts.useBinaryFormat ?? true;
  const json = opts.jsonOptions;
  const codecCache = new Map<DescMethod, { input: Codec; output: Codec }>();
  const basePath = url.pathname.replace(/\/+$/, "");
  const config: TransportConfig = {
    http,
    baseUrl: url.origin + basePath,
    basePath,
    sendCompression,
    acceptCompression: new CompressionRegistry(compressionsOption(opts.acceptCompression)),
    compressMinBytes: intOption(o, "compressMinBytes", 0, kMaxLength, DEFAULT_COMPRESS_MIN_BYTES),
    readMaxBytes: intOption(o, "readMaxBytes", 1, kMaxLength, DEFAULT_READ_MAX_BYTES),
    writeMaxBytes: intOption(o, "writeMaxBytes", 1, kMaxLength, kMaxLength),
    useHttpGet: protocol === "connect" && opts.useHttpGet === true,
    codecs(method) {
      let c = codecCache.get(method);
      if (!c) {
        const name = binary ? "proto" : "json";
        c = { input: createCodec(method.input, name, json), output: createCodec(method.output, name, json) };
        codecCache.set(method, c);
      }
      return c;
    },
  };
  return new ClientTransport(protocol, config, calls, opts.interceptors);
}

/** A transport speaking the Connect protocol. */
export function createConnectTransport(options: ConnectTransportOptions): Transport {
  return resolveTransport("connect", options, { unary: connectUnary, stream: connectStream });
}

/** A transport speaking gRPC over HTTP/2 (h2c with prior knowledge for `http:`). */
export function createGrpcTransport(options: TransportOptions): Transport {
  return resolveTransport("grpc", options, { unary: grpcUnary, stream: grpcStream });
}

/** A transport speaking gRPC-Web (HTTP/1.1 or HTTP/2), as browsers do. */
export function createGrpcWebTransport(options: TransportOptions): Transport {
  return resolveTransport("grpc-web", options, { unary: grpcWebUnary, stream: grpcWebStream });
}
