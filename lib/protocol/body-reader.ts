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
 * Reads a whole body, refusing it once it passes `maxBytes` (and at once when
 * a declared content-length already does).
 */
export function readBody(
  source: Readable,
  maxBytes: number,
  contentLength: string | undefined,
  errors: BodyErrors,
): Promise<Buffer> {
  if (contentLength !== undefined) {
    const declared = Number(contentLength);
    if (declared > maxBytes) return Promise.reject(messageSizeError(declared, maxBytes, "readMaxBytes"));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      source.off("data", onData);
      source.off("end", onEnd);
      source.off("error", onClose);
      source.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        cleanup();
        // Drain the rest unread, so an HTTP/1.1 connection stays usable.
        source.resume();
        reject(messageSizeError(size, maxBytes, "readMaxBytes"));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (resetByPeer(source)) {
        reject(errors.gone());
        return;
      }
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onClose = () => {
      cleanup();
      reject(errors.gone());
    };
    source.on("data", onData);
    source.on("end", onEnd);
    source.on("error", onClose);
    source.on("close", onClose);
  });
}

/**
 * Reads the envelopes of a body that should hold exactly one (a unary call),
 * without the iterator machinery of `EnvelopeReader`: one listener per event
 * and one promise. It stops at the second envelope, since that is already an
 * error, and drains the rest unread.
 */
export function readSingleEnvelopeBody(source: Readable, maxBytes: number, errors: BodyErrors): Promise<Envelope[]> {
  return new Promise((resolve, reject) => {
    const decoder = new EnvelopeDecoder(maxBytes);
    const out: Envelope[] = [];
    const cleanup = () => {
      source.off("data", onData);
      source.off("end", onEnd);
      source.off("error", onGone);
      source.off("close", onGone);
    };
    const stop = (e: ConnectError | undefined) => {
      cleanup();
      // Drain the rest unread, so an HTTP/1.1 connection stays usable.
      source.resume();
      if (e) reject(e);
      else resolve(out);
    };
    const onData = (chunk: Buffer) => {
      try {
        decoder.push(chunk, out);
      } catch (e) {
        stop(ConnectError.from(e, Code.InvalidArgument));
        return;
      }
      if (out.length >= 2) stop(undefined);
    };
    const onEnd = () => {
      cleanup();
      if (resetByPeer(source)) reject(errors.gone());
      else if (decoder.partial) reject(errors.truncated(decoder.describeMissing()));
      else resolve(out);
    };
    const onGone = () => {
      cleanup();
      reject(errors.gone());
    };
    source.on("data", onData);
    source.on("end", onEnd);
    source.on("error", onGone);
    source.on("close", onGone);
  });
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

  /**
   * The next envelope if one is already decoded, else undefined (then call
   * `next`): a reader of many small messages skips a promise for each.
   */
  poll(): IteratorResult<Envelope> | undefined {
    const queued = this.queue.shift();
    if (!queued) return undefined;
    if (this.paused && this.queue.length < HIGH_WATER / 2) {
      this.paused = false;
      this.source.resume();
    }
    return { value: queued, done: false };
  }

  next(): Promise<IteratorResult<Envelope>> {
    const queued = this.poll();
    if (queued) return Promise.resolve(queued);
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
