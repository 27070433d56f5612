import type { OutgoingHttpHeaders } from "node:http";
import { readBody } from "../protocol/body-reader.js";
import { Code, codeToHttpStatus } from "../protocol/code.js";
import type { Compression } from "../protocol/compression.js";
import { endStreamToJsonBytes, errorToJsonBytes } from "../protocol/connect-json.js";
import { checkMessageSize, encodeEnvelope, FLAG_END_STREAM } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { appendHeaders } from "../protocol/headers.js";
import { percentDecode } from "../protocol/percent.js";
import { parseConnectTimeout } from "../protocol/timeout.js";
import type { ServerCall, UnaryResult } from "./call.js";
import { type EnvelopeWire, serveEnveloped } from "./envelope-call.js";
import { settle } from "./maybe-promise.js";
import { requestBodyErrors } from "./request-body.js";

// The Connect protocol (connectrpc.com/docs/protocol): unary over POST or GET,
// and streaming with enveloped messages and a JSON end-of-stream message.

/** Connect-Protocol-Version must be 1 when present, and present when the server requires it. */
function checkProtocolVersion(version: string | undefined, required: boolean): void {
  if (version === undefined) {
    if (required) {
      throw new ConnectError('missing required header Connect-Protocol-Version: set it to "1"', Code.InvalidArgument);
    }
    return;
  }
  if (version !== "1") {
    throw new ConnectError(`header Connect-Protocol-Version must be "1": got "${version}"`, Code.InvalidArgument);
  }
}

// ---------------------------------------------------------------------------
// Unary

/** The parts of a Connect GET query: ?message=…&encoding=…&base64=1&compression=…&connect=v1 */
export interface GetQuery {
  message?: Uint8Array;
  encoding?: string;
  base64?: string;
  compression?: string;
  connect?: string;
}

/**
 * Parses the query of a GET request. `message` is decoded to raw bytes here,
 * not through Fastify's string query parser: a binary message percent-encoded
 * without base64 is not valid UTF-8.
 */
export function parseGetQuery(url: string): GetQuery {
  const q: GetQuery = {};
  const start = url.indexOf("?");
  if (start < 0) return q;
  for (const pair of url.slice(start + 1).split("&")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const raw = eq < 0 ? "" : pair.slice(eq + 1);
    switch (key) {
      case "message":
        q.message = queryValue(raw);
        break;
      case "encoding":
      case "base64":
      case "compression":
      case "connect":
        q[key] = Buffer.from(queryValue(raw)).toString("utf8");
        break;
    }
  }
  return q;
}

/** A query-string value: '+' is a space there (application/x-www-form-urlencoded), then percent-decoding. */
function queryValue(raw: string): Uint8Array {
  return percentDecode(raw.replace(/\+/g, " "));
}

/** The request message bytes of a GET query, after base64; decompression is the caller's. */
function getMessageBytes(call: ServerCall, query: GetQuery): Uint8Array {
  let bytes = query.message;
  if (bytes === undefined) {
    throw new ConnectError('missing required query parameter "message"', Code.InvalidArgument);
  }
  if (query.base64 === "1") {
    const text = Buffer.from(bytes).toString("latin1");
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
      throw new ConnectError('invalid query parameter "message": not base64', Code.InvalidArgument);
    }
    bytes = Buffer.from(text, "base64");
  } else if (query.base64 !== undefined && query.base64 !== "0" && query.base64 !== "") {
    throw new ConnectError(`invalid query parameter "base64": "${query.base64}"`, Code.InvalidArgument);
  }
  checkMessageSize(bytes.byteLength, call.options.readMaxBytes, "readMaxBytes");
  return bytes;
}

/** Decodes the request message of a unary call, from a GET query or a POST body, and hands it to `next`. */
function readUnaryRequest(
  call: ServerCall,
  get: GetQuery | undefined,
  next: (request: unknown) => void,
  fail: (e: unknown) => void,
): void {
  const { options } = call;
  if (get) {
    if (get.connect === undefined ? options.requireConnectProtocolHeader : get.connect !== "v1") {
      throw new ConnectError(
        `query parameter "connect" must be "v1": got "${get.connect ?? ""}"`,
        Code.InvalidArgument,
      );
    }
    const bytes = getMessageBytes(call, get);
    settle(() => call.decodeRequest(bytes, options.compression.forRequest(get.compression)), next, fail);
    return;
  }
  checkProtocolVersion(call.header("connect-protocol-version"), options.requireConnectProtocolHeader);
  const compression = options.compression.forRequest(call.header("content-encoding"));
  // A promise, not a callback, so that the handler runs in the caller's AsyncLocalStorage context (see
  // RequestDecoder.one in envelope-call.ts).
  readBody(call.source, options.readMaxBytes, call.header("content-length"), requestBodyErrors).then(
    (body) => settle(() => call.decodeRequest(body, compression), next, fail),
    fail,
  );
}

