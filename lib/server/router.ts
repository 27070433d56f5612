import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { MethodOfKind } from "../protocol/method-kind.js";
import type { HandlerContext } from "./context.js";
import { type AnyFn, chain, type Interceptor } from "./interceptor.js";

type Awaitable<T> = T | Promise<T>;

/** A unary method: one request, one response (a message or a plain init object). */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => Awaitable<MessageInitShape<O>>;

/** A server-streaming method: one request, any number of responses. */
export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => AsyncIterable<MessageInitShape<O>>;

/** A client-streaming method: any number of requests, one response. */
export type ClientStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => Awaitable<MessageInitShape<O>>;

/** A bidirectional-streaming method: requests and responses flow independently. */
export type BiDiStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The implementation type of one method, by its kind. */
export type MethodImpl<M extends DescMethod> =
  M extends MethodOfKind<"unary", infer I, infer O>
    ? UnaryImpl<I, O>
    : M extends MethodOfKind<"server_streaming", infer I, infer O>
      ? ServerStreamingImpl<I, O>
      : M extends MethodOfKind<"client_streaming", infer I, infer O>
        ? ClientStreamingImpl<I, O>
        : M extends MethodOfKind<"bidi_streaming", infer I, infer O>
          ? BiDiStreamingImpl<I, O>
          : never;

/** A service implementation: one function per method, named as in the generated descriptor. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: MethodImpl<S["method"][K]>;
};

/** What a method implementation produces: its (single or streamed) response. */
type ResponseOf<F> = F extends (...args: never[]) => infer R
  ? R extends AsyncIterable<infer M>
    ? M
    : Awaited<R>
  : never;

/**
 * Rejects response fields the message does not have. TypeScript checks excess
 * properties of object literals, but not of values returned from a function
 * expression, so `say: () => ({ sentense: "" })` would otherwise compile.
 */
export type ExactImpl<S extends DescService, T> = {
  [K in keyof T]: K extends keyof S["method"]
    ? [ResponseOf<T[K]>] extends [never]
      ? T[K]
      : [Exclude<keyof ResponseOf<T[K]>, keyof MessageShape<S["method"][K]["output"]>>] extends [never]
        ? T[K]
        : { "unknown response fields": Exclude<keyof ResponseOf<T[K]>, keyof MessageShape<S["method"][K]["output"]>> }
    : never;
};

/**
 * One method ready to serve. Every kind is reduced to the stream form
 * (requests in, responses out); unary methods keep a direct form too, so the
 * common case runs without async iterators.
 */
export interface MethodEntry {
  readonly method: DescMethod;
  /** Set for unary methods: the handler itself, which may answer synchronously or throw. */
  readonly unary?: (request: unknown, context: HandlerContext) => unknown;
  readonly stream: (requests: AsyncIterable<unknown>, context: HandlerContext) => AsyncIterable<unknown>;
  /** Set when interceptors apply; the protocol calls this instead. */
  readonly intercepted?: AnyFn;
}

/** Collects the services a plugin registration serves. */
export class ConnectRouter {
  /** @internal */
  readonly entries: MethodEntry[] = [];

  constructor(private readonly interceptors: readonly Interceptor[] = []) {}

  /**
   * Serves a service. Methods left out of the implementation answer
   * `unimplemented`; a name that is not a method of the service does not compile.
   */
  service<S extends DescService, T extends Partial<ServiceImpl<S>>>(service: S, impl: T & ExactImpl<S, T>): this {
    const byLocalName = impl as Record<string, unknown>;
    for (const name of Object.keys(byLocalName)) {
      if (!service.methods.some((m) => m.localName === name)) {
        throw new Error(
          `${service.typeName} has no method "${name}"; its methods are ${service.methods.map((m) => m.localName).join(", ")}`,
        );
      }
    }
    for (const method of service.methods) {
      const fn = byLocalName[method.localName];
      this.addMethod(method, typeof fn === "function" ? fn.bind(impl) : undefined);
    }
    return this;
  }

