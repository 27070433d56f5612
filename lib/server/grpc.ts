import type { OutgoingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import { grpcStatusTrailers } from "../protocol/grpc-status.js";
import { parseGrpcTimeout } from "../protocol/timeout.js";
import type { ServerCall } from "./call.js";
import { type BodyTransform, type EnvelopeWire, type ResponseEnd, serveEnveloped } from "./envelope-call.js";

// gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): enveloped messages,
// the status in HTTP trailers, or a trailers-only response when the call
// fails before its first message.

/**
 * The wire of a gRPC-family protocol, given its content-type and where its
 * status goes: gRPC's in HTTP trailers, gRPC-Web's in a last body frame.
 * Either may end a call that sent no message with a trailers-only head.
 */
export function grpcFamilyWire(
  contentType: string,
  httpTrailers: boolean,
  endOf: (status: OutgoingHttpHeaders) => ResponseEnd,
): EnvelopeWire {
  return {
    httpTrailers,
    malformedCode: Code.Internal,
    headHeaders(call, responseCompression) {
      const h: OutgoingHttpHeaders = { "content-type": contentType };
      if (responseCompression) h["grpc-encoding"] = responseCompression.name;
      const accept = call.options.compression.acceptHeader;
      if (accept) h["grpc-accept-encoding"] = accept;
      return h;
    },
    end(error, trailer) {
      return endOf(grpcStatusTrailers(error, trailer));
    },
  };
}

const inHttpTrailers = (status: OutgoingHttpHeaders): ResponseEnd => ({ trailers: status, trailersOnly: status });
const grpcProto = grpcFamilyWire("application/grpc", true, inHttpTrailers);
const grpcJson = grpcFamilyWire("application/grpc+json", true, inHttpTrailers);

/**
 * Serves a gRPC-family call, reading what gRPC and gRPC-Web requests share:
 * grpc-timeout, grpc-encoding and grpc-accept-encoding.
 */
export function serveGrpcFamily(call: ServerCall, wire: EnvelopeWire, transform?: BodyTransform): void {
  serveEnveloped(
    call,
    wire,
    () => {
      const { compression } = call.options;
      call.applyTimeout(parseGrpcTimeout(call.header("grpc-timeout")));
      const request = compression.forRequest(call.header("grpc-encoding"));
      // Answer in the request's encoding when the client accepts it (as grpc-go does), else the first we share.
      const accept = call.header("grpc-accept-encoding");
      const response = compression.negotiate(request && accept?.includes(request.name) ? request.name : accept);
      return { request, response };
    },
    transform,
  );
}

/** Serves a gRPC call (HTTP/2 only; the plugin answers 505 on HTTP/1.1 first). */
export function serveGrpc(call: ServerCall): void {
  serveGrpcFamily(call, call.codec.input.name === "proto" ? grpcProto : grpcJson);
}
