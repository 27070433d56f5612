import type { OutgoingHttpHeaders } from "node:http";
import { EnvelopeReader, readSingleEnvelopeBody } from "../protocol/body-reader.js";
import { Code } from "../protocol/code.js";
import type { Compression } from "../protocol/compression.js";
import { type Envelope, encodeEnvelope, FLAG_COMPRESSED } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { appendHeaders } from "../protocol/headers.js";
import type { ServerCall } from "./call.js";
import { requestBodyErrors } from "./request-body.js";
import { takeOne } from "./router.js";

/**
 * What differs between the enveloped protocols (Connect streaming, gRPC,
 * gRPC-Web); everything else about serving them is shared below.
 */
export interface EnvelopeWire {
  /** Protocol headers of the response head (content-type, encodings). */
  headHeaders(call: ServerCall, responseCompression: Compression | undefined): OutgoingHttpHeaders;
  /** Whether the head must leave the stream open for HTTP trailers. */
  readonly httpTrailers: boolean;
  /** The code for a malformed request envelope (gRPC says internal, Connect invalid_argument). */
  readonly malformedCode: Code;
  /** Ends the response with the call's status: success when `error` is undefined. */
  end(call: ServerCall, out: ResponseState, error: ConnectError | undefined): void;
}

/** The response as far as it has gone, handed to `EnvelopeWire.end`. */
export interface ResponseState {
  /** Whether the head (with these headers) has been sent. */
  headSent: boolean;
  /** A unary call's one response envelope, held back to go out with the status in one write. */
  body?: Uint8Array;
  /** The full head, built on first use: protocol headers plus the handler's. */
  head(): OutgoingHttpHeaders;
  /** The handler's trailers, if it set any. */
  trailer: Headers | undefined;
}

