import type { Context } from "@opentelemetry/api";

// The context of each handled call, by its HandlerContext: a client call made
// with `{ context: ctx }` finds its parent here even where no context manager
// carries the active span across awaits (the API without an SDK's
// AsyncLocalStorage manager, or code that loses it).
const contexts = new WeakMap<object, Context>();

/** Remembers the context (with the server span) of a handler's call. */
export function bindContext(handlerContext: object, ctx: Context): void {
  contexts.set(handlerContext, ctx);
}

/** The context bound to a handler's context, if the server interceptor saw that call. */
export function boundContext(handlerContext: object | undefined): Context | undefined {
  return handlerContext === undefined ? undefined : contexts.get(handlerContext);
}
