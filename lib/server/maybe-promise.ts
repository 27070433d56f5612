// A unary call is synchronous from its request body to the handler, and from
// the handler's result to the status, unless something in between compresses.
// An async function or an await on that path costs a promise and a microtask
// each, and on Node 20 a call into every async hook (an AsyncLocalStorage
// context manager, OpenTelemetry's say, is one): `bench/async-resources.ts`
// counts them. `settle` continues after a value that may be a promise without
// making one when it is not. The request body is still read with one promise
// (see RequestDecoder.one).

/** A value, or a promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>;

function isThenable<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return value instanceof Promise || typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/**
 * Runs `step`, then `done` or `fail` with its outcome: a throw, a rejection,
 * and a throw from `done` all reach `fail`. Nothing is returned to wait for.
 */
export function settle<T>(step: () => MaybePromise<T>, done: (v: T) => void, fail: (e: unknown) => void): void {
  let value: MaybePromise<T>;
  try {
    value = step();
    if (!isThenable(value)) {
      done(value);
      return;
    }
  } catch (e) {
    fail(e);
    return;
  }
  Promise.resolve(value).then((v) => {
    try {
      done(v);
    } catch (e) {
      fail(e);
    }
  }, fail);
}
