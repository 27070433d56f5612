import { type Context, context } from "@opentelemetry/api";
import type { CallTelemetry } from "./call.js";

/** Request messages counted (and sized) as the handler or the transport reads them. */
export function observeRequests(source: AsyncIterable<unknown>, call: CallTelemetry): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          const r = await it.next();
          if (!r.done) call.request(r.value);
          return r;
        },
        return(value?: unknown) {
          return it.return ? it.return(value) : Promise.resolve({ done: true as const, value });
        },
      };
    },
  };
}

/**
 * Response messages counted as they pass; the call ends when the stream
 * does: at its end, with its error, or with `stopped()` when its reader
 * stops early. Each step runs in `ctx`, so a streaming handler's body (which
 * runs when the protocol asks for the next message) sees its span as the
 * active one.
 */
export function observeResponses(
  source: AsyncIterable<unknown>,
  call: CallTelemetry,
  ctx: Context | undefined,
  stopped: () => unknown,
): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      const step = () => it.next();
      return {
        async next() {
          let r: IteratorResult<unknown>;
          try {
            r = await (ctx ? context.with(ctx, step) : step());
          } catch (e) {
            call.end(e);
            throw e;
          }
          if (r.done) call.end(undefined);
          else call.response(r.value);
          return r;
        },
        return(value?: unknown) {
          call.end(stopped());
          return it.return ? it.return(value) : Promise.resolve({ done: true as const, value });
        },
      };
    },
  };
}
