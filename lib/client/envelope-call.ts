import type { OutgoingHttpHeaders } from "node:http";
import { type BodyErrors, EnvelopeReader } from "../protocol/body-reader.js";
import { Code } from "../protocol/code.js";
import type { Compression } from "../protocol/compression.js";
import { type Envelope, encodeEnvelope, FLAG_COMPRESSED } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { headersFromIncoming } from "../protocol/headers.js";
import { type ClientCall, type EncodedMessage, toCallError } from "./call.js";
import type { HttpExchange, ResponseHead } from "./exchange.js";
import type {
  ClientStreamRequest,
  ClientStreamResponse,
  ClientUnaryRequest,
  ClientUnaryResponse,
} from "./interceptor.js";

type AnyRequest = ClientStreamRequest | ClientUnaryRequest;

/** How a call ended: its error, if it failed, and the trailers. */
export interface CallEnd {
  error?: ConnectError;
  trailer: Headers;
}

/**
 * What differs between the enveloped protocols on the client (Connect
 * streaming, gRPC, gRPC-Web); the rest of a call is shared below, mirroring
 * the server's `EnvelopeWire`.
 */
export interface ClientEnvelopeWire {
  /** Protocol request headers: content-type, encodings, the deadline. */
  requestHeaders(call: ClientCall): OutgoingHttpHeaders;
  /**
   * Reads the response head: the messages' compression, and the call's end
   * when the head carries a status (a trailers-only response, if nothing
   * follows the head). Throws when the head is not one of this protocol's
   * responses (a proxy's HTTP error).
   */
  readHead(call: ClientCall, head: ResponseHead): { compression: Compression | undefined; end?: CallEnd };
  /** The flag of the frame that ends the body (Connect end-of-stream, gRPC-Web trailers); 0 if none. */
  readonly endFlag: number;
  /** The call's end, from that last frame, or from the HTTP trailers when there is none. */
  readEnd(call: ClientCall, frame: Uint8Array | undefined, exchange: HttpExchange): CallEnd;
}

function responseBodyErrors(exchange: HttpExchange): BodyErrors {
  return {
    gone: () => exchange.goneError(),
    truncated: (missing) => new ConnectError(`truncated response body: ${missing}`, Code.Internal),
  };
}

/**
 * Sends request messages on an exchange as they come, with backpressure, then
 * ends the request. An error from the caller's iterable (or in encoding)
 * fails the call with it; a failed write does not, since the response side
 * then reports why the server stopped.
 */
async function sendRequestMessages(
  call: ClientCall,
  exchange: HttpExchange,
  messages: AsyncIterable<unknown>,
): Promise<void> {
  try {
    for await (const m of messages) {
      if (call.aborted || call.responseEnded) return;
      if (!(await writeMessage(call, exchange, m))) return;
    }
    endRequest(call, exchange);
  } catch (e) {
    call.abort(toCallError(e));
  }
}

/**
 * A unary call's one request message, then the end of the request, as
 * sendRequestMessages does without iterating. Not the message in the write
 * that ends it: behind nginx that made calls fail during a rolling restart
 * (bench/RESULTS.md, "a unary request body in the write that ends it").
 */
async function sendOneMessage(call: ClientCall, exchange: HttpExchange, message: unknown): Promise<void> {
  if (call.aborted || call.responseEnded) return;
  try {
    if (await writeMessage(call, exchange, message)) endRequest(call, exchange);
  } catch (e) {
    call.abort(toCallError(e));
  }
}

/**
 * Encodes one request message and writes it. Resolves false when the write
 * failed (the response side reports why); throws, or rejects, when encoding
 * failed.
 */
function writeMessage(call: ClientCall, exchange: HttpExchange, message: unknown): Promise<boolean> {
  const envelope = envelopeOf(call, message);
  if (envelope instanceof Promise) return envelope.then((bytes) => written(exchange, bytes));
  return written(exchange, envelope);
}

/** Whether the write went through: a failed one, thrown or rejected, is false. */
function written(exchange: HttpExchange, bytes: Uint8Array): Promise<boolean> {
  try {
    return exchange.write(bytes).then(
      () => true,
      () => false,
    );
  } catch {
    return Promise.resolve(false);
  }
}