/** Request messages decoded from envelopes, as the handler's async iterable. */
class RequestMessages implements AsyncIterableIterator<unknown> {
  constructor(
    private readonly call: ServerCall,
    private readonly reader: EnvelopeReader,
    private readonly compression: Compression | undefined,
    private readonly malformedCode: Code,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  async next(): Promise<IteratorResult<unknown>> {
    const r = await this.reader.next();
    if (r.done) return r;
    return { value: await this.decode(r.value), done: false };
  }

  return(): Promise<IteratorResult<unknown>> {
    return this.reader.return();
  }

  private decode(env: Envelope): unknown {
    return decodeRequest(this.call, env, this.compression, this.malformedCode);
  }
}

/** One request message from its envelope: flags checked, decompressed if flagged, decoded. */
function decodeRequest(
  call: ServerCall,
  env: Envelope,
  compression: Compression | undefined,
  malformedCode: Code,
): unknown {
  if ((env.flags & ~FLAG_COMPRESSED) !== 0) {
    throw new ConnectError(`invalid envelope flags 0x${env.flags.toString(16)} in request`, malformedCode);
  }
  if (env.flags & FLAG_COMPRESSED) {
    if (!compression) {
      // PROTOCOL-HTTP2.md: a compressed flag needs a message encoding other than identity. Internal for
      // every protocol, as connect-go's envelope reader and the conformance suite have it.
      throw new ConnectError("received a compressed message, but the request declares no compression", Code.Internal);
    }
    return compression.decompress(env.data, call.options.readMaxBytes).then((data) => call.codec.input.decode(data));
  }
  return call.codec.input.decode(env.data);
}

/** The compressions of a call, as its request headers negotiate them. */
export interface CallCompression {
  request: Compression | undefined;
  response: Compression | undefined;
}

/** Decodes the request body before framing (gRPC-Web text: base64). */
export interface BodyTransform {
  chunk(b: Buffer): Buffer;
  flush(): void;
}

/**
 * Serves one call over an enveloped protocol. `negotiate` reads the
 * protocol's request headers (timeout, encodings); if it throws, the call ends
 * at once with that error. Then requests are decoded as the handler pulls
 * them, each response goes out as one envelope with backpressure, and the call
 * ends with the protocol's status. Deadlines, cancellation and shutdown all
 * end the call through `call.ctx.abort`, which reaches `finish` here.
 */
export async function serveEnveloped(
  call: ServerCall,
  wire: EnvelopeWire,
  negotiate: () => CallCompression,
  transform?: BodyTransform,
): Promise<void> {
  let compression: CallCompression;
  try {
    compression = negotiate();
  } catch (e) {
    const error = call.wireError(e);
    if (call.complete(error)) {
      wire.end(call, { headSent: false, head: () => wire.headHeaders(call, undefined), trailer: undefined }, error);
    }
    return;
  }
  const { request: requestCompression, response: responseCompression } = compression;
  const { adapter, ctx, options } = call;
  let userHeader: Headers | undefined;
  let userTrailer: Headers | undefined;
  let head: OutgoingHttpHeaders | undefined;
  const state: ResponseState = {
    headSent: false,
    head() {
      if (!head) {
        head = wire.headHeaders(call, responseCompression);
        const h = userHeader ?? ctx.responseHeaderIfSet;
        if (h) appendHeaders(head, h);
      }
      return head;
    },
    get trailer() {
      return userTrailer ?? ctx.responseTrailerIfSet;
    },
  };
  const finish = (error: ConnectError | undefined) => {
    if (!call.complete(error)) return;
    wire.end(call, state, error);
  };
  ctx.setAbortHandler(finish);
  adapter.onAbort(() => {
    call.complete(new ConnectError("the client canceled the call", Code.Canceled));
    ctx.abort(new ConnectError("the client canceled the call", Code.Canceled));
  });

  const sendHead = () => {
    if (state.headSent || call.finished) return;
    state.headSent = true;
    adapter.head(200, state.head(), { trailers: wire.httpTrailers });
  };
  ctx.setHeaderSender(sendHead);

  const frame = async (message: unknown) => {
    let bytes = call.codec.output.encode(message);
    call.checkWriteSize(bytes);
    let flags = 0;
    if (responseCompression && bytes.byteLength >= options.compressMinBytes) {
      bytes = await responseCompression.compress(bytes);
      flags = FLAG_COMPRESSED;
    }
    return encodeEnvelope(flags, bytes);
  };
  const sendMessage = async (message: unknown) => {
    const envelope = await frame(message);
    if (call.finished) return;
    sendHead();
    await adapter.write(envelope);
  };

  const requestMessages = () =>
    new RequestMessages(
      call,
      new EnvelopeReader(call.source, call.options.readMaxBytes, requestBodyErrors, transform?.chunk, transform?.flush),
      requestCompression,
      wire.malformedCode,
    );
  try {
    if (call.entry.unary && !transform) {
      // Unary over an enveloped protocol: exactly one request message, read
      // without a streaming reader (the hot path of most RPC traffic).
      const envelopes = await readSingleEnvelopeBody(call.source, call.options.readMaxBytes, requestBodyErrors);
      if (envelopes.length !== 1) {
        const got = envelopes.length === 0 ? "none" : "more";
        throw new ConnectError(
          `${call.entry.method.name}: expected one request message, got ${got}`,
          Code.Unimplemented,
        );
      }
      const request = await decodeRequest(call, envelopes[0], requestCompression, wire.malformedCode);
      const res = await call.callUnary(request);
      userHeader = res.header;
      userTrailer = res.trailer;
      if (call.finished) return;
      // Head, message and status leave together when the call ends below (one write on HTTP/1.1).
      const envelope = await frame(res.message);
      if (call.finished) return;
      state.body = envelope;
    } else if (call.entry.unary) {
      const request = await takeOne(call.entry.method, requestMessages());
      const res = await call.callUnary(request);
      userHeader = res.header;
      userTrailer = res.trailer;
      if (call.finished) return;
      await sendMessage(res.message);
    } else {
      const res = await call.callStream(requestMessages());
      userHeader = res.header;
      userTrailer = res.trailer;
      const it = res.message[Symbol.asyncIterator]();
      for (;;) {
        const r = await it.next();
        if (call.finished) {
          // Aborted meanwhile: let the handler's generator run its finally blocks.
          void it.return?.()?.catch(() => {});
          return;
        }
        if (r.done) break;
        await sendMessage(r.value);
      }
    }
    finish(undefined);
  } catch (e) {
    if (call.finished) return;
    finish(call.wireError(e));
  }
}
