// What the worker drives: one client library's way of making the bench
// service's three calls. Every implementation decodes the replies fully (the
// libraries always do), and hands the worker the echoed payload to check.
import type { EchoRequest, EchoResponse } from "../../gen/fcr/bench/v1/bench_pb.js";

/** Where and how to call: the limit server's port, the protocol and HTTP version of the scenario. */
export interface Target {
  port: number;
  protocol: "grpc" | "connect";
  http: "h1" | "h2";
}

export interface BenchClient {
  /** One unary Echo call; resolves with the echoed payload, rejects unless the call succeeded. */
  echo(req: EchoRequest): Promise<Uint8Array>;
  /** One Stream call; `onReply` sees each reply's payload. Resolves when the call ended successfully. */
  stream(req: EchoRequest, onReply: (payload: Uint8Array) => void): Promise<void>;
  /** Opens one PingPong call. */
  pingPong(): BidiCall;
  close(): void;
}

export interface BidiCall {
  /** Sends one message and resolves with the payload of the reply to it. */
  roundTrip(req: EchoRequest): Promise<Uint8Array>;
  /** Half-closes; resolves when the call ended successfully. */
  finish(): Promise<void>;
}

/** The payload of a bidi call's next reply; the call ending first fails the round trip. */
export async function nextPayload(replies: AsyncIterator<EchoResponse>): Promise<Uint8Array> {
  const r = await replies.next();
  if (r.done) throw new Error("the call ended before the reply");
  return r.value.payload;
}
