import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "./context.js";
import type { MethodEntry } from "./router.js";

// Server interceptors, shaped like connect-es's so that existing ones port
// easily. The client's mirror is client/interceptor.ts.

interface RequestCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly requestMethod: string;
  readonly url: string;
  readonly header: Headers;
  readonly signal: AbortSignal;
  readonly context: HandlerContext;
}
/** The request of a call the server handles, unary: one message. */
export interface UnaryRequest extends RequestCommon {
  readonly stream: false;
  readonly message: unknown;
}
/** The request of a call the server handles, of any streaming kind: messages as an async iterable. */
export interface StreamRequest extends RequestCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
interface ResponseCommon {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly header: Headers;
  readonly trailer: Headers;
}
/** The response of a unary call: one message. */
export interface UnaryResponse extends ResponseCommon {
  readonly stream: false;
  readonly message: unknown;
}
/** The response of a streaming call: messages as an async iterable. */
export interface StreamResponse extends ResponseCommon {
  readonly stream: true;
  readonly message: AsyncIterable<unknown>;
}
/** The function an interceptor wraps: the next interceptor, or the method itself. */
export type AnyFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;
/** Wraps every call: runs before and after the handler, may change requests, responses and errors. */
export type Interceptor = (next: AnyFn) => AnyFn;

/**
 * Wraps a method in its interceptors, the first one outermost. The innermost
 * function runs the method and answers with the context's headers and trailers.
 */
export function chain(entry: MethodEntry, interceptors: readonly Interceptor[]): AnyFn {
  const innermost: AnyFn = async (req) => {
    const ctx = req.context;
    if (req.stream) {
      return {
        stream: true,
        service: req.service,
        method: req.method,
        header: ctx.responseHeader,
        trailer: ctx.responseTrailer,
        message: entry.stream(req.message, ctx),
      };
    }
    const message = entry.unary ? await entry.unary(req.message, ctx) : undefined;
    return {
      stream: false,
      service: req.service,
      method: req.method,
      header: ctx.responseHeader,
      trailer: ctx.responseTrailer,
      message,
    };
  };
  return interceptors.reduceRight<AnyFn>((next, interceptor) => interceptor(next), innermost);
}
