import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { readBody } from "../protocol/body-reader.js";
import { Code, codeFromHttpStatus } from "../protocol/code.js";
import { IDENTITY } from "../protocol/compression.js";
import { endStreamFromJson, errorFromJson } from "../protocol/connect-json.js";
import { checkResponseContentType } from "../protocol/content-type.js";
import { FLAG_END_STREAM } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import { formatConnectTimeout } from "../protocol/timeout.js";
import { type ClientCall, responseCompression, USER_AGENT } from "./call.js";
import { type ClientEnvelopeWire, runEnveloped } from "./envelope-call.js";
import type { HttpExchange } from "./exchange.js";
import type {
  ClientStreamRequest,
  ClientStreamResponse,
  ClientUnaryRequest,
  ClientUnaryResponse,
} from "./interceptor.js";

// The Connect protocol from the client's side (connectrpc.com/docs/protocol):
// unary over POST or GET, streaming with enveloped messages and a JSON
// end-of-stream message.

const connectStreamWire: ClientEnvelopeWire = {
  requestHeaders(call) {
    const { sendCompression, acceptCompression } = call.config;
    const h: OutgoingHttpHeaders = {
      "content-type": `application/connect+${call.input.name}`,
      "connect-protocol-version": "1",
      "user-agent": USER_AGENT,
    };
    if (call.timeoutMs !== undefined) h["connect-timeout-ms"] = formatConnectTimeout(call.timeoutMs);
    if (sendCompression) h["connect-content-encoding"] = sendCompression.name;
    if (acceptCompression.acceptHeader) h["connect-accept-encoding"] = acceptCompression.acceptHeader;
    return h;
  },
  readHead(call, head) {
    if (head.status !== 200) {
      // Streaming errors travel in the end-of-stream message with status 200;
      // another status is a proxy's or a server's refusal.
      throw new ConnectError(`HTTP ${head.status}`, codeFromHttpStatus(head.status));
    }
    checkResponseContentType(head.headers["content-type"], "connect", call.output.name, true);
    const encoding = head.headers["connect-content-encoding"] as string | undefined;
    return { compression: responseCompression(call.config.acceptCompression, encoding) };
  },
  endFlag: FLAG_END_STREAM,
  readEnd(_call, frame) {
    if (frame === undefined) {
      throw new ConnectError("protocol error: the stream ended without an end-of-stream message", Code.Internal);
    }
    return endStreamFromJson(frame);
  },
};

/** A Connect streaming call (client, server or bidi streaming). */
export function connectStream(call: ClientCall, req: ClientStreamRequest): Promise<ClientStreamResponse> {
  return runEnveloped(connectStreamWire, call, req);
}

/** Splits a unary response's headers: `trailer-` ones are the trailers (Connect protocol, "Unary-Response"). */
function splitUnaryHeaders(raw: IncomingHttpHeaders): { header: Headers; trailer: Headers } {
  const header = new Headers();
  const trailer = new Headers();
  for (const name in raw) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = raw[name];
    if (value === undefined) continue;
    const into = name.startsWith("trailer-") ? trailer : header;
    const key = into === trailer ? name.slice(8) : name;
    for (const v of Array.isArray(value) ? value : [value]) into.append(key, v);
  }
  return { header, trailer };
}

/** The query of a Connect GET request (Connect protocol, "Unary-Get-Request"). */
function getQuery(call: ClientCall, data: Uint8Array, compressed: boolean): string {
  let q = `?connect=v1&encoding=${call.input.name}`;
  if (compressed) q += `&compression=${call.config.sendCompression?.name}`;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (call.input.name === "json" && !compressed) q += `&message=${encodeURIComponent(buf.toString("utf8"))}`;
  else q += `&base64=1&message=${buf.toString("base64url")}`;
  return q;
}

/** A Connect unary call, as a POST, or as a GET for a side-effect-free method when the transport allows. */
export async function connectUnary(call: ClientCall, req: ClientUnaryRequest): Promise<ClientUnaryResponse> {
  const { config } = call;
  const encoded = call.encodeRequest(req.message);
  const { data, compressed } = encoded instanceof Promise ? await encoded : encoded;
  const get = req.requestMethod === "GET";
  const h: OutgoingHttpHeaders = { "user-agent": USER_AGENT };
  if (!get) {
    h["content-type"] = `application/${call.input.name}`;
    h["connect-protocol-version"] = "1";
    if (compressed) h["content-encoding"] = config.sendCompression?.name;
  }
  if (call.timeoutMs !== undefined) h["connect-timeout-ms"] = formatConnectTimeout(call.timeoutMs);
  if (config.acceptCompression.acceptHeader) h["accept-encoding"] = config.acceptCompression.acceptHeader;
  const headers = call.headers(h, req.header);
  let exchange: HttpExchange;
  try {
    call.throwIfAborted();
    const path = `${config.basePath}/${req.service.typeName}/${req.method.name}`;
    exchange = await config.http.open({
      method: get ? "GET" : "POST",
      path: get ? path + getQuery(call, data, compressed) : path,
      headers,
      cancel: call,
      noBody: get,
      replayable: true,
    });
    if (!get) {
      await exchange.write(data);
      exchange.end();
    }
    call.requestEnded = true;
    const head = await exchange.head;
    const body = await readBody(exchange.body, config.readMaxBytes, head.headers["content-length"], {
      gone: () => exchange.goneError(),
      truncated: () => exchange.goneError(),
    });
    call.responseEnded = true;
    const { header, trailer } = splitUnaryHeaders(head.headers);
    call.responseHeader = header;
    const encoding = head.headers["content-encoding"] as string | undefined;
    if (head.status !== 200) {
      throw await unaryError(call, head.status, head.headers["content-type"], encoding, body, header, trailer);
    }
    checkResponseContentType(head.headers["content-type"], "connect", call.output.name, false);
    const compression = responseCompression(config.acceptCompression, encoding);
    const decoded = call.decodeResponse(body, compression);
    const message = decoded instanceof Promise ? await decoded : decoded;
    return { stream: false, service: req.service, method: req.method, header, trailer, message };
  } catch (e) {
    throw call.failure(e);
  } finally {
    call.finish();
  }
}

/**
 * The error of a unary response that is not 200: the JSON error body when
 * there is one, with the code of the HTTP status for what the body lacks;
 * else only the HTTP status (a proxy's answer).
 */
async function unaryError(
  call: ClientCall,
  status: number,
  contentType: string | undefined,
  encoding: string | undefined,
  body: Uint8Array,
  header: Headers,
  trailer: Headers,
): Promise<ConnectError> {
  const metadata = new Headers(header);
  for (const [k, v] of trailer) metadata.append(k, v);
  const fallback = { code: codeFromHttpStatus(status), message: `HTTP ${status}` };
  if (contentType?.toLowerCase().startsWith("application/json")) {
    try {
      const compression =
        encoding && encoding !== IDENTITY ? responseCompression(call.config.acceptCompression, encoding) : undefined;
      const bytes = compression ? await call.decompressResponse(body, compression) : body;
      const error = errorFromJson(JSON.parse(Buffer.from(bytes).toString("utf8")), metadata, fallback);
      if (error) return error;
    } catch {
      // Not a Connect error body: fall back to the status.
    }
  }
  return new ConnectError(fallback.message, fallback.code, { metadata });
}
