import { kMaxLength } from "node:buffer";
import * as zlib from "node:zlib";
import { Code } from "./code.js";
import { messageSizeError } from "./envelope.js";
import { ConnectError } from "./error.js";

/** A message compression, named as it appears in `*-encoding` headers. */
export interface Compression {
  readonly name: string;
  compress(data: Uint8Array): Promise<Uint8Array>;
  /** Refuses with resource_exhausted once the output would pass `maxBytes`. */
  decompress(data: Uint8Array, maxBytes: number): Promise<Uint8Array>;
}

type ZlibFn = (buf: Uint8Array, options: zlib.ZlibOptions | zlib.BrotliOptions, cb: zlib.CompressCallback) => void;

function fromZlib(name: string, compress: ZlibFn, decompress: ZlibFn): Compression {
  return {
    name,
    compress(data) {
      return new Promise((resolve, reject) => {
        compress(data, {}, (err, out) => (err ? reject(ConnectError.from(err, Code.Internal)) : resolve(out)));
      });
    },
    decompress(data, maxBytes) {
      // zlib stops inflating at maxOutputLength, so a small "zip bomb" never
      // grows past the limit in memory.
      const maxOutputLength = Math.max(1, Math.min(maxBytes, kMaxLength));
      return new Promise((resolve, reject) => {
        decompress(data, { maxOutputLength }, (err, out) => {
          if (!err) return resolve(out);
          if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
            reject(messageSizeError(undefined, maxBytes, "readMaxBytes"));
          } else {
            reject(new ConnectError(`invalid ${name} data: ${err.message}`, Code.InvalidArgument, { cause: err }));
          }
        });
      });
    },
  };
}

/** gzip (RFC 1952), the compression every gRPC and Connect peer supports. */
export const gzip = fromZlib("gzip", zlib.gzip, zlib.gunzip);
/** deflate: zlib-wrapped DEFLATE (RFC 1950), as HTTP's "deflate" coding is. */
export const deflate = fromZlib("deflate", zlib.deflate, zlib.inflate);
// Brotli's default quality (11) costs ~100 ms per MiB; 4 compresses about as well as gzip at a fraction of that.
const brotliCompressFast: ZlibFn = (buf, _options, cb) =>
  zlib.brotliCompress(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }, cb);
/** Brotli (RFC 7932), named "br" on the wire. */
export const brotli = fromZlib("br", brotliCompressFast, zlib.brotliDecompress);

/** Every compression this library implements, in the order it prefers them. */
export const allCompressions: readonly Compression[] = [gzip, brotli, deflate];

/** The name of the absence of compression. */
export const IDENTITY = "identity";

/** A lookup of the compressions one side has enabled. */
export class CompressionRegistry {
  private readonly byName = new Map<string, Compression>();
  /** The `*-accept-encoding` value this side advertises. */
  readonly acceptHeader: string;

  constructor(readonly compressions: readonly Compression[]) {
    for (const c of compressions) this.byName.set(c.name, c);
    this.acceptHeader = compressions.map((c) => c.name).join(",");
  }

  /**
   * The compression for a request's encoding header. Undefined means identity;
   * an encoding this side does not support is unimplemented, naming the
   * supported ones (Connect and gRPC specs both say so).
   */
  forRequest(encoding: string | undefined): Compression | undefined {
    if (encoding === undefined || encoding === "" || encoding === IDENTITY) return undefined;
    const c = this.byName.get(encoding);
    if (c) return c;
    throw new ConnectError(
      `unknown compression "${encoding}": supported encodings are ${[IDENTITY, ...this.byName.keys()].join(", ")}`,
      Code.Unimplemented,
    );
  }

  /** The first encoding in an accept list that this side supports, if any. */
  negotiate(accept: string | undefined): Compression | undefined {
    if (!accept) return undefined;
    for (const item of accept.split(",")) {
      const semi = item.indexOf(";");
      const name = (semi < 0 ? item : item.slice(0, semi)).trim();
      const c = this.byName.get(name);
      if (c) return c;
    }
    return undefined;
  }
}
