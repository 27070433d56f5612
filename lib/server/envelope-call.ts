import type { OutgoingHttpHeaders } from "node:http";
import { EnvelopeReader, readSingleEnvelopeBody } from "../protocol/body-reader.js";
import { Code } from "../protocol/code.js";
import type { Compression } from "../protocol/compression.js";
import { type Envelope, encodeEnvelope, FLAG_COMPRESSED } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { appendHeaders } from "../protocol/headers.js";
import type { EncodedMessage, ServerCall, UnaryResult } from "./call.js";
import { settle } from "./maybe-promise.js";
import { requestBodyErrors } from "./request-body.js";
import { requestCountError } from "./router.js";

/**
 * What differs between the enveloped protocols (Connect streaming, gRPC,
 * gRPC-Web); everything else about serving them is shared below.
 */
export interface EnvelopeWire {
  /** Protocol headers of the response head (content-type, encodings). */
  headHeaders(call: ServerCall, responseCompression: Compression | undefined): OutgoingHttpHeaders;
  /** Whether the status goes out as HTTP trailers (gRPC): the head then leaves the stream open for them. */
  readonly httpTrailers: boolean;
  /** The code for a request envelope with undefined flags (gRPC says internal, Connect invalid_argument). */
  readonly malformedCode: Code;
  /** Describes how the call's status leaves; `EnvelopedResponse.end` does the writing. */
  end(error: ConnectError | undefined, trailer: Headers | undefined): ResponseEnd;
}

/** How a call's status leaves, as a protocol describes it. */
export interface ResponseEnd {
  /** The status as HTTP trailers (gRPC). */
  trailers?: OutgoingHttpHeaders;
  /** The status as the body's last frame (gRPC-Web's trailers frame, Connect's end-of-stream message). */
  frame?: Uint8Array;
  /**
   * The status as header fields that make up a trailers-only head when no
   * message was sent (PROTOCOL-HTTP2.md, "Trailers-Only"; gRPC and gRPC-Web).
   */
  trailersOnly?: OutgoingHttpHeaders;
}

/** The compressions of a call, as its request headers negotiate them. */
export interface CallCompression {
  request: Compression | undefined;
  response: Compression | undefined;
}

function toEnvelope({ data, compressed }: EncodedMessage): Uint8Array {
  return encodeEnvelope(compressed ? FLAG_COMPRESSED : 0, data);
}

/** Body encodings around the envelopes, both ways (gRPC-Web text: base64). */
export interface BodyTransform {
  /** Decodes a chunk of the request body before framing. */
  decode(b: Buffer): Buffer;
  /** Called when the request body ends; throws if it ended inside an encoded group. */
  flush(): void;
  /** Encodes response bytes as they are written. */
  encode(b: Uint8Array): Uint8Array;
}

/**
 * Serves one call over an enveloped protocol. `negotiate` reads the
 * protocol's request headers (timeout, encodings); if it throws, the call ends
 * at once with that error. Then requests are decoded as the handler pulls
 * them, each response goes out as one envelope with backpressure, and the call
 * ends with the protocol's status. Deadlines, cancellation and shutdown all
 * end the call through `call.ctx.abort`, which reaches `EnvelopedResponse.end`.
 */
export function serveEnveloped(
  call: ServerCall,
  wire: EnvelopeWire,
  negotiate: () => CallCompression,
  transform?: BodyTransform,
): void {
  let compression: CallCompression;
  try {
    if (call.earlyError) throw call.earlyError;
    compression = negotiate();
  } catch (e) {
    new EnvelopedResponse(call, wire, undefined, transform).end(call.wireError(e));
    return;
  }
  const response = new EnvelopedResponse(call, wire, compression.response, transform);
  call.ctx.setAbortHandler(response.end);
  call.ctx.setHeaderSender(response.sendHead);
  call.watchClientAbort();
  const requests = new RequestDecoder(call, compression.request, wire.malformedCode, transform);
  const fail = (e: unknown) => {
    if (!call.finished) response.end(call.wireError(e));
  };
  if (call.entry.unary) serveUnary(call, response, requests, fail);
  else
    settle(
      () => serveStream(call, response, requests),
      () => response.end(undefined),
      fail,
    );
}

