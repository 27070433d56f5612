import type { Readable } from "node:stream";
import type { FastifyRequest } from "fastify";
import { Code, codeToString } from "../protocol/code.js";
import type { Codec, JsonOptions } from "../protocol/codec.js";
import type { Compression, CompressionRegistry } from "../protocol/compression.js";
import { checkMessageSize } from "../protocol/envelope.js";
import { asConnectError, ConnectError } from "../protocol/error.js";
import { type CallLogPolicy, logCallCompleted } from "./call-log.js";
import type { CallContext } from "./context.js";
import type { InFlightCalls, InFlightLinks } from "./in-flight.js";
import { InterceptedRequest, type StreamResponse, type UnaryResponse } from "./interceptor.js";
import { settle } from "./maybe-promise.js";
import type { ResponseAdapter } from "./response.js";
import { type MethodEntry, takeOne } from "./router.js";

/** Plugin options after validation and defaults. */
export interface ServerOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  compressMinBytes: number;
  compression: CompressionRegistry;
  json: JsonOptions;
  requireConnectProtocolHeader: boolean;
  maxTimeoutMs: number | undefined;
  /** Whether a call writes its "rpc completed" line (see callLogPolicy). */
  logCall: CallLogPolicy;
}

/** What a unary call answers with: its message, and the headers and trailers an interceptor gave instead of the context's. */
export interface UnaryResult {
  message: unknown;
  header?: Headers;
  trailer?: Headers;
}

/** A response message as it goes out: encoded, and compressed if `compressed`. */
export interface EncodedMessage {
  data: Uint8Array;
  compressed: boolean;
}

/** Codecs of one method in one format. */
export interface MethodCodec {
  input: Codec;
  output: Codec;
}

/**
 * One RPC in flight: what every protocol needs to serve it, and the single
 * place where a call ends (timer cleared, bookkeeping, one log line).
 */
export class ServerCall implements InFlightLinks {
  finished = false;
  prevInFlight: InFlightLinks | undefined = undefined;
  nextInFlight: InFlightLinks | undefined = undefined;
  /**
   * Set when the call failed before its handler could run (an app's hook
   * threw): the protocol answers with it at once, as it would a handler's.
   */
  earlyError?: ConnectError;
  /** When the call started, or 0 when it writes no log line. */
  private readonly startedAt: number;

  constructor(
    readonly entry: MethodEntry,
    readonly ctx: CallContext,
    readonly adapter: ResponseAdapter,
    readonly source: Readable,
    readonly request: FastifyRequest,
    readonly options: ServerOptions,
    readonly codec: MethodCodec,
    private readonly inFlight: InFlightCalls<ServerCall>,
  ) {
    inFlight.add(this);
    this.startedAt = options.logCall(request) ? performance.now() : 0;
  }

  /** A request header; repeated values are joined with ", ". */
  header(name: string): string | undefined {
    const v = this.request.headers[name];
    return Array.isArray(v) ? v.join(", ") : v;
  }

  /** The RPC path, for logs. */
  get rpc(): string {
    return `${this.entry.method.parent.typeName}/${this.entry.method.name}`;
  }

  /**
   * Marks the call over. Returns false if it already was, so that exactly
   * one outcome reaches the wire.
   */
  complete(error: ConnectError | undefined): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.ctx.clearTimer();
    this.inFlight.delete(this);
    if (this.startedAt === 0) return true;
    const code = error ? codeToString(error.code) : "ok";
    logCallCompleted(this.request, this.rpc, this.ctx.protocol, code, performance.now() - this.startedAt);
    return true;
  }

  /**
   * The error to send for anything a handler (or the library) threw. A
   * ConnectError (ours or connect-es's) goes as it is; anything else is
   * logged in full and the client learns only "internal error".
   */
  wireError(e: unknown): ConnectError {
    const known = asConnectError(e);
    if (known) return known;
    this.request.log.error({ err: e, rpc: this.rpc }, "handler failed");
    return new ConnectError("internal error", Code.Internal, { cause: e });
  }

  /** Runs a unary method, through the interceptors when there are any, and gives `respond` its result. */
  callUnary(message: unknown, respond: (result: UnaryResult) => void, fail: (e: unknown) => void): void {
    const { entry, ctx } = this;
    const { intercepted } = entry;
    if (!intercepted) {
      const handler = entry.unary as NonNullable<MethodEntry["unary"]>;
      settle(
        () => handler(message, ctx),
        (m) => respond({ message: m }),
        fail,
      );
      return;
    }
    settle(
      () => intercepted(InterceptedRequest.unary(ctx, message)) as Promise<UnaryResponse>,
      (res) => respond(res === ctx.handlerResponse ? { message: res.message } : res),
      fail,
    );
  }

  /** Runs any method in its stream form, through the interceptors when there are any. */
  async callStream(
    messages: AsyncIterable<unknown>,
  ): Promise<{ message: AsyncIterable<unknown>; header?: Headers; trailer?: Headers }> {
    const { entry, ctx } = this;
    if (!entry.intercepted) return { message: entry.stream(messages, ctx) };
    const res = (await entry.intercepted(InterceptedRequest.stream(ctx, messages))) as StreamResponse;
    return res === ctx.handlerResponse ? { message: res.message } : res;
  }

  /** The one request of a unary call in its stream form; zero or two is unimplemented. */
  takeOne(messages: AsyncIterable<unknown>): Promise<unknown> {
    return takeOne(this.entry.method, messages);
  }

  /**
   * Decodes one request message, decompressing it first when `compression` is
   * given (readMaxBytes holds after decompression too). A promise only then.
   */
  decodeRequest(data: Uint8Array, compression: Compression | undefined): unknown {
    if (!compression) return this.decoded(data);
    return compression.decompress(data, this.options.readMaxBytes).then((bytes) => this.decoded(bytes));
  }

  private decoded(data: Uint8Array): unknown {
    const { input } = this.codec;
    const message = input.decode(data);
    this.ctx.lastRequest = message;
    this.ctx.lastRequestBytes = input.name === "proto" ? data.byteLength : -1;
    return message;
  }

  /**
   * Encodes one response message: writeMaxBytes is checked on the encoded
   * message, then it is compressed when it has at least compressMinBytes. A
   * promise only then: a stream of small messages would otherwise pay a
   * promise per message for nothing.
   */
  encodeResponse(message: unknown, compression: Compression | undefined): EncodedMessage | Promise<EncodedMessage> {
    const data = this.codec.output.encode(message);
    checkMessageSize(data.byteLength, this.options.writeMaxBytes, "writeMaxBytes");
    this.ctx.responseObserver?.responseEncoded(
      message,
      this.codec.output.name === "proto" ? data.byteLength : undefined,
    );
    if (!compression || data.byteLength < this.options.compressMinBytes) return { data, compressed: false };
    return compression.compress(data).then((compressed) => ({ data: compressed, compressed: true }));
  }

  /** A client that goes away cancels the call: it completes as canceled and the handler's signal aborts. */
  watchClientAbort(): void {
    this.adapter.onAbort(() => {
      const reason = new ConnectError("the client canceled the call", Code.Canceled);
      this.complete(reason);
      this.ctx.abort(reason);
    });
  }

  /** Applies a requested timeout, refusing one above maxTimeoutMs. */
  applyTimeout(ms: number | undefined): void {
    if (ms === undefined) return;
    const max = this.options.maxTimeoutMs;
    if (max !== undefined && ms > max) {
      throw new ConnectError(`timeout ${ms}ms is larger than the server's maximum of ${max}ms`, Code.InvalidArgument);
    }
    this.ctx.setTimeout(ms);
  }
}
