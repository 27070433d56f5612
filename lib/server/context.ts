import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { FastifyRequest } from "fastify";
import { Code } from "../protocol/code.js";
import type { ProtocolName } from "../protocol/content-type.js";
import { ConnectError } from "../protocol/error.js";
import { headersFromIncoming } from "../protocol/headers.js";
import { MAX_TIMER_MS } from "../protocol/timeout.js";

/** What every handler receives besides its request message(s). */
export interface HandlerContext {
  /** The method being called. */
  readonly method: DescMethod;
  readonly service: DescService;
  /** The wire protocol the client chose. */
  readonly protocol: ProtocolName;
  /** "POST", or "GET" for a Connect GET request. */
  readonly requestMethod: string;
  /** The request's headers (metadata); `-bin` values are base64, see `decodeBinaryHeader`. */
  readonly requestHeader: Headers;
  /** Headers to send before the first response message. */
  readonly responseHeader: Headers;
  /** Trailers to send after the last response message. */
  readonly responseTrailer: Headers;
  /** Aborted when the client goes away, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /** Milliseconds left until the client's deadline; undefined when it set none. */
  timeoutMs(): number | undefined;
  /**
   * Sends the response headers now, before the first response message, so a
   * streaming client sees them while the handler is still working. Otherwise
   * they go out with the first message (or the end). Headers set after this
   * are not sent; a no-op for Connect unary, whose head carries the message.
   */
  sendHeader(): void;
  /** The Fastify request: `request.log`, and whatever hooks decorated it. */
  readonly request: FastifyRequest;
}

/**
 * The context of one call. Headers objects and the AbortController are made
 * only when a handler asks for them: most unary calls never do, and each costs
 * an allocation on the hot path.
 */
export class CallContext implements HandlerContext {
  private _requestHeader?: Headers;
  private _responseHeader?: Headers;
  private _responseTrailer?: Headers;
  private controller?: AbortController;
  private abortReason?: ConnectError;
  private deadline?: number;
  private timer?: NodeJS.Timeout;
  private onAbort?: (reason: ConnectError) => void;
  private headerSender?: () => void;
  /**
   * The innermost interceptor's response, whose headers are this context's
   * (see chain): a call that gets it back unchanged reads the headers here,
   * without making them.
   */
  handlerResponse?: object;
  /**
   * The last request message decoded and its size in the protobuf binary
   * format, or -1 when it came as JSON: telemetry (lib/otel) reads the size
   * (decodedSize) instead of encoding the message a second time.
   */
  lastRequest?: unknown;
  lastRequestBytes = -1;
  /**
   * Told of each response message once it is encoded and has passed
   * writeMaxBytes, with its protobuf binary size (undefined for JSON):
   * telemetry's message sizes, measured on what is sent.
   */
  responseObserver?: { responseEncoded(message: unknown, binaryBytes: number | undefined): void };
  /** The trace context instrumentation bound to this call (lib/otel), for client calls made with `{ context: ctx }`. */
  traceContext?: unknown;

  constructor(
    readonly method: DescMethod,
    readonly protocol: ProtocolName,
    readonly requestMethod: string,
    readonly request: FastifyRequest,
  ) {}

  /** The binary size of `message` if it is the request this call decoded last (and it came as protobuf). */
  decodedSize(message: unknown): number | undefined {
    return message === this.lastRequest && this.lastRequestBytes >= 0 ? this.lastRequestBytes : undefined;
  }

  get service(): DescService {
    return this.method.parent;
  }

  get requestHeader(): Headers {
    this._requestHeader ??= headersFromIncoming(this.request.headers);
    return this._requestHeader;
  }

  get responseHeader(): Headers {
    this._responseHeader ??= new Headers();
    return this._responseHeader;
  }

  get responseTrailer(): Headers {
    this._responseTrailer ??= new Headers();
    return this._responseTrailer;
  }

  /** The response headers if any were set, without creating them. */
  get responseHeaderIfSet(): Headers | undefined {
    return this._responseHeader;
  }

  get responseTrailerIfSet(): Headers | undefined {
    return this._responseTrailer;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Whether the call has been aborted, read without making the AbortController that `signal` needs. */
  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  /**
   * Starts the deadline clock. When it runs out the call is aborted with
   * deadline_exceeded.
   */
  setTimeout(ms: number): void {
    this.deadline = Date.now() + ms;
    if (ms > MAX_TIMER_MS) return;
    this.timer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), ms);
  }

  sendHeader(): void {
    this.headerSender?.();
  }

  /** Registers how the protocol's writer sends the head ahead of the first message. */
  setHeaderSender(fn: () => void): void {
    this.headerSender = fn;
  }

  /** Registers the one callback that learns of an abort (the protocol's writer). */
  setAbortHandler(fn: (reason: ConnectError) => void): void {
    this.onAbort = fn;
  }

  /** Aborts the call once; later calls are ignored. */
  abort(reason: ConnectError): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.clearTimer();
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  /** Called when the call is over, however it ended. */
  clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
