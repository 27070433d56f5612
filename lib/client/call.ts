import type { OutgoingHttpHeaders } from "node:http";
import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../protocol/code.js";
import type { Codec } from "../protocol/codec.js";
import type { Compression, CompressionRegistry } from "../protocol/compression.js";
import { asConnectError, ConnectError } from "../protocol/error.js";
import { appendHeaders } from "../protocol/headers.js";
import { MAX_TIMER_MS } from "../protocol/timeout.js";
import type { CallOptions } from "./client.js";
import type { CallCancellation } from "./exchange.js";
import type { TransportConfig } from "./transport.js";

/** Sent with every request, so servers can tell this client apart in their logs. */
export const USER_AGENT = "fastify-connectrpc/0.1";

/** A request message as it is sent. */
export interface EncodedMessage {
  data: Uint8Array;
  compressed: boolean;
}

/** Something other than a ConnectError thrown inside a call, kept readable for the caller. */
export function toCallError(e: unknown, code = Code.Internal): ConnectError {
  const known = asConnectError(e);
  if (known) return known;
  if (e instanceof Error && e.name === "AbortError") return ConnectError.from(e);
  return new ConnectError(e instanceof Error ? e.message : String(e), code, { cause: e });
}

/**
 * The state of one call: its deadline and cancellation, its codecs, and the
 * exchange it runs on. Every protocol drives a call through this.
 *
 * Its exchange learns of a cancel through `onCancel`, not an AbortSignal: on
 * Node 20 an AbortController and the listeners on its signal took about 16 us
 * of a unary call's 177 us of client CPU in a profile (bench/RESULTS.md). The
 * signal is made only when something reads it (an interceptor, app.inject).
 */
export class ClientCall implements CallCancellation {
  private controller?: AbortController;
  private abortReason?: ConnectError;
  /** Set once the exchange must stop: the call was aborted, or finished before both directions ended. */
  private stopped = false;
  private cancelListeners?: (() => void)[];
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

  /** Aborted when the call is cancelled or its deadline passes, or ends early (see `finish`). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  onCancel(fn: () => void): void {
    if (this.stopped) fn();
    else (this.cancelListeners ??= []).push(fn);
  }

  /** Stops the exchange: the signal aborts (with `reason`, if any) and the cancel listeners run. */
  private stop(reason: ConnectError | undefined): void {
    if (this.stopped) return;
    this.stopped = true;
    this.controller?.abort(reason);
    const listeners = this.cancelListeners;
    this.cancelListeners = undefined;
    if (listeners) for (const fn of listeners) fn();
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
    this.stop(reason);
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
    if (!this.abortReason && !(this.requestEnded && this.responseEnded)) this.stop(undefined);
  }

  /** Request headers: the protocol's, then the caller's metadata (protocol headers cannot be overridden). */
  headers(protocol: OutgoingHttpHeaders, metadata: Headers): OutgoingHttpHeaders {
    appendHeaders(protocol, metadata);
    return protocol;
  }

  /**
   * Encodes one request message, compressing it when it is large enough;
   * checks writeMaxBytes. Only compressing makes a promise (as with
   * `decodeResponse`).
   */
  encodeRequest(message: unknown): EncodedMessage | Promise<EncodedMessage> {
    const data = this.input.encode(message);
    const { sendCompression, compressMinBytes } = this.config;
    if (sendCompression && data.byteLength >= compressMinBytes) {
      return sendCompression.compress(data).then((compressed) => this.sized(compressed, true));
    }
    return this.sized(data, false);
  }

  private sized(data: Uint8Array, compressed: boolean): EncodedMessage {
    const { writeMaxBytes } = this.config;
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

  /**
   * Decodes one response message, decompressing it first when it is flagged.
   * Only a compressed message makes a promise: a stream's messages are decoded
   * one after another, and a promise each costs a turn of the microtask queue.
   */
  decodeResponse(
    data: Uint8Array,
    compression: Compression | undefined,
  ): MessageShape<DescMessage> | Promise<MessageShape<DescMessage>> {
    if (compression) return this.decompressResponse(data, compression).then((bytes) => this.decodeMessage(bytes));
    return this.decodeMessage(data);
  }

  private decodeMessage(bytes: Uint8Array): MessageShape<DescMessage> {
    try {
      return this.output.decode(bytes);
    } catch (e) {
      // A response the client cannot parse is the server's fault, not the caller's argument.
      const message = e instanceof ConnectError ? e.rawMessage : String(e);
      throw new ConnectError(message, Code.Internal, { cause: e });
    }
  }
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
