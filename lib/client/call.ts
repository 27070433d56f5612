import type { OutgoingHttpHeaders } from "node:http";
import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../protocol/code.js";
import type { Codec } from "../protocol/codec.js";
import type { Compression, CompressionRegistry } from "../protocol/compression.js";
import type { ProtocolName } from "../protocol/content-type.js";
import { ConnectError } from "../protocol/error.js";
import { appendHeaders, type HeadersInit } from "../protocol/headers.js";
import { MAX_TIMER_MS } from "../protocol/timeout.js";
import type { HttpClient, HttpExchange } from "./exchange.js";

/** Options of one call. */
export interface CallOptions {
  /** Request metadata. Binary values go in `-bin` headers, encoded with `encodeBinaryHeader`. */
  headers?: HeadersInit;
  /** The deadline, in milliseconds from now; the server sees it and the call fails with deadline_exceeded after it. */
  timeoutMs?: number;
  /** Aborting it cancels the call (RST_STREAM CANCEL on HTTP/2); the call fails with canceled. */
  signal?: AbortSignal;
  /**
   * A server handler's context (or anything with its `signal` and `timeoutMs()`):
   * the call inherits its remaining deadline and is cancelled with it.
   * `client.say(req, { context: ctx })` inside a handler propagates both.
   */
  context?: { readonly signal: AbortSignal; timeoutMs(): number | undefined };
  /** Called with the response headers when they arrive. */
  onHeader?(header: Headers): void;
  /**
   * Called with the response trailers when the call ends. When it fails, with the
   * error's metadata instead: the headers and trailers that came with the error.
   */
  onTrailer?(trailer: Headers): void;
}

// ---------------------------------------------------------------------------
// Interceptors, shaped like connect-es's client interceptors.

interface ClientRequestCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  /** The full URL of the method. */
  readonly url: string;
  /** "POST", or "GET" for a Connect GET request. */
  readonly requestMethod: string;
  /** Request metadata; an interceptor may change it. */
  readonly header: Headers;
  readonly signal: AbortSignal;
  /** The deadline the call sends, if any. */
  readonly timeoutMs: number | undefined;
  /** The protocol the transport speaks. */
  readonly protocol: ProtocolName;
  /** The HTTP version the transport uses; undefined while ALPN has not picked one (`https:` without `httpVersion`). */
  readonly httpVersion: "1.1" | "2" | undefined;
  /** The `context` of the call options (a server handler's context), so tracing can find the call's parent. */
  readonly context: CallOptions["context"];
}
export interface ClientUnaryRequest extends ClientRequestCommon {
  readonly stream: false;
  readonly message: unknown;
}
export interface ClientStreamRequest extends ClientRequestCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
interface ClientResponseCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly header: Headers;
  /** For a stream, filled in when the last message has been read. */
  readonly trailer: Headers;
}
export interface ClientUnaryResponse extends ClientResponseCommon {
  readonly stream: false;
  readonly message: unknown;
}
export interface ClientStreamResponse extends ClientResponseCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
/** The function a client interceptor wraps: the next interceptor, or the protocol itself. */
export type ClientAnyFn = (
  req: ClientUnaryRequest | ClientStreamRequest,
) => Promise<ClientUnaryResponse | ClientStreamResponse>;
/** Wraps every call the transport makes: may change requests, responses and errors. */
export type ClientInterceptor = (next: ClientAnyFn) => ClientAnyFn;

// ---------------------------------------------------------------------------

/** Sent with every request, so servers can tell this client apart in their logs. */
export const USER_AGENT = "fastify-connectrpc/0.1";

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

/** Something other than a ConnectError thrown inside a call, kept readable for the caller. */
export function toCallError(e: unknown, code = Code.Internal): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof Error && e.name === "AbortError") return ConnectError.from(e);
  return new ConnectError(e instanceof Error ? e.message : String(e), code, { cause: e });
}

/**
 * The state of one call: its deadline and cancellation, its codecs, and the
 * exchange it runs on. Every protocol drives a call through this.
 */
export class ClientCall {
  private readonly controller = new AbortController();
  private abortReason?: ConnectError;
  private timer?: NodeJS.Timeout;
  private readonly userSignals: AbortSignal[] = [];
  readonly input: Codec;
  readonly output: Codec;
  readonly timeoutMs: number | undefined;
  /** Set once the request body has been sent whole. */
  requestEnded = false;
  /** Set once the response has been read to its end. */
  responseEnded = false;
  /** The response headers, once they arrived: `onHeader` gets them even when the call then fails. */
  responseHeader?: Headers;

