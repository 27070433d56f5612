import * as http from "node:http";
import type { ClientHttp2Stream, IncomingHttpHeaders as Http2IncomingHeaders } from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import type { Readable } from "node:stream";
import * as tls from "node:tls";
import { Code, codeFromHttp2RstCode } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import { type Http2Sessions, retireSession, streamWasRefused } from "./http2-sessions.js";
import { type RefusableExchange, ReplayingExchange } from "./refused-retry.js";

/** The head of a response: what arrived before the body. */
export interface ResponseHead {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** How an exchange learns that its call gave up (cancelled, past its deadline, or done early). */
export interface CallCancellation {
  /** Runs `fn` once the call gives up; at once if it already has. */
  onCancel(fn: () => void): void;
  /** The same as an AbortSignal, for APIs that take one; made on first read. */
  readonly signal: AbortSignal;
}

/** What a call asks of the HTTP layer. */
export interface ExchangeRequest {
  method: "POST" | "GET";
  /** Path and query, e.g. `/pkg.Service/Method`. */
  path: string;
  headers: http.OutgoingHttpHeaders;
  /** A cancel ends the exchange: RST_STREAM(CANCEL) on HTTP/2, a closed socket on HTTP/1.1. */
  cancel: CallCancellation;
  /** The request has no body (Connect GET). */
  noBody: boolean;
  /**
   * The whole body is one message the call holds (unary, server streaming):
   * a stream the server refuses unprocessed is sent again (RFC 9113, 8.7).
   */
  replayable?: boolean;
}

/**
 * One HTTP request and its response, over HTTP/1.1 or HTTP/2. Requests are
 * written with backpressure, responses read as a Readable, so both
 * directions can flow at once (full duplex on HTTP/2).
 */
export interface HttpExchange {
  /** Writes part of the request body; resolves when more may be written. */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the request body. */
  end(): void;
  /** The response head; rejects with a ConnectError when none arrives. */
  readonly head: Promise<ResponseHead>;
  /** The response body, readable once the head has arrived. */
  readonly body: Readable;
  /** The HTTP trailers, once the body has ended. */
  trailers(): http.IncomingHttpHeaders;
  /** Why the response stopped early: the reset code, or the lost connection. */
  goneError(): ConnectError;
}

/** Opens exchanges over one transport's connections. */
export interface HttpClient {
  /** The HTTP version the exchanges use; undefined until ALPN has picked one. */
  readonly httpVersion: "1.1" | "2" | undefined;
  open(request: ExchangeRequest): Promise<HttpExchange>;
  close(): void;
}

/** A failure of the connection (refused, reset, TLS) as the call's error. */
export function connectionError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  const err = e as NodeJS.ErrnoException;
  const text = err instanceof Error ? err.message : String(e);
  return new ConnectError(`connection failed: ${text}`, Code.Unavailable, { cause: e });
}

type RequestStream = NodeJS.WritableStream & { destroyed: boolean; writableEnded: boolean };

/** Writes part of a request body; resolves at once, or on 'drain' when the stream's buffer is full. */
function writeRequest(stream: RequestStream, chunk: Uint8Array): Promise<void> {
  if (stream.destroyed || stream.writableEnded) {
    return Promise.reject(new ConnectError("the request stream is closed", Code.Unavailable));
  }
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      stream.off("error", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new ConnectError("the request stream closed while writing", Code.Unavailable));
    stream.on("drain", onDrain);
    stream.on("close", onClose);
    stream.on("error", onClose);
  });
}

/** Ends a request body unless the stream is already ended or gone. */
function endRequest(stream: RequestStream): void {
  if (!stream.destroyed && !stream.writableEnded) stream.end();
}

// ---------------------------------------------------------------------------
// HTTP/2

class Http2Exchange implements RefusableExchange {
  readonly head: Promise<ResponseHead>;
  private responseTrailers: http.IncomingHttpHeaders = {};
  private responded = false;

  /** Kept because a stream forgets its session once it is destroyed. */
  private readonly session: ClientHttp2Stream["session"];

  constructor(private readonly stream: ClientHttp2Stream) {
    this.session = stream.session;
    this.head = new Promise((resolve, reject) => {
      const onResponse = (headers: Http2IncomingHeaders) => {
        this.responded = true;
        stream.off("close", onClose);
        resolve({ status: Number(headers[":status"]), headers });
      };
      const onClose = () => {
        stream.off("response", onResponse);
        reject(this.goneError());
      };
      stream.once("response", onResponse);
      stream.once("close", onClose);
    });
    // An unhandled 'error' would crash the process; the call reads the error from rstCode.
    stream.on("error", () => {});
    stream.on("trailers", (headers: Http2IncomingHeaders) => {
      this.responseTrailers = headers;
    });
  }

  get body(): Readable {
    return this.stream;
  }

  write(chunk: Uint8Array): Promise<void> {
    return writeRequest(this.stream, chunk);
  }

  end(): void {
    endRequest(this.stream);
  }

  trailers(): http.IncomingHttpHeaders {
    return this.responseTrailers;
  }

  refused(): boolean {
    return !this.responded && streamWasRefused(this.stream, this.session);
  }

  retireSession(): void {
    retireSession(this.session);
  }

