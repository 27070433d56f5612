import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { MethodOfKind } from "../protocol/method-kind.js";
import type { CallOptions } from "./call.js";
import type { Transport } from "./transport.js";

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

async function single(responses: AsyncIterable<unknown>): Promise<unknown> {
  let message: unknown;
  let count = 0;
  for await (const m of responses) {
    if (++count > 1) {
      throw new ConnectError("protocol error: client-streaming response has more than one message", Code.Unimplemented);
    }
    message = m;
  }
  if (count === 0) {
    throw new ConnectError("protocol error: client-streaming response has no message", Code.Unimplemented);
  }
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
