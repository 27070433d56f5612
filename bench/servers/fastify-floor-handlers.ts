// The "floor+handlers" server: the Fastify floor, except that its streaming
// gRPC calls run the bench's handlers (servers/impl.ts, the async generators
// ours and connect-fastify run) under the least code that can drive them: a
// request iterable fed by 'data' events, and a `for await` over the handler
// that writes each reply with backpressure. Its distance from the floor is
// what the handler API itself costs (an async generator per call, a promise
// and microtask turns per message), which no implementation of that API can
// avoid; ours' distance from it is what the plugin adds on top.
import type * as http2 from "node:http2";
import type { EchoRequest } from "../gen/fcr/bench/v1/bench_pb.js";
import { collect, EnvelopeReader, envelope } from "../wire.js";
import { serveFloor } from "./floor-app.js";
import { benchImpl } from "./impl.js";
import { answerH2, endGrpc, GRPC_HEADERS, oneRequest } from "./limit-h2.js";
import { decodeRequest, encodeReply, grpcStatus, type Method, type Protocol } from "./limit-protocol.js";

function answerWithHandlers(stream: http2.ServerHttp2Stream, method: Method | undefined, protocol: Protocol): void {
  if (protocol === "grpc" && method === "stream") {
    collect(stream, (body) => {
      const req = oneRequest(stream, body);
      if (req) respond(stream, benchImpl.stream(req));
    });
  } else if (protocol === "grpc" && method === "pingPong") {
    respond(stream, benchImpl.pingPong(requests(stream)));
  } else {
    answerH2(stream, method, protocol);
  }
}

/** Writes a handler's replies as they come, then the status. */
function respond(stream: http2.ServerHttp2Stream, replies: AsyncIterable<{ payload: Uint8Array }>): void {
  stream.respond(GRPC_HEADERS, { waitForTrailers: true });
  const write = async () => {
    for await (const reply of replies) {
      if (stream.destroyed) return;
      // The reply as a plain object, made a message and encoded: what the plugins' codecs do too.
      if (!stream.write(envelope(encodeReply(reply)))) {
        await new Promise((resolve) => stream.once("drain", resolve));
      }
    }
  };
  write().then(
    () => endGrpc(stream, { "grpc-status": "0" }),
    (e) => endGrpc(stream, grpcStatus(e)),
  );
}

/** A call's request messages as the async iterable a handler takes: decoded as they arrive, one waiter. */
function requests(stream: http2.ServerHttp2Stream): AsyncIterable<EchoRequest> {
  const reader = new EnvelopeReader();
  const queue: EchoRequest[] = [];
  let ended = false;
  let failure: unknown;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  stream.on("data", (chunk: Buffer) => {
    try {
      for (const env of reader.push(chunk)) queue.push(decodeRequest(env.data));
    } catch (e) {
      failure ??= e;
    }
    wake();
  });
  stream.on("end", () => {
    ended = true;
    if (reader.leftover > 0) failure ??= new Error("truncated message");
    wake();
  });
  const next = (): Promise<IteratorResult<EchoRequest>> => {
    const value = queue.shift();
    if (value) return Promise.resolve({ value, done: false });
    if (failure) return Promise.reject(failure);
    if (ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise<void>((resolve) => {
      waiter = resolve;
    }).then(next);
  };
  return { [Symbol.asyncIterator]: () => ({ next }) };
}

await serveFloor(answerWithHandlers);
