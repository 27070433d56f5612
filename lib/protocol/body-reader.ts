import { AsyncResource } from "node:async_hooks";
import type { Readable } from "node:stream";
import { Code } from "./code.js";
import { type Envelope, EnvelopeDecoder, messageSizeError } from "./envelope.js";
import { ConnectError } from "./error.js";

// Reading a message body off a Node Readable: the server reads requests with
// it, the client responses. Only the errors differ between the two sides.

/** The errors for a body that stops early, worded for the side that reads it. */
export interface BodyErrors {
  /** The peer went away (or reset the stream) before the body ended. */
  gone(): ConnectError;
  /** The body ended inside an envelope. */
  truncated(missing: string): ConnectError;
}

/**
 * Node quirk: when an HTTP/2 connection drops, each open stream emits 'end'
 * (as if END_STREAM had arrived) with rstCode already set, then 'close'. A
 * body cut off like that must not be taken as complete.
 */
function resetByPeer(source: Readable): boolean {
  const code = (source as { rstCode?: number }).rstCode;
  return code !== undefined && code !== 0;
}

/**
 * What a body read ends with: an error, or the body. A callback rather than a
 * promise: the server's unary path makes no promise of its own between the
 * request and the handler (see server/maybe-promise.ts).
 */
export type BodyCallback<T> = (error: ConnectError | undefined, body: T | undefined) => void;

/**
 * `done` as the reader calls it: once, in the async context of the caller.
 * Node runs a stream's 'data' and 'end' listeners in the context of the socket
 * read that caused them, not of the code that listened, so without this an
 * AsyncLocalStorage store (@fastify/otel's span, a request context) set around
 * the route would be gone by the time the handler runs. A promise would carry
 * it too, at the cost of two where this is one async resource.
 */
function inCallerContext<T>(done: BodyCallback<T>): BodyCallback<T> {
  return AsyncResource.bind(done);
}

/**
 * Reads a whole body, refusing it once it passes `maxBytes` (and at once when
 * a declared content-length already does). `callback` is called once, in the caller's async context.
 */