/** The result of a unary call as it goes out: an error, or the encoded message. */
interface UnaryOutcome {
  error?: ConnectError;
  body?: Uint8Array;
  compressed?: Compression;
  result?: UnaryResult;
}

/** Writes a unary response in one go: status, headers, `trailer-` headers and the body, with a content-length. */
function sendUnary(call: ServerCall, { error, body, compressed, result }: UnaryOutcome): void {
  if (!call.complete(error)) return;
  const { ctx, options, adapter } = call;
  const headers: OutgoingHttpHeaders = {};
  const userHeader = result?.header ?? ctx.responseHeaderIfSet;
  const userTrailer = result?.trailer ?? ctx.responseTrailerIfSet;
  if (userHeader) appendHeaders(headers, userHeader);
  if (userTrailer) appendHeaders(headers, userTrailer, "trailer-");
  let status = 200;
  if (error) {
    status = codeToHttpStatus(error.code);
    appendHeaders(headers, error.metadata);
    body = errorToJsonBytes(error);
    headers["content-type"] = "application/json";
  } else {
    headers["content-type"] = call.codec.output.name === "proto" ? "application/proto" : "application/json";
    if (compressed) headers["content-encoding"] = compressed.name;
  }
  if (options.compression.acceptHeader) headers["accept-encoding"] = options.compression.acceptHeader;
  headers["content-length"] = body ? body.byteLength : 0;
  adapter.head(status, headers);
  adapter.end(body);
}

/**
 * Serves a Connect unary call, POST or GET. The whole response goes out in
 * one write with a content-length; trailers travel as `trailer-` headers.
 */
export function serveConnectUnary(call: ServerCall, get: GetQuery | undefined): void {
  const responseCompression = call.options.compression.negotiate(call.header("accept-encoding"));
  let result: UnaryResult | undefined;
  call.ctx.setAbortHandler((error) => sendUnary(call, { error, result }));
  call.watchClientAbort();
  const fail = (e: unknown) => {
    if (!call.finished) sendUnary(call, { error: call.wireError(e), result });
  };
  const respond = (res: UnaryResult) => {
    result = res;
    if (call.finished) return;
    settle(
      () => call.encodeResponse(res.message, responseCompression),
      ({ data, compressed }) =>
        sendUnary(call, { body: data, compressed: compressed ? responseCompression : undefined, result }),
      fail,
    );
  };
  try {
    if (call.earlyError) throw call.earlyError;
    call.applyTimeout(parseConnectTimeout(call.header("connect-timeout-ms")));
    readUnaryRequest(call, get, (request) => call.callUnary(request, respond, fail), fail);
  } catch (e) {
    fail(e);
  }
}

// ---------------------------------------------------------------------------
// Streaming

const streamWire = (codecName: string): EnvelopeWire => ({
  httpTrailers: false,
  malformedCode: Code.InvalidArgument,
  headHeaders(call, responseCompression) {
    const h: OutgoingHttpHeaders = { "content-type": `application/connect+${codecName}` };
    if (responseCompression) h["connect-content-encoding"] = responseCompression.name;
    const accept = call.options.compression.acceptHeader;
    if (accept) h["connect-accept-encoding"] = accept;
    return h;
  },
  end(error, trailer) {
    return { frame: encodeEnvelope(FLAG_END_STREAM, endStreamToJsonBytes(error, trailer ?? new Headers())) };
  },
});
const protoStreamWire = streamWire("proto");
const jsonStreamWire = streamWire("json");

/** Serves a Connect streaming call (any kind but unary); the status is always HTTP 200. */
export function serveConnectStream(call: ServerCall): void {
  const wire = call.codec.input.name === "proto" ? protoStreamWire : jsonStreamWire;
  serveEnveloped(call, wire, () => {
    const { compression } = call.options;
    checkProtocolVersion(call.header("connect-protocol-version"), false);
    call.applyTimeout(parseConnectTimeout(call.header("connect-timeout-ms")));
    return {
      request: compression.forRequest(call.header("connect-content-encoding")),
      response: compression.negotiate(call.header("connect-accept-encoding")),
    };
  });
}
