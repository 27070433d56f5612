import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { codeFromHttpStatus } from "../protocol/code.js";
import { checkResponseContentType, type ProtocolName } from "../protocol/content-type.js";
import { ConnectError } from "../protocol/error.js";
import { grpcStatusFromTrailers } from "../protocol/grpc-status.js";
import { headersFromIncoming } from "../protocol/headers.js";
import { formatGrpcTimeout } from "../protocol/timeout.js";
import { type ClientCall, responseCompression, USER_AGENT } from "./call.js";
import { type CallEnd, type ClientEnvelopeWire, runEnveloped, runEnvelopedUnary } from "./envelope-call.js";
import type {
  ClientStreamRequest,
  ClientStreamResponse,
  ClientUnaryRequest,
  ClientUnaryResponse,
} from "./interceptor.js";

// gRPC from the client's side (PROTOCOL-HTTP2.md). gRPC-Web shares all of
// this but the way trailers travel, and passes its own `readEnd`.

const statusHeaders = new Set(["grpc-status", "grpc-message", "grpc-status-details-bin"]);

/** The call's end from a block of trailers (or a trailers-only head): status fields out, metadata kept. */
export function grpcEnd(raw: IncomingHttpHeaders): CallEnd {
  const all = headersFromIncoming(raw);
  const trailer = new Headers();
  all.forEach((value, name) => {
    if (!statusHeaders.has(name)) trailer.append(name, value);
  });
  return { error: grpcStatusFromTrailers((name) => all.get(name), trailer), trailer };
}

/** Request and response handling shared by gRPC and gRPC-Web. */
export function grpcFamilyWire(
  protocol: ProtocolName,
  extraHeaders: OutgoingHttpHeaders,
  readEnd: ClientEnvelopeWire["readEnd"],
  endFlag: number,
): ClientEnvelopeWire {
  return {
    requestHeaders(call) {
      const { sendCompression, acceptCompression } = call.config;
      const h: OutgoingHttpHeaders = {
        // Plain application/grpc for proto: the form every gRPC server accepts.
        "content-type": `application/${protocol}${call.input.name === "json" ? "+json" : protocol === "grpc" ? "" : "+proto"}`,
        ...extraHeaders,
      };
      if (call.timeoutMs !== undefined) h["grpc-timeout"] = formatGrpcTimeout(call.timeoutMs);
      if (sendCompression) h["grpc-encoding"] = sendCompression.name;
      if (acceptCompression.acceptHeader) h["grpc-accept-encoding"] = acceptCompression.acceptHeader;
      return h;
    },
    readHead(call, head) {
      if (head.status !== 200) {
        // PROTOCOL-HTTP2.md: a non-200 status is mapped to a code (http-grpc-status-mapping.md).
        throw new ConnectError(`HTTP ${head.status}`, codeFromHttpStatus(head.status), {
          metadata: headersFromIncoming(head.headers),
        });
      }
      if (head.headers["grpc-status"] !== undefined) {
        // Trailers-only: the head is the whole response (usually an error before any message).
        return { compression: undefined, end: grpcEnd(head.headers) };
      }
      checkResponseContentType(head.headers["content-type"], protocol, call.output.name, true);
      const encoding = head.headers["grpc-encoding"] as string | undefined;
      return { compression: responseCompression(call.config.acceptCompression, encoding) };
    },
    endFlag,
    readEnd,
  };
}

const grpcWire = grpcFamilyWire(
  "grpc",
  { te: "trailers", "user-agent": USER_AGENT },
  (_call, _frame, exchange) => grpcEnd(exchange.trailers()),
  0,
);

/** A unary gRPC call. */
export function grpcUnary(call: ClientCall, req: ClientUnaryRequest): Promise<ClientUnaryResponse> {
  return runEnvelopedUnary(grpcWire, call, req);
}

/** A streaming gRPC call, full duplex. */
export function grpcStream(call: ClientCall, req: ClientStreamRequest): Promise<ClientStreamResponse> {
  return runEnveloped(grpcWire, call, req);
}
