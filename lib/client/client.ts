import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { HeadersInit } from "../protocol/headers.js";
import type { MethodOfKind } from "../protocol/method-kind.js";
import type { Transport } from "./transport.js";

/** Options of one call. */
export interface CallOptions {
  /** Request metadata. Binary values go in `-bin` headers, encoded with `encodeBinaryHeader`. */
  headers?: HeadersInit;
  /** The deadline, in milliseconds from now; the server sees it and the call fails with deadline_exceeded after it. */
  timeoutMs?: number;
  /** Aborting it cancels the call (RST_STREAM CANCEL on HTTP/2); the call fails with canceled. */
  signal?: AbortSignal;
  /**
   * A server handler's context (or anything with its `signal` and `timeoutMs()`):
   * the call inherits its remaining deadline and is cancelled with it.
   * `client.say(req, { context: ctx })` inside a handler propagates both.
   */
  context?: { readonly signal: AbortSignal; timeoutMs(): number | undefined };
  /** Called with the response headers when they arrive. */
  onHeader?(header: Headers): void;
  /**
   * Called with the response trailers when the call ends. When it fails, with the
   * error's metadata instead: the headers and trailers that came with the error.
   */
  onTrailer?(trailer: Headers): void;
}

/** A unary method: a request (message or init object) in, a response out. */
export type UnaryFn<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;
/** A server-streaming method: one request, responses as they arrive. */
export type ServerStreamingFn<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<O>>;
/** A client-streaming method: requests from any (async) iterable, one response. */
export type ClientStreamingFn<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageInitShape<I>> | Iterable<MessageInitShape<I>>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;
/** A bidi-streaming method: requests and responses flow at once (full duplex over HTTP/2). */
export type BiDiStreamingFn<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageInitShape<I>> | Iterable<MessageInitShape<I>>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<O>>;

/** The client function of one method, by its kind. */
export type ClientMethod<M extends DescMethod> =
  M extends MethodOfKind<"unary", infer I, infer O>
    ? UnaryFn<I, O>
    : M extends MethodOfKind<"server_streaming", infer I, infer O>
      ? ServerStreamingFn<I, O>
      : M extends MethodOfKind<"client_streaming", infer I, infer O>
        ? ClientStreamingFn<I, O>
        : M extends MethodOfKind<"bidi_streaming", infer I, infer O>
          ? BiDiStreamingFn<I, O>
          : never;

/** A typed client: one function per method of the service, named as in the generated descriptor. */
export type Client<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
};

async function* one(message: unknown): AsyncGenerator<unknown> {
  yield message;
}

async function* fromIterable(requests: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<unknown> {
  yield* requests;
}

/** The response of a client-streaming call; the transport checked that it is exactly one message. */
async function single(responses: AsyncIterable<unknown>): Promise<unknown> {
  let message: unknown;
  for await (const m of responses) message = m;
  return message;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v !== null && typeof v === "object" && Symbol.asyncIterator in v;
}

/**
 * Creates a client for a service from its generated descriptor: every
 * method becomes a typed function, whichever protocol the transport speaks.
 */
export function createClient<S extends DescService>(service: S, transport: Transport): Client<S> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          transport.unary(method, request, options);
        break;
      case "server_streaming":
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          transport.stream(method, one(request), options);
        break;
      case "client_streaming":
        client[method.localName] = (requests: AsyncIterable<unknown> | Iterable<unknown>, options?: CallOptions) =>
          single(transport.stream(method, isAsyncIterable(requests) ? requests : fromIterable(requests), options));
        break;
      case "bidi_streaming":
        client[method.localName] = (requests: AsyncIterable<unknown> | Iterable<unknown>, options?: CallOptions) =>
          transport.stream(method, isAsyncIterable(requests) ? requests : fromIterable(requests), options);
        break;
    }
  }
  return client as Client<S>;
}
