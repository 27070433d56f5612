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
 * The request interceptors see. `header` and `signal` come from the call's
 * context when first read: a Headers copy of the request's and an
 * AbortController cost an allocation each, which an interceptor that never
 * reads them should not pay. They are accessors of the class, not of each
 * object: V8 defines an object literal's accessors one by one at run time,
 * which cost a passthrough interceptor a third of the throughput over
 * HTTP/1.1 (bench/RESULTS.md). Setting one (as `{ ...req, header }` does
 * once `next` has it, see chain) replaces what the context would give.
 */
export class InterceptedRequest {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly requestMethod: string;
  readonly url: string;
  private headerOverride?: Headers;
  private signalOverride?: AbortSignal;

  constructor(
    readonly context: CallContext,
    readonly stream: boolean,
    readonly message: unknown,
  ) {
    this.service = context.method.parent;
    this.method = context.method;
    this.requestMethod = context.requestMethod;
    this.url = context.request.url;
  }

  /** The request of a unary call, as the first interceptor gets it. */
  static unary(context: CallContext, message: unknown): UnaryRequest {
    return new InterceptedRequest(context, false, message) as unknown as UnaryRequest;
  }

  /** The request of a streaming call, as the first interceptor gets it. */
  static stream(context: CallContext, messages: AsyncIterable<unknown>): StreamRequest {
    return new InterceptedRequest(context, true, messages) as unknown as StreamRequest;
  }

  get header(): Headers {
    return this.headerOverride ?? this.context.requestHeader;
  }

  set header(header: Headers) {
    this.headerOverride = header;
  }

  get signal(): AbortSignal {
    return this.signalOverride ?? this.context.signal;
  }

  set signal(signal: AbortSignal) {
    this.signalOverride = signal;
  }
}

/**
 * What `next` hands on: a spread copy (`{ ...req, message }`) has the own
 * fields of an InterceptedRequest but not its accessors, so it becomes one
 * again, with the copy's fields (and any `header` or `signal` it set) on top.
 */
function asIntercepted(req: UnaryRequest | StreamRequest): UnaryRequest | StreamRequest {
  if (req instanceof InterceptedRequest) return req;
  const copy = new InterceptedRequest(req.context as CallContext, req.stream, req.message);
  return Object.assign(copy, req) as unknown as UnaryRequest | StreamRequest;
}

/**
 * Wraps a method in its interceptors, the first one outermost. The innermost
 * function runs the method and answers with the context's headers and
 * trailers as plain fields, so that a spread copy keeps them; a call that
 * gets this response back unchanged reads them from the context
 * (ServerCall.callUnary).
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
      header: ctx.responseHeader,
      trailer: ctx.responseTrailer,
      message,
    } as UnaryResponse | StreamResponse;
    ctx.handlerResponse = res;
    return res;
  };
  return interceptors.reduceRight<AnyFn>(
    (next, interceptor) => interceptor((req) => next(asIntercepted(req))),
    innermost,
  );
}