  /** Serves a single method. */
  rpc<M extends DescMethod>(method: M, impl: MethodImpl<M>): this {
    this.addMethod(method, impl as (...args: never[]) => unknown);
    return this;
  }

  private addMethod(method: DescMethod, fn: ((...args: never[]) => unknown) | undefined): void {
    if (this.entries.some((e) => e.method === method)) {
      throw new Error(`${method.parent.typeName}.${method.name} is already registered`);
    }
    const entry = normalize(method, fn ?? unimplemented(method));
    const intercepted = this.interceptors.length > 0 ? chain(entry, this.interceptors) : undefined;
    this.entries.push(intercepted ? { ...entry, intercepted } : entry);
  }
}

function unimplemented(method: DescMethod) {
  return () => {
    throw new ConnectError(`${method.parent.typeName}.${method.name} is not implemented`, Code.Unimplemented);
  };
}

type AnyImpl = (input: never, ctx: HandlerContext) => unknown;

function normalize(method: DescMethod, fn: (...args: never[]) => unknown): MethodEntry {
  const impl = fn as AnyImpl;
  switch (method.methodKind) {
    case "unary": {
      const unary = impl as (req: unknown, ctx: HandlerContext) => unknown;
      return {
        method,
        unary,
        stream: (reqs, ctx) => singleOut(takeOne(method, reqs).then((req) => unary(req, ctx))),
      };
    }
    case "server_streaming":
      return {
        method,
        stream: (reqs, ctx) =>
          new LaterIterable(takeOne(method, reqs).then((req) => impl(req as never, ctx) as AsyncIterable<unknown>)),
      };
    case "client_streaming":
      return { method, stream: (reqs, ctx) => singleOut(Promise.resolve().then(() => impl(reqs as never, ctx))) };
    case "bidi_streaming":
      return { method, stream: (reqs, ctx) => impl(reqs as never, ctx) as AsyncIterable<unknown> };
  }
}

/**
 * A unary or server-streaming call with zero or two request messages: a
 * protocol error, unimplemented (gRPC spec, for a missing message; connect-go
 * answers the same for either count).
 */
export function requestCountError(method: DescMethod, got: "none" | "more"): ConnectError {
  return new ConnectError(`${method.name}: expected one request message, got ${got}`, Code.Unimplemented);
}

/** The single request of a unary or server-streaming call. */
export async function takeOne(method: DescMethod, reqs: AsyncIterable<unknown>): Promise<unknown> {
  const it = reqs[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw requestCountError(method, "none");
  const second = await it.next();
  if (!second.done) throw requestCountError(method, "more");
  return first.value;
}

async function* singleOut(p: Promise<unknown>): AsyncIterable<unknown> {
  yield await p;
}

/**
 * A server-streaming handler's messages, once its one request has arrived.
 * Not an async generator (`yield* await p`): that passes every message
 * through a second generator, with its promises and microtask turns, which
 * cost the server stream about a tenth of its throughput (bench/RESULTS.md).
 * After the first message, `next` is the handler's own.
 */
class LaterIterable implements AsyncIterableIterator<unknown> {
  private iterator?: Promise<AsyncIterator<unknown>>;
  private inner?: AsyncIterator<unknown>;

  constructor(private readonly source: Promise<AsyncIterable<unknown>>) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.inner) return this.inner.next();
    return this.start().then((it) => it.next());
  }

  /** Closes the handler's iterator (its finally blocks run), once it exists. */
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    const done = { done: true as const, value };
    if (!this.iterator) return Promise.resolve(done);
    return this.iterator.then((it) => it.return?.(value) ?? done);
  }

  private start(): Promise<AsyncIterator<unknown>> {
    this.iterator ??= this.source.then((iterable) => {
      this.inner = iterable[Symbol.asyncIterator]();
      return this.inner;
    });
    return this.iterator;
  }
}
