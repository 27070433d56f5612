import type { Context } from "@opentelemetry/api";
import { CallContext } from "../server/context.js";

// The context of each handled call, kept on its CallContext: a client call
// made with `{ context: ctx }` finds its parent there even where no context
// manager carries the active span across awaits (the API without an SDK's
// AsyncLocalStorage manager, or code that loses it). A field, not a WeakMap:
// this runs on every call, and a WeakMap entry costs the collector too.

/** Remembers the context (with the server span) of a handler's call. */
export function bindContext(handlerContext: object, ctx: Context): void {
  if (handlerContext instanceof CallContext) handlerContext.traceContext = ctx;
}

/** The context bound to a handler's context, if the server interceptor saw that call. */
export function boundContext(handlerContext: object | undefined): Context | undefined {
  return handlerContext instanceof CallContext ? (handlerContext.traceContext as Context | undefined) : undefined;
}
