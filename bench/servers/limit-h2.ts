// The limit server's answer to one routed call on an HTTP/2 stream, on Node's
// core stream API: shared by the limit server and by fastify-floor, which
// reaches the same stream through Fastify's request.
import type * as http2 from "node:http2";
import { collect, EnvelopeReader, envelope } from "../wire.js";
import {
  answerWhole,
  decodeEnvelopes,
  decodeRequest,
  encodeReply,
  grpcStatus,
  type Method,
  type Protocol,
} from "./limit-protocol.js";

export const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc+proto" };

/** Answers a call whose method and protocol are known; `undefined` is a method the service does not have. */
export function answerH2(stream: http2.ServerHttp2Stream, method: Method | undefined, protocol: Protocol): void {
  if (method === undefined) {
    if (protocol === "grpc") endGrpc(stream, { "grpc-status": "12", "grpc-message": "unknown method" }, true);
    else stream.respond({ ":status": 404 }, { endStream: true });
    return;
  }
  if (protocol === "grpc" && method === "stream") {
    collect(stream, (body) => serverStream(stream, body));
    return;
  }
  if (protocol === "grpc" && method === "pingPong") {
    pingPong(stream);
    return;
  }
  collect(stream, (body) => {
    const res = answerWhole(method, protocol, body);
    const trailers = res.trailers;
    if (trailers) {
      stream.respond({ ":status": res.status, ...res.headers }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    } else {
      stream.respond({ ":status": res.status, ...res.headers, "content-length": res.body.length });
    }
    stream.end(res.body);
  });
}

/** Sends the trailers of a gRPC call that has sent its headers, or a trailers-only response when it has not. */
export function endGrpc(stream: http2.ServerHttp2Stream, trailers: Record<string, string>, trailersOnly = false): void {
  if (stream.destroyed) return;
  if (trailersOnly) {
    stream.respond({ ...GRPC_HEADERS, ...trailers }, { endStream: true });
    return;
  }
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end();
}

/** The one request of a server-streaming body, or undefined once the call has ended with the error. */
export function oneRequest(
  stream: http2.ServerHttp2Stream,
  body: Buffer,
): ReturnType<typeof decodeRequest> | undefined {
  try {
    const reqs = decodeEnvelopes(body);
    if (reqs.length !== 1) throw new Error(`expected 1 request message, got ${reqs.length}`);
    return reqs[0];
  } catch (e) {
    endGrpc(stream, grpcStatus(e), true);
    return undefined;
  }
}

/** gRPC server streaming: `count` replies, each encoded, written as flow control allows. */
function serverStream(stream: http2.ServerHttp2Stream, body: Buffer): void {
  const req = oneRequest(stream, body);
  if (!req) return;
  stream.respond(GRPC_HEADERS, { waitForTrailers: true });
  let sent = 0;
  const writeMore = () => {
    while (sent < req.count) {
      sent++;
      if (stream.destroyed) return;
      if (!stream.write(envelope(encodeReply(req)))) {
        stream.once("drain", writeMore);
        return;
      }
    }
    endGrpc(stream, { "grpc-status": "0" });
  };
  writeMore();
}

/** gRPC bidi: each request message is answered as soon as it has arrived. */
function pingPong(stream: http2.ServerHttp2Stream): void {
  stream.respond(GRPC_HEADERS, { waitForTrailers: true });
  const reader = new EnvelopeReader();
  let failed = false;
  stream.on("data", (chunk: Buffer) => {
    if (failed) return;
    try {
      for (const env of reader.push(chunk)) {
        if (env.flags !== 0) throw new Error("compressed or unknown message flags");
        stream.write(envelope(encodeReply(decodeRequest(env.data))));
      }
    } catch (e) {
      failed = true;
      endGrpc(stream, grpcStatus(e));
    }
  });
  stream.on("end", () => {
    if (failed) return;
    endGrpc(
      stream,
      reader.leftover > 0 ? { "grpc-status": "3", "grpc-message": "truncated message" } : { "grpc-status": "0" },
    );
  });
}
