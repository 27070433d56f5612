// Helpers for the tests where the library's own client calls a real peer
// server: outcomes of calls as values, with the library's ConnectError (the
// peer.ts helpers wrap errors with connect-es's ConnectError instead).
import { ConnectError } from "../../lib/client/index.js";
import type { EchoResponse } from "../gen/fcr/test/v1/test_pb.js";

/** The ConnectError a call fails with; throws if it succeeds or fails with something else. */
export async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return e;
    throw new Error(`expected a ConnectError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Drains a response stream: the messages received, and the ConnectError it ended with, if any. */
export async function collect(
  it: AsyncIterable<EchoResponse>,
): Promise<{ messages: EchoResponse[]; error?: ConnectError }> {
  const messages: EchoResponse[] = [];
  try {
    for await (const m of it) messages.push(m);
  } catch (e) {
    if (e instanceof ConnectError) return { messages, error: e };
    throw new Error(`expected a ConnectError, got ${String(e)}`, { cause: e });
  }
  return { messages };
}

/** Resolves with `p`, or rejects when it takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A request stream for a full-duplex exchange: yields the first request, then
 * each next one only after `release()` (called when a reply arrived).
 */
export function pingPong<T>(reqs: T[]): { requests: AsyncIterable<T>; release(): void } {
  let release: (() => void) | undefined;
  async function* gen(): AsyncIterable<T> {
    for (let i = 0; i < reqs.length; i++) {
      const next = new Promise<void>((r) => (release = r));
      yield reqs[i];
      if (i < reqs.length - 1) await next;
    }
  }
  return { requests: gen(), release: () => release?.() };
}
