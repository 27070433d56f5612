import type { Readable } from "node:stream";
import type { FastifyRequest } from "fastify";
import { Code, codeToString } from "../protocol/code.js";
import type { Codec, JsonOptions } from "../protocol/codec.js";
import type { CompressionRegistry } from "../protocol/compression.js";
import { ConnectError } from "../protocol/error.js";
import type { CallContext } from "./context.js";
import type { ResponseAdapter } from "./response.js";
import type { MethodEntry, StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "./router.js";

/** Plugin options after validation and defaults. */
export interface ServerOptions {
  readMaxBytes: number;
  writeMaxBytes: number;
  compressMinBytes: number;
  compression: CompressionRegistry;
  json: JsonOptions;
  requireConnectProtocolHeader: boolean;
  maxTimeoutMs: number | undefined;
  /** The app has no logger (Fastify's null logger): skip building per-call log lines. */
  silent: boolean;
}

/**
 * What interceptors see of the request, whatever the call kind. `header` and
 * `signal` are made when first read: each costs an allocation per call (a
 * Headers copy of the request's, an AbortController), which an interceptor
 * that never reads them should not pay. They are own enumerable getters, so
 * `{ ...req, message }` in an interceptor still copies them.
 */
function interceptorRequest(call: ServerCall, stream: boolean, message: unknown) {
  const ctx = call.ctx;
  return {
    service: call.entry.method.parent,
    method: call.entry.method,
    requestMethod: ctx.requestMethod,
    url: call.request.url,
    get header() {
      return ctx.requestHeader;
    },
    get signal() {
      return ctx.signal;
    },
    context: ctx,
    stream,
    message,
  };
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
export class ServerCall {
  finished = false;
  private readonly startedAt: number;

  constructor(
    readonly entry: MethodEntry,
    readonly ctx: CallContext,
    readonly adapter: ResponseAdapter,
    readonly source: Readable,
    readonly request: FastifyRequest,
    readonly options: ServerOptions,
    readonly codec: MethodCodec,
    private readonly inFlight: Set<ServerCall>,
  ) {
    inFlight.add(this);
    this.startedAt = options.silent ? 0 : performance.now();
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
    if (this.options.silent) return true;
    this.request.log.info(
      {
        rpc: this.rpc,
        protocol: this.ctx.protocol,
        code: error ? codeToString(error.code) : "ok",
        durationMs: Math.round((performance.now() - this.startedAt) * 1000) / 1000,
      },
      "rpc completed",
    );
    return true;
  }

  /**
   * The error to send for anything a handler (or the library) threw. A
   * ConnectError goes as it is; anything else is logged in full and the
   * client learns only "internal error".
   */
  wireError(e: unknown): ConnectError {
    if (e instanceof ConnectError) return e;
    this.request.log.error({ err: e, rpc: this.rpc }, "handler failed");
    return new ConnectError("internal error", Code.Internal, { cause: e });
  }

  /** Runs a unary method, through the interceptors when there are any. */
  async callUnary(message: unknown): Promise<{ message: unknown; header?: Headers; trailer?: Headers }> {
    const { entry, ctx } = this;
    if (!entry.intercepted) return { message: await (entry.unary as NonNullable<MethodEntry["unary"]>)(message, ctx) };
    return (await entry.intercepted(interceptorRequest(this, false, message) as UnaryRequest)) as UnaryResponse;
  }

  /** Runs any method in its stream form, through the interceptors when there are any. */
  async callStream(
    messages: AsyncIterable<unknown>,
  ): Promise<{ message: AsyncIterable<unknown>; header?: Headers; trailer?: Headers }> {
    const { entry, ctx } = this;
    if (!entry.intercepted) return { message: entry.stream(messages, ctx) };
    return (await entry.intercepted(interceptorRequest(this, true, messages) as StreamRequest)) as StreamResponse;
  }

  /** Checks an encoded response against writeMaxBytes. */
  checkWriteSize(bytes: Uint8Array): void {
    if (bytes.byteLength > this.options.writeMaxBytes) {
      throw new ConnectError(
        `message size ${bytes.byteLength} is larger than configured writeMaxBytes ${this.options.writeMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
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