function endRequest(call: ClientCall, exchange: HttpExchange): void {
  call.requestEnded = true;
  exchange.end();
}

function envelopeOf(call: ClientCall, message: unknown): Uint8Array | Promise<Uint8Array> {
  const encoded = call.encodeRequest(message);
  if (encoded instanceof Promise) return encoded.then(envelopeOfEncoded);
  return envelopeOfEncoded(encoded);
}

function envelopeOfEncoded({ data, compressed }: EncodedMessage): Uint8Array {
  return encodeEnvelope(compressed ? FLAG_COMPRESSED : 0, data);
}

/** Sends the request body on an opened exchange: one message, or a stream of them. */
type RequestSender = (exchange: HttpExchange) => Promise<void>;

/** Opens the exchange and starts sending; resolves with the response head. */
async function start(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  req: AnyRequest,
  send: RequestSender,
): Promise<{ exchange: HttpExchange; head: ResponseHead }> {
  const headers = call.headers(wire.requestHeaders(call), req.header);
  call.throwIfAborted();
  const exchange = await call.config.http.open({
    method: "POST",
    path: call.config.basePath + pathOf(req),
    headers,
    cancel: call,
    noBody: false,
    // One request message the call holds; a client or bidi stream's iterable cannot be read again.
    replayable: req.method.methodKind === "unary" || req.method.methodKind === "server_streaming",
  });
  void send(exchange);
  return { exchange, head: await exchange.head };
}

function pathOf(req: AnyRequest): string {
  return `/${req.service.typeName}/${req.method.name}`;
}

/** A response whose head has been read: how its messages are compressed and, if trailers-only, its end. */
interface OpenedResponse {
  exchange: HttpExchange;
  head: ResponseHead;
  compression: Compression | undefined;
  /** The end carried by the head of a trailers-only response. */
  headEnd: CallEnd | undefined;
  reader: EnvelopeReader;
  /** The body's first envelope, when it was read to tell a trailers-only response apart. */
  first?: IteratorResult<Envelope>;
}

/**
 * Opens the exchange, sends the requests and reads the head. PROTOCOL-HTTP2.md:
 * "Trailers-Only" is a HEADERS frame that ends the stream, so a head with a
 * status that a body or HTTP trailers follow is not one: its status is
 * ignored and the real end is read (as grpc-go and connect-go do). Telling
 * them apart waits for the body's first envelope, which costs nothing for a
 * real trailers-only response (its body ends at once).
 */
async function openResponse(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  req: AnyRequest,
  send: RequestSender,
): Promise<OpenedResponse> {
  const { exchange, head } = await start(wire, call, req, send);
  const { compression, end } = wire.readHead(call, head);
  const reader = new EnvelopeReader(exchange.body, call.config.readMaxBytes, responseBodyErrors(exchange));
  if (!end) return { exchange, head, compression, headEnd: undefined, reader };
  const first = await reader.next();
  const nothingFollows = first.done === true && Object.keys(exchange.trailers()).length === 0;
  return { exchange, head, compression, headEnd: nothingFollows ? end : undefined, reader, first };
}

/**
 * Unary and client-streaming responses carry exactly one message; another
 * count is unimplemented (as connect-go and grpc-go report it). The message
 * is held until the end has been read, so a caller never sees one from a
 * response that breaks the rule.
 */
class SingleMessage {
  private message: unknown;
  private count = 0;

  add(message: unknown): void {
    if (++this.count > 1) {
      throw new ConnectError("protocol error: expected one response message, got more", Code.Unimplemented);
    }
    this.message = message;
  }

  take(): unknown {
    if (this.count === 0) {
      throw new ConnectError("protocol error: expected one response message, got none", Code.Unimplemented);
    }
    return this.message;
  }
}

/** Runs a call of any kind over an enveloped protocol; the response messages stream as they arrive. */
export function runEnveloped(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  req: ClientStreamRequest,
): Promise<ClientStreamResponse> {
  return runCall(wire, call, req, (exchange) => sendRequestMessages(call, exchange, req.message));
}