export function readBody(
  source: Readable,
  maxBytes: number,
  contentLength: string | undefined,
  errors: BodyErrors,
  callback: BodyCallback<Buffer>,
): void {
  const done = inCallerContext(callback);
  if (contentLength !== undefined) {
    const declared = Number(contentLength);
    if (declared > maxBytes) {
      done(messageSizeError(declared, maxBytes, "readMaxBytes"), undefined);
      return;
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const finish = (error: ConnectError | undefined, body?: Buffer, drain = false) => {
    source.off("data", onData);
    source.off("end", onEnd);
    source.off("error", onClose);
    source.off("close", onClose);
    // Drain the rest unread, so an HTTP/1.1 connection stays usable.
    if (drain) source.resume();
    done(error, body);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.byteLength;
    if (size > maxBytes) {
      finish(messageSizeError(size, maxBytes, "readMaxBytes"), undefined, true);
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => {
    if (resetByPeer(source)) finish(errors.gone());
    else finish(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  };
  const onClose = () => finish(errors.gone());
  source.on("data", onData);
  source.on("end", onEnd);
  source.on("error", onClose);
  source.on("close", onClose);
}

/**
 * Reads the envelopes of a body that should hold exactly one (a unary call),
 * without the iterator machinery of `EnvelopeReader`: one listener per event
 * and no promise. It stops at the second envelope, since that is already an
 * error, and drains the rest unread. `callback` is called once, in the caller's async context.
 */
export function readSingleEnvelopeBody(
  source: Readable,
  maxBytes: number,
  errors: BodyErrors,
  callback: BodyCallback<Envelope[]>,
): void {
  const done = inCallerContext(callback);
  const decoder = new EnvelopeDecoder(maxBytes);
  const out: Envelope[] = [];
  const finish = (error: ConnectError | undefined, drain = false) => {
    source.off("data", onData);
    source.off("end", onEnd);
    source.off("error", onGone);
    source.off("close", onGone);
    // Drain the rest unread, so an HTTP/1.1 connection stays usable.
    if (drain) source.resume();
    done(error, error ? undefined : out);
  };
  const onData = (chunk: Buffer) => {
    try {
      decoder.push(chunk, out);
    } catch (e) {
      finish(ConnectError.from(e, Code.InvalidArgument), true);
      return;
    }
    if (out.length >= 2) finish(undefined, true);
  };
  const onEnd = () => {
    if (resetByPeer(source)) finish(errors.gone());
    else if (decoder.partial) finish(errors.truncated(decoder.describeMissing()));
    else finish(undefined);
  };
  const onGone = () => finish(errors.gone());
  source.on("data", onData);
  source.on("end", onEnd);
  source.on("error", onGone);
  source.on("close", onGone);
}

/** How many decoded envelopes may wait for the consumer before reading pauses. */
const HIGH_WATER = 16;

/**
 * Envelopes of a body as an async iterator, with backpressure: when the
 * consumer falls behind, the source stops being read (and HTTP/2 flow control
 * stops the peer). A body that ends inside an envelope is an error.
 * `transform` lets gRPC-Web text decode base64 before framing.
 */
export class EnvelopeReader implements AsyncIterator<Envelope> {
  private readonly decoder: EnvelopeDecoder;
  private readonly queue: Envelope[] = [];
  private ended = false;
  private error?: ConnectError;
  private waiter?: { resolve: (r: IteratorResult<Envelope>) => void; reject: (e: unknown) => void };
  private paused = false;

  constructor(
    private readonly source: Readable,
    maxBytes: number,
    private readonly errors: BodyErrors,
    private readonly transform?: (chunk: Buffer) => Buffer,
    private readonly flush?: () => void,
  ) {
    this.decoder = new EnvelopeDecoder(maxBytes);
    source.on("data", this.onData);
    source.on("end", this.onEnd);
    source.on("error", this.onGone);
    source.on("close", this.onGone);
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.decoder.push(this.transform ? this.transform(chunk) : chunk, this.queue);
    } catch (e) {
      this.fail(ConnectError.from(e, Code.InvalidArgument));
      return;
    }
    if (this.queue.length >= HIGH_WATER && !this.paused) {
      this.paused = true;
      this.source.pause();
    }
    this.wake();
  };

  private readonly onEnd = () => {
    if (resetByPeer(this.source)) {
      this.fail(this.errors.gone());
      return;
    }
    this.ended = true;
    this.detach();
    try {
      this.flush?.();
    } catch (e) {
      this.fail(ConnectError.from(e, Code.InvalidArgument));
      return;
    }
    if (this.decoder.partial) {
      this.fail(this.errors.truncated(this.decoder.describeMissing()));
      return;
    }
    this.wake();
  };

  private readonly onGone = () => {
    if (this.ended) return;
    this.fail(this.errors.gone());
  };

  private fail(e: ConnectError): void {
    if (this.error) return;
    this.error = e;
    this.detach();
    this.wake();
  }

  private detach(): void {
    this.source.off("data", this.onData);
    this.source.off("end", this.onEnd);
    this.source.off("error", this.onGone);
    this.source.off("close", this.onGone);
    if (this.error) this.source.resume();
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    const queued = this.queue.shift();
    if (queued) w.resolve({ value: queued, done: false });
    else if (this.error) w.reject(this.error);
    else if (this.ended) w.resolve({ value: undefined, done: true });
    else this.waiter = w;
  }

  next(): Promise<IteratorResult<Envelope>> {
    const queued = this.queue.shift();
    if (queued) {
      if (this.paused && this.queue.length < HIGH_WATER / 2) {
        this.paused = false;
        this.source.resume();
      }
      return Promise.resolve({ value: queued, done: false });
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.paused) {
      this.paused = false;
      this.source.resume();
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops reading: the consumer will take no more messages, not even those already decoded. */
  return(): Promise<IteratorResult<Envelope>> {
    this.queue.length = 0;
    if (!this.ended && !this.error) {
      this.ended = true;
      this.detach();
      this.source.resume();
    }
    return Promise.resolve({ value: undefined, done: true });
  }
}
