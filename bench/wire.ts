// Length-prefixed messages ("envelopes") as gRPC, gRPC-Web and Connect
// streaming frame them: 1 flag byte, a 4-byte big-endian length, the bytes.
// Hand-written here so that the limit server and the bench clients depend on
// nothing from the library under test.
import type { Readable } from "node:stream";

/** Flag bit of a gRPC-Web trailer frame. */
export const TRAILER_FLAG = 0x80;
/** Flag bit of a compressed message. */
export const COMPRESSED_FLAG = 0x01;

export interface Envelope {
  flags: number;
  data: Uint8Array;
}

/** One envelope as a Buffer (Buffer, because every sender here writes to Node streams). */
export function envelope(data: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(5 + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, 5);
  return out;
}

/**
 * Splits a byte stream into envelopes as chunks arrive. Chunks that hold whole
 * envelopes are sliced without copying; only a split envelope is reassembled.
 */
export class EnvelopeReader {
  private pending: Buffer | undefined;

  push(chunk: Buffer): Envelope[] {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    const out: Envelope[] = [];
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      out.push({ flags: buf[0], data: buf.subarray(5, 5 + len) });
      buf = buf.subarray(5 + len);
    }
    if (buf.length > 0) this.pending = buf;
    return out;
  }

  /** Bytes of an envelope that has not fully arrived: non-zero at the end of a body means it was cut short. */
  get leftover(): number {
    return this.pending?.length ?? 0;
  }
}

/** Parses a whole body into envelopes; throws if it ends inside one. */
export function parseEnvelopes(body: Buffer): Envelope[] {
  const reader = new EnvelopeReader();
  const out = reader.push(body);
  if (reader.leftover > 0) throw new Error(`body ends inside an envelope (${reader.leftover} bytes left)`);
  return out;
}

/** Concatenates the chunks of a Node stream (request or response body). */
export async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/**
 * Collects a request body with 'data' events: cheaper than async iteration on
 * a server's hot path. A body that ends because its stream was destroyed (a
 * load generator closing its connections at the end of a run) is dropped:
 * there is nobody left to answer, and responding on a destroyed HTTP/2 stream
 * throws.
 */
export function collect(body: Readable, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  body.on("data", (c: Buffer) => chunks.push(c));
  body.on("end", () => {
    if (!body.destroyed) done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
}

/** "grpc-status: 0\r\n..." as gRPC-Web sends trailers in its last frame, parsed to lower-case keys. */
export function parseTrailerBlock(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of Buffer.from(data).toString("latin1").split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}
