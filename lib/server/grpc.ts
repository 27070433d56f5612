import type { OutgoingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import type { Compression } from "../protocol/compression.js";
import type { ConnectError } from "../protocol/error.js";
import { grpcStatusTrailers } from "../protocol/grpc-status.js";
import { parseGrpcTimeout } from "../protocol/timeout.js";
import type { ServerCall } from "./call.js";
import { type EnvelopeWire, type ResponseState, serveEnveloped } from "./envelope-call.js";
import { EnvelopeReader } from "./request-body.js";

// gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): enveloped messages,
// the status in HTTP trailers, or a trailers-only response when the call
// fails before its first message.

function header(call: ServerCall, name: string): string | undefined {
  const v = call.request.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/**
 * How a gRPC-family protocol writes its status at the end of a call: gRPC as
 * HTTP trailers, gRPC-Web as a trailers frame in the body.
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
      if (!out.headSent) {
        // Trailers-only: one HEADERS frame that carries the status and ends the stream.
        out.headSent = true;
        call.adapter.head(200, { ...out.head(), ...status }, { endStream: true });
        return;
      }
      writeStatus(call, out, status);
    },
  };
}

const writeHttpTrailers: StatusWriter = (call, _out, status) => call.adapter.end(undefined, status);

const grpcProto = grpcFamilyWire("application/grpc", true, writeHttpTrailers);
const grpcJson = grpcFamilyWire("application/grpc+json", true, writeHttpTrailers);

/**
 * Parses what gRPC and gRPC-Web requests share (grpc-timeout, grpc-encoding,
 * grpc-accept-encoding), then serves the call. A bad header ends the call at
 * once with the wire's status.
 */
export function serveGrpcFamily(
  call: ServerCall,
  wire: EnvelopeWire,
  transform?: { chunk: (b: Buffer) => Buffer; flush: () => void },
): Promise<void> {
  const { options } = call;
  let requestCompression: Compression | undefined;
  let responseCompression: Compression | undefined;
  try {
    call.applyTimeout(parseGrpcTimeout(header(call, "grpc-timeout")));
    requestCompression = options.compression.forRequest(header(call, "grpc-encoding"));
    // Answer in the request's encoding when the client accepts it (as grpc-go does), else the first we share.
    const accept = header(call, "grpc-accept-encoding");
    responseCompression = options.compression.negotiate(
      requestCompression && accept?.includes(requestCompression.name) ? requestCompression.name : accept,
    );
  } catch (e) {
    const error = call.wireError(e);
    if (call.complete(error)) {
      wire.end(call, { headSent: false, head: () => wire.headHeaders(call, undefined), trailer: undefined }, error);
    }
    return Promise.resolve();
  }
  const reader = new EnvelopeReader(call.source, options.readMaxBytes, transform?.chunk, transform?.flush);
  return serveEnveloped(call, wire, reader, requestCompression, responseCompression);
}

/** Serves a gRPC call (HTTP/2 only; the plugin answers 505 on HTTP/1.1 first). */
export function serveGrpc(call: ServerCall): Promise<void> {
  return serveGrpcFamily(call, call.codec.input.name === "proto" ? grpcProto : grpcJson);
}