/** A unary call: one request, and one response held back to leave with the status. */
function serveUnary(
  call: ServerCall,
  response: EnvelopedResponse,
  requests: RequestDecoder,
  fail: (e: unknown) => void,
): void {
  const respond = (res: UnaryResult) => {
    response.result = res;
    if (call.finished) return;
    settle(
      () => response.encode(res.message),
      (envelope) => {
        // Head, message and status leave together when the call ends (one write on HTTP/1.1).
        if (!call.finished) response.held = envelope;
        response.end(undefined);
      },
      fail,
    );
  };
  requests.one((request) => call.callUnary(request, respond, fail), fail);
}

/** Any streaming call: requests as the handler pulls them, each response sent as it comes. */
async function serveStream(call: ServerCall, response: EnvelopedResponse, requests: RequestDecoder): Promise<void> {
  const res = await call.callStream(requests.stream());
  response.result = res;
  const it = res.message[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (call.finished) {
      // Aborted meanwhile: let the handler's generator run its finally blocks.
      void it.return?.()?.catch(() => {});
      return;
    }
    if (r.done) return;
    const sent = response.send(r.value);
    if (sent) await sent;
  }
}

/**
 * The response of one enveloped call: the head (protocol headers, then the
 * handler's), messages written with backpressure, and `end`, the one place
 * where an enveloped response ends.
 */
class EnvelopedResponse {
  /** What the handler (or an interceptor) returned: its response headers and trailers. */
  result?: { header?: Headers; trailer?: Headers };
  /** A unary call's one response envelope, held back to go out with the status. */
  held?: Uint8Array;

  constructor(
    private readonly call: ServerCall,
    private readonly wire: EnvelopeWire,
    private readonly compression: Compression | undefined,
    private readonly transform: BodyTransform | undefined,
  ) {}

  private head(): OutgoingHttpHeaders {
    const head = this.wire.headHeaders(this.call, this.compression);
    const h = this.result?.header ?? this.call.ctx.responseHeaderIfSet;
    if (h) appendHeaders(head, h);
    return head;
  }

  private body(bytes: Uint8Array): Uint8Array {
    return this.transform ? this.transform.encode(bytes) : bytes;
  }

  /** Sends the head unless it has gone (before the first message, or on `ctx.sendHeader()`). */
  readonly sendHead = (): void => {
    const { adapter } = this.call;
    if (adapter.headSent || this.call.finished) return;
    adapter.head(200, this.head(), { trailers: this.wire.httpTrailers });
  };

  /** One response message as an envelope: encoded, size-checked, compressed (a promise only then). */
  encode(message: unknown): Uint8Array | Promise<Uint8Array> {
    const encoded = this.call.encodeResponse(message, this.compression);
    return encoded instanceof Promise ? encoded.then(toEnvelope) : toEnvelope(encoded);
  }

  /** Sends one message of a stream; a promise only while compressing or when the client is not keeping up. */
  send(message: unknown): Promise<void> | undefined {
    const envelope = this.encode(message);
    return envelope instanceof Promise ? envelope.then(this.write) : this.write(envelope);
  }

  private readonly write = (envelope: Uint8Array): Promise<void> | undefined => {
    if (this.call.finished) return undefined;
    this.sendHead();
    return this.call.adapter.write(this.body(envelope));
  };

  /** Ends the call with its status, success when `error` is undefined; only the first end counts. */
  readonly end = (error: ConnectError | undefined): void => {
    const { call, wire } = this;
    if (!call.complete(error)) return;
    const { adapter } = call;
    const end = wire.end(error, this.result?.trailer ?? call.ctx.responseTrailerIfSet);
    // A unary response held back for the status is dropped if the call failed meanwhile (a deadline, say).
    const held = error ? undefined : this.held;
    if (!adapter.headSent && held === undefined && end.trailersOnly) {
      // Trailers-only: one HEADERS frame that carries the status and ends the stream.
      adapter.head(200, { ...this.head(), ...end.trailersOnly }, { endStream: true });
      return;
    }
    const last = held && end.frame ? Buffer.concat([held, end.frame]) : (end.frame ?? held);
    const body = last && this.body(last);
    if (!adapter.headSent) {
      const head = this.head();
      // The whole response is known: a content-length spares HTTP/1.1 the chunked framing.
      if (!wire.httpTrailers && body) head["content-length"] = body.byteLength;
      adapter.head(200, head, { trailers: wire.httpTrailers });
    }
    adapter.end(body, end.trailers);
  };
}

