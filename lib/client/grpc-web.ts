import type { IncomingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import { FLAG_TRAILERS } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { type ClientCall, USER_AGENT } from "./call.js";
import { runEnveloped, runEnvelopedUnary } from "./envelope-call.js";
import { grpcEnd, grpcFamilyWire } from "./grpc.js";
import type {
  ClientStreamRequest,
  ClientStreamResponse,
  ClientUnaryRequest,
  ClientUnaryResponse,
} from "./interceptor.js";

// gRPC-Web from the client's side (PROTOCOL-WEB.md): gRPC's messages and
// status, with the trailers in a last frame flagged 0x80 instead of HTTP
// trailers, so it works over HTTP/1.1 and through browsers' fetch.

/** Parses a trailers frame: HTTP/1-style `name: value` lines separated by CRLF. */
export function parseTrailersFrame(frame: Uint8Array): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const line of Buffer.from(frame).toString("latin1").split("\r\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new ConnectError(`protocol error: invalid trailers frame line "${line.slice(0, 64)}"`, Code.Internal);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value] as never;
  }
  return out;
}

const grpcWebWire = grpcFamilyWire(
  "grpc-web",
  { "x-grpc-web": "1", "x-user-agent": USER_AGENT },
  (_call, frame, exchange) => {
    if (frame !== undefined) return grpcEnd(parseTrailersFrame(frame));
    // No trailers frame: a server may still have sent HTTP/2 trailers; without
    // them, grpcEnd reports the missing grpc-status.
    return grpcEnd(exchange.trailers());
  },
  FLAG_TRAILERS,
);

/** A unary gRPC-Web call. */
export function grpcWebUnary(call: ClientCall, req: ClientUnaryRequest): Promise<ClientUnaryResponse> {
  return runEnvelopedUnary(grpcWebWire, call, req);
}

/** A streaming gRPC-Web call (over HTTP/1.1, bidi is half duplex). */
export function grpcWebStream(call: ClientCall, req: ClientStreamRequest): Promise<ClientStreamResponse> {
  return runEnveloped(grpcWebWire, call, req);
}