  constructor(
    readonly config: TransportConfig,
    readonly method: DescMethod,
    options: CallOptions,
  ) {
    const codecs = config.codecs(method);
    this.input = codecs.input;
    this.output = codecs.output;
    let timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs >= 0))) {
      throw new ConnectError(`invalid timeoutMs ${timeoutMs}: expected a number >= 0`, Code.InvalidArgument);
    }
    const inherited = options.context?.timeoutMs();
    if (inherited !== undefined) timeoutMs = timeoutMs === undefined ? inherited : Math.min(timeoutMs, inherited);
    this.timeoutMs = timeoutMs;
    for (const s of [options.signal, options.context?.signal]) {
      if (!s) continue;
      if (s.aborted) this.cancel(s.reason);
      else {
        s.addEventListener("abort", this.onUserAbort);
        this.userSignals.push(s);
      }
    }
    if (timeoutMs !== undefined && !this.abortReason) {
      if (timeoutMs <= 0) this.expire();
      else if (timeoutMs <= MAX_TIMER_MS) {
        this.timer = setTimeout(() => this.expire(), timeoutMs);
      }
    }
  }

  /** Aborted when the call is cancelled or its deadline passes. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the call was aborted, if it was. */
  get aborted(): ConnectError | undefined {
    return this.abortReason;
  }

  private readonly onUserAbort = (event: Event) => {
    this.cancel((event.target as AbortSignal).reason);
  };

  private cancel(reason: unknown): void {
    this.abort(
      reason instanceof ConnectError
        ? reason
        : new ConnectError("the call was cancelled", Code.Canceled, { cause: reason }),
    );
  }

  private expire(): void {
    this.abort(new ConnectError(`the call passed its deadline of ${this.timeoutMs} ms`, Code.DeadlineExceeded));
  }

  /** Ends the call with `reason`: the exchange is cancelled and the call fails with it. */
  abort(reason: ConnectError): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller.abort(reason);
  }

  /** The error a failed call reports: an abort (cancel, deadline) wins over what it caused. */
  failure(e: unknown): ConnectError {
    return this.abortReason ?? toCallError(e);
  }

  /** Throws the abort reason if the call has been aborted. */
  throwIfAborted(): void {
    if (this.abortReason) throw this.abortReason;
  }

  /**
   * Releases the call's timer and listeners. A call that ends before both
   * directions finished (an error, a consumer that stopped reading, a server
   * that answered before the request ended) resets its stream.
   */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.userSignals) s.removeEventListener("abort", this.onUserAbort);
    this.userSignals.length = 0;
    if (!this.abortReason && !(this.requestEnded && this.responseEnded)) this.controller.abort();
  }

  /** Request headers: the protocol's, then the caller's metadata (protocol headers cannot be overridden). */
  headers(protocol: OutgoingHttpHeaders, metadata: Headers): OutgoingHttpHeaders {
    appendHeaders(protocol, metadata);
    return protocol;
  }

  /** Encodes one request message, compressing it when it is large enough; checks writeMaxBytes. */
  async encodeRequest(message: unknown): Promise<{ data: Uint8Array; compressed: boolean }> {
    let data = this.input.encode(message);
    let compressed = false;
    const { sendCompression, compressMinBytes, writeMaxBytes } = this.config;
    if (sendCompression && data.byteLength >= compressMinBytes) {
      data = await sendCompression.compress(data);
      compressed = true;
    }
    if (data.byteLength > writeMaxBytes) {
      throw new ConnectError(
        `message size ${data.byteLength} is larger than configured writeMaxBytes ${writeMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
    return { data, compressed };
  }

  /**
   * Decompresses part of a response. Bad compressed data is the server's
   * fault, so internal (the gRPC status table says so), not the
   * invalid_argument the server side reports; over the limit stays
   * resource_exhausted.
   */
  async decompressResponse(data: Uint8Array, compression: Compression): Promise<Uint8Array> {
    try {
      return await compression.decompress(data, this.config.readMaxBytes);
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.ResourceExhausted) throw e;
      const message = e instanceof ConnectError ? e.rawMessage : String(e);
      throw new ConnectError(message, Code.Internal, { cause: e });
    }
  }

  /** Decodes one response message, decompressing it first when it is flagged. */
  async decodeResponse(data: Uint8Array, compression: Compression | undefined): Promise<MessageShape<DescMessage>> {
    const bytes = compression ? await this.decompressResponse(data, compression) : data;
    try {
      return this.output.decode(bytes);
    } catch (e) {
      // A response the client cannot parse is the server's fault, not the caller's argument.
      const message = e instanceof ConnectError ? e.rawMessage : String(e);
      throw new ConnectError(message, Code.Internal, { cause: e });
    }
  }
}

/**
 * Sends request messages on an exchange as they come, with backpressure, then
 * ends the request. An error from the caller's iterable (or in encoding)
 * fails the call with it; a failed write does not, since the response side
 * then reports why the server stopped.
 */
export async function sendRequestMessages(
  call: ClientCall,
  exchange: HttpExchange,
  messages: AsyncIterable<unknown>,
  frame: (message: unknown) => Promise<Uint8Array>,
): Promise<void> {
  try {
    for await (const m of messages) {
      if (call.aborted || call.responseEnded) return;
      const bytes = await frame(m);
      try {
        await exchange.write(bytes);
      } catch {
        return;
      }
    }
    call.requestEnded = true;
    exchange.end();
  } catch (e) {
    call.abort(toCallError(e));
  }
}

/** Composes interceptors around the protocol's call function, the first one outermost. */
export function applyInterceptors(fn: ClientAnyFn, interceptors: readonly ClientInterceptor[]): ClientAnyFn {
  let next = fn;
  for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i](next);
  return next;
}

/** The compression a response declares; one this client did not offer is the server's error. */
export function responseCompression(
  registry: CompressionRegistry,
  encoding: string | undefined,
): Compression | undefined {
  try {
    return registry.forRequest(encoding);
  } catch (e) {
    throw new ConnectError(`protocol error: ${(e as ConnectError).rawMessage}`, Code.Internal);
  }
}