  goneError(): ConnectError {
    // When the connection itself goes, Node resets every stream on it (CANCEL
    // or INTERNAL_ERROR) though the server reset none: that is a lost
    // connection, unavailable, not a cancellation.
    if (this.session?.destroyed) {
      return new ConnectError("the connection was lost before the response ended", Code.Unavailable);
    }
    const rst = this.stream.rstCode;
    if (rst !== undefined && rst !== 0) {
      return new ConnectError(`stream reset by the server with HTTP/2 code ${rst}`, codeFromHttp2RstCode(rst));
    }
    return new ConnectError("the connection closed before the response ended", Code.Unavailable);
  }
}

/** Node's answer when the peer's first bytes are not HTTP/2 (nghttp2's NGHTTP2_ERR_PROTO). */
function isProtocolError(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === "ERR_HTTP2_ERROR";
}

/**
 * A cleartext server that answered the HTTP/2 preface in HTTP/1.1: the usual
 * cause is a Fastify app made without `http2: true` or onePortServerFactory.
 */
function notH2cError(authority: string, e: unknown): ConnectError {
  const text = e instanceof Error ? e.message : String(e);
  return new ConnectError(
    `connection failed: ${text}: the server at http://${authority} does not speak HTTP/2 cleartext (h2c); ` +
      "is it a plain Fastify() without http2: true or onePortServerFactory()? " +
      'gRPC needs HTTP/2; Connect and gRPC-Web also work over HTTP/1.1 (httpVersion: "1.1")',
    Code.Unavailable,
    { cause: e },
  );
}

/** Exchanges over pooled HTTP/2 sessions. */
export class Http2Client implements HttpClient {
  readonly httpVersion = "2";

  constructor(
    private readonly sessions: Http2Sessions,
    private readonly scheme: string,
    private readonly authority: string,
  ) {}

  // Promise chains rather than async functions: each of those is a promise
  // and a turn of the microtask queue more per call.
  open(request: ExchangeRequest): Promise<HttpExchange> {
    const first = this.openStream(request);
    if (!request.replayable) return first;
    return first.then((exchange) => new ReplayingExchange(exchange, () => this.openStream(request)));
  }

  private openStream(request: ExchangeRequest): Promise<Http2Exchange> {
    const headers = request.headers;
    headers[":method"] = request.method;
    headers[":path"] = request.path;
    headers[":scheme"] = this.scheme;
    headers[":authority"] = this.authority;
    return this.sessions.request(headers, request.cancel).then(
      (stream) => new Http2Exchange(stream),
      (e: unknown) => {
        throw this.scheme === "http" && isProtocolError(e) ? notH2cError(this.authority, e) : connectionError(e);
      },
    );
  }

  close(): void {
    this.sessions.close();
  }
}

// ---------------------------------------------------------------------------
// HTTP/1.1

class Http1Exchange implements HttpExchange {
  readonly head: Promise<ResponseHead>;
  private response?: http.IncomingMessage;

  constructor(private readonly req: http.ClientRequest) {
    this.head = new Promise((resolve, reject) => {
      req.once("response", (res: http.IncomingMessage) => {
        this.response = res;
        // Errors surface through the body reader's 'close'.
        res.on("error", () => {});
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.once("error", (e) => reject(connectionError(e)));
    });
    this.head.catch(() => {});
  }

  get body(): Readable {
    if (!this.response) throw new Error("the response head has not arrived");
    return this.response;
  }

  write(chunk: Uint8Array): Promise<void> {
    return writeRequest(this.req, chunk);
  }

  end(): void {
    endRequest(this.req);
  }

  trailers(): http.IncomingHttpHeaders {
    return this.response?.trailers ?? {};
  }

  goneError(): ConnectError {
    return new ConnectError("the connection closed before the response ended", Code.Unavailable);
  }
}

/** Exchanges over a keep-alive HTTP/1.1 agent. */
export class Http1Client implements HttpClient {
  readonly httpVersion = "1.1";
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(
    private readonly baseUrl: URL,
    tls: https.AgentOptions | undefined,
  ) {
    const secure = baseUrl.protocol === "https:";
    this.agent = secure ? new https.Agent({ keepAlive: true, ...tls }) : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
  }

  async open(request: ExchangeRequest): Promise<HttpExchange> {
    const req = this.request({
      agent: this.agent,
      protocol: this.baseUrl.protocol,
      hostname: this.baseUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: this.baseUrl.port,
      method: request.method,
      path: request.path,
      headers: request.headers,
    });
    // Node's `signal` option would cost an AbortSignal per call; destroying the request does the same.
    request.cancel.onCancel(() => req.destroy());
    const exchange = new Http1Exchange(req);
    if (request.noBody) req.end();
    return exchange;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Picks HTTP/2 or HTTP/1.1 for an `https:` server by ALPN, once, then sticks with it. */
export class AlpnClient implements HttpClient {
  httpVersion: "1.1" | "2" | undefined;
  private chosen?: Promise<HttpClient>;
  private closed = false;

  constructor(
    private readonly baseUrl: URL,
    private readonly tlsOptions: tls.ConnectionOptions | undefined,
    private readonly make: (version: "1.1" | "2") => HttpClient,
  ) {}

  async open(request: ExchangeRequest): Promise<HttpExchange> {
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
