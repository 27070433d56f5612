import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ProtocolName } from "../protocol/content-type.js";
import type { CallOptions } from "./client.js";

// Client interceptors, shaped like connect-es's, so that existing ones port
// easily. The server's mirror is server/interceptor.ts.

interface ClientRequestCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  /** The full URL of the method. */
  readonly url: string;
  /** "POST", or "GET" for a Connect GET request. */
  readonly requestMethod: string;
  /** Request metadata; an interceptor may change it. */
  readonly header: Headers;
  readonly signal: AbortSignal;
  /** The deadline the call sends, if any. */
  readonly timeoutMs: number | undefined;
  /** The protocol the transport speaks. */
  readonly protocol: ProtocolName;
  /** The HTTP version the transport uses; undefined while ALPN has not picked one (`https:` without `httpVersion`). */
  readonly httpVersion: "1.1" | "2" | undefined;
  /** The `context` of the call options (a server handler's context), so tracing can find the call's parent. */
  readonly context: CallOptions["context"];
}
/** The request of a call the client makes, unary: one message. */
export interface ClientUnaryRequest extends ClientRequestCommon {
  readonly stream: false;
  readonly message: unknown;
}
/** The request of a call the client makes, of any streaming kind: messages as an async iterable. */
export interface ClientStreamRequest extends ClientRequestCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
interface ClientResponseCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly header: Headers;
  /** For a stream, filled in when the last message has been read. */
  readonly trailer: Headers;
}
/** The response of a unary call: one message. */
export interface ClientUnaryResponse extends ClientResponseCommon {
  readonly stream: false;
  readonly message: unknown;
}
/** The response of a streaming call: messages as an async iterable. */
export interface ClientStreamResponse extends ClientResponseCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
/** The function a client interceptor wraps: the next interceptor, or the protocol itself. */
export type ClientAnyFn = (
  req: ClientUnaryRequest | ClientStreamRequest,
) => Promise<ClientUnaryResponse | ClientStreamResponse>;
/** Wraps every call the transport makes: may change requests, responses and errors. */
export type ClientInterceptor = (next: ClientAnyFn) => ClientAnyFn;

/** Composes interceptors around the protocol's call function, the first one outermost. */
export function applyInterceptors(fn: ClientAnyFn, interceptors: readonly ClientInterceptor[]): ClientAnyFn {
  let next = fn;
  for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i](next);
  return next;
}
