import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { CallContext, HandlerContext } from "./context.js";
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
 * function runs the method and answers with the context's headers and
 * trailers, as getters: most calls set none, and each Headers costs an
 * allocation. A call that gets this response back unchanged reads them from
 * the context (ServerCall.callUnary); a spread copy reads the getters.
 */
export function chain(entry: MethodEntry, interceptors: readonly Interceptor[]): AnyFn {
  const innermost: AnyFn = async (req) => {
    const ctx = req.context as CallContext;
    const message = req.stream
      ? entry.stream(req.message, ctx)
      : entry.unary
        ? await entry.unary(req.message, ctx)
        : undefined;
    const res = {
      stream: req.stream,
      service: req.service,
      method: req.method,
      get header() {
        return ctx.responseHeader;
      },
      get trailer() {
        return ctx.responseTrailer;
      },
      message,
    } as UnaryResponse | StreamResponse;
    ctx.handlerResponse = res;
    return res;
  };
  return interceptors.reduceRight<AnyFn>((next, interceptor) => interceptor(next), innermost);
}
