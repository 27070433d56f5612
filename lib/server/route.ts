import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type CodecName, createCodec } from "../protocol/codec.js";
import {
  type ContentType,
  type ProtocolName,
  parseContentType,
  supportedContentTypes,
} from "../protocol/content-type.js";
import { type MethodCodec, ServerCall, type ServerOptions } from "./call.js";
import { type GetQuery, parseGetQuery, serveConnectStream, serveConnectUnary } from "./connect.js";
import { CallContext } from "./context.js";
import { serveGrpc } from "./grpc.js";
import { serveGrpcWeb } from "./grpc-web.js";
import { hookErrorToConnectError } from "./hook-errors.js";
import type { InFlightCalls } from "./in-flight.js";
import { requestBodySource } from "./request-body.js";
import { createResponseAdapter, type ResponseAdapter } from "./response.js";
import type { MethodEntry } from "./router.js";
import type { DrainState } from "./shutdown.js";

/** Fastify's own store of reply headers, found once; undefined if a Fastify version hides it. */
let replyHeaderStore: symbol | undefined | null = null;

/**
 * The headers hooks set on a reply, or undefined when there are none (the
 * usual case). `reply.getHeaders()` copies two objects on every call, so the
 * store Fastify's `reply.header()` writes to is looked at first.
 */
function replyHeaders(reply: FastifyReply): OutgoingHttpHeaders | undefined {
  if (replyHeaderStore === null) {
    replyHeaderStore = Object.getOwnPropertySymbols(reply).find((s) => s.description === "fastify.reply.headers");
  }
  if (replyHeaderStore !== undefined) {
    const own = (reply as unknown as Record<symbol, object>)[replyHeaderStore];
    let any = false;
    for (const _ in own) {
      any = true;
      break;
    }
    if (!any) return undefined;
  }
  const h = reply.getHeaders();
  for (const _ in h) return h as OutgoingHttpHeaders;
  return undefined;
}

/** Answers a request that never became a call (405, 415, 505): plain HTTP with a short text body. */
function rejectHttp(adapter: ResponseAdapter, status: number, headers: OutgoingHttpHeaders, message: string): void {
  const body = Buffer.from(message);
  headers["content-type"] = "text/plain; charset=utf-8";
  headers["content-length"] = body.byteLength;
  adapter.head(status, headers);
  adapter.end(body);
}

/** Hijacks the reply: the protocols write the raw response. Headers the app's hooks set (CORS, say) go along. */
function takeOver(request: FastifyRequest, reply: FastifyReply): ResponseAdapter {
  const hookHeaders = replyHeaders(reply);
  reply.hijack();
  return createResponseAdapter(request.raw, reply.raw, hookHeaders);
}

/** Serves a call in the protocol its content-type names. */
function serve(call: ServerCall, ct: ContentType, get: GetQuery | undefined): void {
  switch (ct.protocol) {
    case "connect":
      if (ct.streaming) serveConnectStream(call);
      else serveConnectUnary(call, get);
      return;
    case "grpc":
      serveGrpc(call);
      return;
    case "grpc-web":
      serveGrpcWeb(call, ct.text);
      return;
  }
}

function rpcName(entry: MethodEntry): string {
  return `${entry.method.parent.typeName}/${entry.method.name}`;
}

/**
 * One method's route handler: the checks made once before any protocol code
 * runs (405 for the HTTP method, 415 for the content-type, 505 for gRPC over
 * HTTP/1.1), then the protocol the content-type names.
 */
export class MethodRoute {
  private readonly codecs = new Map<CodecName, MethodCodec>();
  private readonly idempotent: boolean;
  private readonly allow: string;
  private readonly unary: boolean;
  /** Every content-type this method accepts, for 415 answers. */
  private readonly acceptPost: string;

  constructor(
    private readonly entry: MethodEntry,
    private readonly options: ServerOptions,
    private readonly inFlight: InFlightCalls<ServerCall>,
    private readonly drain: DrainState,
  ) {
    this.idempotent = entry.method.idempotency === 1; // NO_SIDE_EFFECTS
    this.allow = this.idempotent ? "GET, POST" : "POST";
    this.unary = entry.method.methodKind === "unary";
    this.acceptPost = supportedContentTypes
      .filter((t) => {
        const ct = parseContentType(t);
        return ct && (ct.protocol !== "connect" || ct.streaming !== this.unary);
      })
      .join(", ");
  }

