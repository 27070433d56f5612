import { Code } from "./code.js";
import { ConnectError } from "./error.js";

/**
 * Envelope framing shared by Connect streaming, gRPC and gRPC-Web: one flags
 * byte, a big-endian uint32 length, then the message.
 */
export interface Envelope {
  flags: number;
  data: Uint8Array;
}

/** Flag bit: the message is compressed with the stream's encoding. */
export const FLAG_COMPRESSED = 0b0000_0001;
/** Flag bit: Connect end-of-stream message. */
export const FLAG_END_STREAM = 0b0000_0010;
/** Flag bit: gRPC-Web trailers frame. */
export const FLAG_TRAILERS = 0b1000_0000;

const HEADER_SIZE = 5;

/** The option a message size is checked against. */
export type SizeLimit = "readMaxBytes" | "writeMaxBytes";

/**
 * The error for a message over a configured size limit: resource_exhausted
 * (PROTOCOL-HTTP2.md and connect-go: a message larger than the peer allows).
 * `size` is undefined where only "larger" is known (decompression stopped at
 * the limit).
 */
export function messageSizeError(size: number | undefined, limit: number, option: SizeLimit): ConnectError {
  const what = size === undefined ? "decompressed message size" : `message size ${size}`;
  return new ConnectError(`${what} is larger than configured ${option} ${limit}`, Code.ResourceExhausted);
}

/** Throws messageSizeError when `size` is over `limit`. */
export function checkMessageSize(size: number, limit: number, option: SizeLimit): void {
  if (size > limit) throw messageSizeError(size, limit, option);
}

/** Frames one message into a single buffer, so it goes out in one write. */
export function encodeEnvelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, HEADER_SIZE);
  return out;
}

/**
 * Incremental decoder: feed it chunks as they arrive, get whole envelopes
 * out. A length above `maxBytes` is refused from the header alone, before any
 * of the message is buffered.
 */
export class EnvelopeDecoder {
  private chunks: Uint8Array[] = [];
  /**
   * Bytes of `chunks[0]` already read. An offset rather than a re-sliced
   * chunk: a stream of small messages would otherwise make two Buffer views
   * per message for the rest of the chunk alone.
   */
  private offset = 0;
  /** Bytes received and not yet read. */
  private buffered = 0;
  /** The length of the message whose header has been read, or -1. */
  private length = -1;
  private flags = 0;

  constructor(private readonly maxBytes: number) {}

  /** Adds a chunk; appends every envelope it completes to `out`. */
  push(chunk: Uint8Array, out: Envelope[]): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    for (;;) {
      if (this.length < 0) {
        if (this.buffered < HEADER_SIZE) return;
        this.flags = this.byte();
        this.length = ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
        checkMessageSize(this.length, this.maxBytes, "readMaxBytes");
      }
      if (this.buffered < this.length) return;
      out.push({ flags: this.flags, data: this.take(this.length) });
      this.length = -1;
    }
  }

  /** True when part of an envelope has been received but not all of it. */
  get partial(): boolean {
    return this.buffered > 0 || this.length >= 0;
  }

  /** Describes what is missing, for a "truncated" error. */
  describeMissing(): string {
    if (this.length < 0) return `incomplete envelope header: ${this.buffered} of 5 bytes`;
    return `incomplete envelope: ${this.buffered} of ${this.length} message bytes`;
  }

  /** Reads one byte (the caller has checked that it is there). */
  private byte(): number {
    const first = this.chunks[0];
    const b = first[this.offset++];
    this.buffered--;
    if (this.offset === first.byteLength) this.dropFirst();
    return b;
  }

  private dropFirst(): void {
    this.chunks.shift();
    this.offset = 0;
  }

  private take(n: number): Uint8Array {
    // An empty message is valid (a gRPC request with all fields at defaults).
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0];
    const start = this.offset;
    this.buffered -= n;
    if (first.byteLength - start >= n) {
      // The usual case: the bytes sit in one chunk, so no copy is made.
      this.offset += n;
      if (this.offset === first.byteLength) this.dropFirst();
      return first.subarray(start, start + n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const available = c.byteLength - this.offset;
      const want = n - filled;
      if (available <= want) {
        out.set(this.offset === 0 ? c : c.subarray(this.offset), filled);
        filled += available;
        this.dropFirst();
      } else {
        out.set(c.subarray(this.offset, this.offset + want), filled);
        this.offset += want;
        filled = n;
      }
    }
    return out;
  }
}