/** A call of any kind, whose request body `send` writes. */
async function runCall(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  req: AnyRequest,
  send: RequestSender,
): Promise<ClientStreamResponse> {
  let res: OpenedResponse;
  try {
    res = await openResponse(wire, call, req, send);
  } catch (e) {
    const error = call.failure(e);
    call.finish();
    throw error;
  }
  // A trailers-only response has no headers of its own: its metadata are trailers (as connect-go reads it).
  const header = res.headEnd ? new Headers() : headersFromIncoming(res.head.headers);
  call.responseHeader = header;
  const trailer = new Headers();
  const single = req.method.methodKind === "unary" || req.method.methodKind === "client_streaming";
  return {
    stream: true,
    service: req.service,
    method: req.method,
    header,
    trailer,
    message: responseMessages(wire, call, res, single ? new SingleMessage() : undefined, header, trailer),
  };
}

/** The response messages, then the call's end: its trailers filled in, its error thrown. */
async function* responseMessages(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  res: OpenedResponse,
  one: SingleMessage | undefined,
  header: Headers,
  trailer: Headers,
): AsyncGenerator<unknown> {
  try {
    let end = res.headEnd;
    if (!end) {
      const body: BodyEnd = { frame: undefined };
      const reader = res.reader;
      for (let r = res.first ?? reader.poll() ?? (await reader.next()); ; r = reader.poll() ?? (await reader.next())) {
        // Messages already buffered are not handed out once the call is cancelled.
        call.throwIfAborted();
        if (r.done) break;
        let message = readEnvelope(wire, call, res.compression, r.value, body);
        if (message instanceof Promise) message = await message;
        if (message === END_FRAME) continue;
        if (one) one.add(message);
        else yield message;
      }
      end = wire.readEnd(call, body.frame, res.exchange);
    }
    call.responseEnded = true;
    for (const [name, value] of end.trailer) trailer.append(name, value);
    if (end.error) {
      // The error's metadata holds the headers too, whichever protocol carried it (as connect-es does).
      if (!res.headEnd) for (const [name, value] of header) end.error.metadata.append(name, value);
      throw end.error;
    }
    if (one) yield one.take();
  } catch (e) {
    throw call.failure(e);
  } finally {
    call.finish();
  }
}

/** What `readEnvelope` returns for the frame that ends the body, which it keeps in `BodyEnd`. */
const END_FRAME = Symbol("end frame");

/** The frame that ended the body (Connect end-of-stream, gRPC-Web trailers), once read. */
interface BodyEnd {
  frame: Uint8Array | undefined;
}

/**
 * One response envelope: a message decoded, or the end frame kept
 * (decompressed) in `body`. A promise only when the envelope is compressed.
 */
function readEnvelope(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  compression: Compression | undefined,
  env: Envelope,
  body: BodyEnd,
): unknown {
  if (body.frame !== undefined) {
    throw new ConnectError("protocol error: data after the end of the stream", Code.Internal);
  }
  const compressed = (env.flags & FLAG_COMPRESSED) !== 0;
  if (compressed && !compression) {
    throw new ConnectError("protocol error: compressed message without a response encoding", Code.Internal);
  }
  if (wire.endFlag !== 0 && (env.flags & wire.endFlag) !== 0) {
    if (!compressed || !compression) {
      body.frame = env.data;
      return END_FRAME;
    }
    return call.decompressResponse(env.data, compression).then((frame) => {
      body.frame = frame;
      return END_FRAME;
    });
  }
  if ((env.flags & ~FLAG_COMPRESSED) !== 0) {
    throw new ConnectError(`protocol error: invalid envelope flags 0x${env.flags.toString(16)}`, Code.Internal);
  }
  return call.decodeResponse(env.data, compressed ? compression : undefined);
}

/** A unary call over an enveloped protocol: one message each way (runEnveloped checks the count). */
export async function runEnvelopedUnary(
  wire: ClientEnvelopeWire,
  call: ClientCall,
  req: ClientUnaryRequest,
): Promise<ClientUnaryResponse> {
  const res = await runCall(wire, call, req, (exchange) => sendOneMessage(call, exchange, req.message));
  let message: unknown;
  for await (const m of res.message) message = m;
  return { stream: false, service: req.service, method: req.method, header: res.header, trailer: res.trailer, message };
}
