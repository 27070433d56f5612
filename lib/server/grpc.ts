import type { OutgoingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import type { ConnectError } from "../protocol/error.js";
import { grpcStatusTrailers } from "../protocol/grpc-status.js";
import { parseGrpcTimeout } from "../protocol/timeout.js";
import type { ServerCall } from "./call.js";
import { type BodyTransform, type EnvelopeWire, type ResponseState, serveEnveloped } from "./envelope-call.js";

// gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): enveloped messages,
// the status in HTTP trailers, or a trailers-only response when the call
// fails before its first message.

/**
 * How a gRPC-family protocol writes its status at the end of a call: gRPC as
 * HTTP trailers, gRPC-Web as a trailers frame in the body. When the head has
 * not gone out yet (a unary call), it sends the head, the held-back message
 * and the status together.
 */
export type StatusWriter = (call: ServerCall, out: ResponseState, status: OutgoingHttpHeaders) => void;

/** The wire of a gRPC-family protocol, given its content-type and how it writes the status. */
export function grpcFamilyWire(contentType: string, httpTrailers: boolean, writeStatus: StatusWriter): EnvelopeWire {
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
    end(call, out, error: ConnectError | undefined) {
      const status = grpcStatusTrailers(error, out.trailer);
      // A unary response held back for the status is dropped if the call failed meanwhile (a deadline, say).
      if (error) out.body = undefined;
      if (!out.headSent && out.body === undefined) {
        // Trailers-only: one HEADERS frame that carries the status and ends the stream.
        out.headSent = true;
        call.adapter.head(200, { ...out.head(), ...status }, { endStream: true });
        return;
      }
      writeStatus(call, out, status);
    },
  };
}

const writeHttpTrailers: StatusWriter = (call, out, status) => {
  if (!out.headSent) {
    out.headSent = true;
    call.adapter.head(200, out.head(), { trailers: true });
  }
  call.adapter.end(out.body, status);
};

const grpcProto = grpcFamilyWire("application/grpc", true, writeHttpTrailers);
const grpcJson = grpcFamilyWire("application/grpc+json", true, writeHttpTrailers);

/**
 * Serves a gRPC-family call, reading what gRPC and gRPC-Web requests share:
 * grpc-timeout, grpc-encoding and grpc-accept-encoding.
 */
export function serveGrpcFamily(call: ServerCall, wire: EnvelopeWire, transform?: BodyTransform): Promise<void> {
  return serveEnveloped(
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
export function serveGrpc(call: ServerCall): Promise<void> {
  return serveGrpcFamily(call, call.codec.input.name === "proto" ? grpcProto : grpcJson);
}
