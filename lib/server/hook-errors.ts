import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyRequest } from "fastify";
import { Code, codeFromHttpStatus, codeToHttpStatus } from "../protocol/code.js";
import { endStreamToJsonBytes, errorToJsonBytes } from "../protocol/connect-json.js";
import { type ContentType, parseContentType } from "../protocol/content-type.js";
import { encodeEnvelope, FLAG_END_STREAM } from "../protocol/envelope.js";
import { asConnectError, ConnectError } from "../protocol/error.js";
import { grpcStatusTrailers } from "../protocol/grpc-status.js";
import { appendHeaders } from "../protocol/headers.js";
import type { ResponseAdapter } from "./response.js";

// Errors raised before our handler runs: by the app's onRequest/preParsing/
// preValidation/preHandler hooks (auth, rate limits), or by Fastify itself.
// They reach the plugin's scoped error handler, which answers them in the
// protocol the request spoke, as the handler would have.

/**
 * The ConnectError to send for an error a hook raised. A ConnectError (ours
 * or connect-es's) is sent as it is. An error with an HTTP `statusCode`
 * (`fastify.httpErrors`, @fastify/sensible, Fastify's own FST_ERR_*) gets the
 * code the Connect protocol gives that status ("HTTP to Error Code"); its
 * message goes along only below 500, as Fastify's `http-errors` `expose` rule
 * has it. Anything else is internal with a generic message. `serverFault`
 * says whether the original is logged as a server failure.
 */
export function hookErrorToConnectError(e: unknown): { error: ConnectError; serverFault: boolean } {
  const known = asConnectError(e);
  if (known) return { error: known, serverFault: false };
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599) {
    const code = codeFromHttpStatus(status);
    if (status < 500) {
      return { error: new ConnectError(e instanceof Error ? e.message : "", code, { cause: e }), serverFault: false };
    }
    return { error: new ConnectError(`HTTP ${status}`, code, { cause: e }), serverFault: true };
  }
  return { error: new ConnectError("internal error", Code.Internal, { cause: e }), serverFault: true };
}

/** The protocol a request speaks, as its method and content-type say; Connect unary when they say nothing known. */
export function requestWire(request: FastifyRequest): ContentType | undefined {
  if (request.raw.method !== "POST") return undefined;
  return parseContentType(request.headers["content-type"]);
}

/**
 * Writes `error` as the whole response, in the request's protocol: a Connect
 * unary error (status from the code, JSON body), a Connect end-of-stream
 * message, or a gRPC / gRPC-Web trailers-only response (PROTOCOL-HTTP2.md,
 * "Responses"; PROTOCOL-WEB.md allows the same).
 */
export function writeErrorResponse(adapter: ResponseAdapter, wire: ContentType | undefined, error: ConnectError): void {
  const headers: OutgoingHttpHeaders = {};
  if (!wire?.streaming) {
    const body = errorToJsonBytes(error);
    appendHeaders(headers, error.metadata);
    headers["content-type"] = "application/json";
    headers["content-length"] = body.byteLength;
    adapter.head(codeToHttpStatus(error.code), headers);
    adapter.end(body);
    return;
  }
  if (wire.protocol === "connect") {
    const body = encodeEnvelope(FLAG_END_STREAM, endStreamToJsonBytes(error, new Headers()));
    headers["content-type"] = `application/connect+${wire.codec}`;
    headers["content-length"] = body.byteLength;
    adapter.head(200, headers);
    adapter.end(body);
    return;
  }
  headers["content-type"] =
    wire.protocol === "grpc"
      ? `application/grpc${wire.codec === "json" ? "+json" : ""}`
      : `application/grpc-web${wire.text ? "-text" : ""}+${wire.codec}`;
  adapter.head(200, { ...headers, ...grpcStatusTrailers(error, undefined) }, { endStream: true });
}