  /** The Fastify handler: takes the raw response over, then serves the call or refuses the request. */
  readonly handle = (request: FastifyRequest, reply: FastifyReply): void => {
    // While the server drains, an HTTP/1.1 client (a proxy's pooled
    // connection) is told not to send another request on this connection.
    if (this.drain.draining && request.raw.httpVersionMajor === 1) reply.raw.setHeader("connection", "close");
    const adapter = takeOver(request, reply);
    const httpMethod = request.raw.method ?? "";
    if (httpMethod === "POST") this.post(request, adapter);
    else if (httpMethod === "GET" && this.idempotent) this.get(request, adapter);
    else {
      const allowed = this.allow.replace(", ", " or ");
      rejectHttp(adapter, 405, { allow: this.allow }, `method ${httpMethod} is not allowed; use ${allowed}`);
    }
  };

  /**
   * The route's Fastify error handler: an error raised before the handler ran
   * (an app hook's, or Fastify's own) ends the call at once, in the protocol
   * the request speaks, as a handler's error would (Connect JSON for a
   * request that names none).
   */
  readonly onError = (e: Error, request: FastifyRequest, reply: FastifyReply): void => {
    const { error, serverFault } = hookErrorToConnectError(e);
    if (serverFault) request.log.error({ err: e, rpc: rpcName(this.entry) }, "request hook failed");
    // A hook that answered itself (reply.send, then threw) keeps its answer.
    if (reply.sent || reply.raw.headersSent) return;
    const adapter = takeOver(request, reply);
    const posted = request.raw.method === "POST" ? parseContentType(request.headers["content-type"]) : undefined;
    const ct = this.accepts(posted) ? posted : undefined;
    const call = this.call(request, adapter, ct?.protocol ?? "connect", ct?.codec ?? "json");
    call.earlyError = error;
    if (ct) serve(call, ct, undefined);
    else serveConnectUnary(call, undefined);
  };

  /** Whether a POST content-type is one of this method's: Connect's framing must match the method's kind. */
  private accepts(ct: ContentType | undefined): ct is ContentType {
    return ct !== undefined && !(ct.protocol === "connect" && ct.streaming === this.unary);
  }

  private post(request: FastifyRequest, adapter: ResponseAdapter): void {
    const ct = parseContentType(request.headers["content-type"]);
    if (!this.accepts(ct)) {
      const got = request.headers["content-type"] ?? "";
      rejectHttp(
        adapter,
        415,
        { "accept-post": this.acceptPost },
        `unsupported content-type "${got}"; expected ${this.acceptPost}`,
      );
      return;
    }
    // gRPC needs HTTP trailers, which only HTTP/2 gives us here (connect-go answers the same).
    if (ct.protocol === "grpc" && adapter.httpVersion !== 2) {
      rejectHttp(adapter, 505, {}, "gRPC requires HTTP/2; use gRPC-Web or Connect over HTTP/1.1");
      return;
    }
    serve(this.call(request, adapter, ct.protocol, ct.codec), ct, undefined);
  }

  /** A Connect GET request (Connect protocol, "Unary-Get-Request"): the message is in the query. */
  private get(request: FastifyRequest, adapter: ResponseAdapter): void {
    const query = parseGetQuery(request.raw.url ?? "");
    const codec = query.encoding;
    if (codec !== "proto" && codec !== "json") {
      rejectHttp(
        adapter,
        415,
        {},
        `unsupported message encoding "${codec ?? ""}" in query parameter "encoding"; expected "proto" or "json"`,
      );
      return;
    }
    serveConnectUnary(this.call(request, adapter, "connect", codec), query);
  }

  private call(request: FastifyRequest, adapter: ResponseAdapter, protocol: ProtocolName, codec: CodecName) {
    const { entry, options } = this;
    return new ServerCall(
      entry,
      new CallContext(entry.method, protocol, request.raw.method ?? "", request),
      adapter,
      requestBodySource(request.raw),
      request,
      options,
      this.codec(codec),
      this.inFlight,
    );
  }

  private codec(name: CodecName): MethodCodec {
    let c = this.codecs.get(name);
    if (!c) {
      const { method } = this.entry;
      c = {
        input: createCodec(method.input, name, this.options.json),
        output: createCodec(method.output, name, this.options.json),
      };
      this.codecs.set(name, c);
    }
    return c;
  }
}
