// A queue that one side fills and the other awaits: the request stream of a
// bidi call for the libraries that take an AsyncIterable, and the reply inbox
// of one that emits events.
export class Mailbox<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private failure: unknown;

  push(item: T): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.resolve({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more items: a waiting `next` resolves done. */
  end(): void {
    this.ended = true;
    this.waiter?.resolve({ value: undefined, done: true });
    this.waiter = undefined;
  }

  /** A waiting `next`, and every later one, rejects with `e`. */
  fail(e: unknown): void {
    this.failure ??= e;
    this.waiter?.reject(e);
    this.waiter = undefined;
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The iterator with return and throw too: connect-es calls them on a request stream it gives up on. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const done = { value: undefined, done: true } as const;
    return {
      next: () => this.next(),
      return: async () => {
        this.end();
        return done;
      },
      throw: async (e: unknown) => {
        this.fail(e);
        return done;
      },
    };
  }
}