/** The request side of an enveloped call: envelopes off the body, checked and decoded. */
class RequestDecoder {
  constructor(
    private readonly call: ServerCall,
    private readonly compression: Compression | undefined,
    private readonly malformedCode: Code,
    private readonly transform: BodyTransform | undefined,
  ) {}

  /** Decodes the one request of a unary call, then hands it to `next`; any error goes to `fail`. */
  one(next: (request: unknown) => void, fail: (e: unknown) => void): void {
    const { call } = this;
    if (this.transform) {
      settle(() => call.takeOne(this.stream()), next, fail);
      return;
    }
    // Exactly one envelope, read without a streaming reader (the hot path of most RPC traffic). A promise,
    // not a callback: Node runs the body's 'data'/'end' listeners in the context of the socket read, and a
    // promise made here carries the caller's AsyncLocalStorage context (a request context, @fastify/otel's
    // span) to the handler. AsyncResource.bind would too, but measured slower than the promise.
    readSingleEnvelopeBody(call.source, call.options.readMaxBytes, requestBodyErrors).then(
      (envelopes) => settle(() => this.decodeOnly(envelopes), next, fail),
      fail,
    );
  }

  /** The message of a unary body's one envelope; none or two is unimplemented. */
  private decodeOnly(envelopes: Envelope[]): unknown {
    if (envelopes.length !== 1)
      throw requestCountError(this.call.entry.method, envelopes.length === 0 ? "none" : "more");
    return this.decode(envelopes[0]);
  }

  /** Every request, as the handler's async iterable. */
  stream(): AsyncIterableIterator<unknown> {
    const { call, transform } = this;
    const reader = new EnvelopeReader(
      call.source,
      call.options.readMaxBytes,
      requestBodyErrors,
      transform?.decode,
      transform?.flush,
    );
    return new RequestMessages(reader, (env) => this.decode(env));
  }

  /** One request message from its envelope: flags checked, decompressed if flagged, decoded. */
  private decode(env: Envelope): unknown {
    if ((env.flags & ~FLAG_COMPRESSED) !== 0) {
      throw new ConnectError(`invalid envelope flags 0x${env.flags.toString(16)} in request`, this.malformedCode);
    }
    if ((env.flags & FLAG_COMPRESSED) === 0) return this.call.decodeRequest(env.data, undefined);
    if (!this.compression) {
      // PROTOCOL-HTTP2.md: a compressed flag needs a message encoding other than identity. Internal for
      // every protocol, as connect-go's envelope reader and the conformance suite have it.
      throw new ConnectError("received a compressed message, but the request declares no compression", Code.Internal);
    }
    return this.call.decodeRequest(env.data, this.compression);
  }
}

/** Request messages decoded from envelopes as the handler pulls them; `return()` releases the body at once. */
class RequestMessages implements AsyncIterableIterator<unknown> {
  constructor(
    private readonly reader: EnvelopeReader,
    private readonly decode: (env: Envelope) => unknown,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  /**
   * One promise per message (two while decompressing): an async function with
   * two awaits cost a bidi ping-pong more turns of the microtask queue per
   * message (bench/RESULTS.md, "a bidi request's messages").
   */
  next(): Promise<IteratorResult<unknown>> {
    const queued = this.reader.poll();
    if (!queued) return this.reader.next().then(this.decoded);
    try {
      const r = this.decoded(queued);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private readonly decoded = (
    r: IteratorResult<Envelope>,
  ): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
    if (r.done) return r;
    const value = this.decode(r.value);
    return value instanceof Promise ? value.then((v: unknown) => ({ value: v, done: false })) : { value, done: false };
  };

  return(): Promise<IteratorResult<unknown>> {
    return this.reader.return();
  }
}
