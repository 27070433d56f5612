import { kMaxLength } from "node:buffer";
import type { OutgoingHttpHeaders } from "node:http";
import * as tls from "node:tls";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { compressionsOption, functionsOption, intOption, objectOption, optionError } from "../options.js";
import { type CodecName, createCodec, type JsonOptions } from "../protocol/codec.js";
import { type Compression, CompressionRegistry } from "../protocol/compression.js";
import { type ProtocolName, parseContentType, supportedContentTypes } from "../protocol/content-type.js";
import { addStandardServices, type StandardServicesOptions } from "../services/register.js";
import { type MethodCodec, ServerCall, type ServerOptions } from "./call.js";
import { parseGetQuery, serveConnectStream, serveConnectUnary } from "./connect.js";
import { CallContext } from "./context.js";
import { serveGrpc } from "./grpc.js";
import { base64Response, serveGrpcWeb } from "./grpc-web.js";
import { requestBodySource } from "./request-body.js";
import { createResponseAdapter, type ResponseAdapter } from "./response.js";
import { ConnectRouter, type Interceptor, type MethodEntry } from "./router.js";
import { addGracefulShutdown } from "./shutdown.js";

/** Options of the fastifyConnectRpc plugin. */
export interface FastifyConnectRpcOptions extends StandardServicesOptions {
  /** Registers the services to serve: `routes(router) { router.service(ElizaService, impl) }`. */
  routes: (router: ConnectRouter) => void;
  /** The largest request message accepted, after decompression too. Default 4 MiB. */
  readMaxBytes?: number;
  /** The largest response message a handler may send. Default: unlimited. */
  writeMaxBytes?: number;
  /** Responses smaller than this go uncompressed. Default 1 KiB. */
  compressMinBytes?: number;
  /**
   * Compressions accepted and offered, by name ("gzip", "br", "deflate") or as
   * Compression objects. Default: gzip, br and deflate. Identity is always accepted.
   */
  acceptCompression?: readonly (string | Compression)[];
  /** Options for the JSON codec (@bufbuild/protobuf's read and write options). */
  jsonOptions?: JsonOptions;
  /** Interceptors, outermost first. */
  interceptors?: readonly Interceptor[];
  /** Refuse Connect unary requests without `Connect-Protocol-Version: 1` (or `connect=v1` for GET). Default false. */
  requireConnectProtocolHeader?: boolean;
  /** The longest timeout a client may ask for; longer is invalid_argument. Default: no limit. */
  maxTimeoutMs?: number;
  /** On `fastify.close()`, how long in-flight calls may run before they are aborted. Default 5000 ms. */
  shutdownGraceMs?: number;
}

const DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024;
const DEFAULT_COMPRESS_MIN_BYTES = 1024;
const DEFAULT_SHUTDOWN_GRACE_MS = 5000;

/** Methods our routes listen on; OPTIONS stays free for CORS plugins. */
const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

/** Validates the options and fills in defaults; a bad option names itself. */
export function resolveOptions(
  opts: FastifyConnectRpcOptions,
): Omit<ServerOptions, "silent"> & { shutdownGraceMs: number } {
  const o = opts as unknown as Record<string, unknown>;
  if (typeof opts.routes !== "function") throw optionError("routes", "a function (router) => void", opts.routes);
  const compressions = compressionsOption(opts.acceptCompression);
  objectOption(o, "jsonOptions");
  functionsOption(o, "interceptors");
  if (opts.requireConnectProtocolHeader !== undefined && typeof opts.requireConnectProtocolHeader !== "boolean") {
    throw optionError("requireConnectProtocolHeader", "a boolean", opts.requireConnectProtocolHeader);
  }
  return {
    readMaxBytes: intOption(o, "readMaxBytes", 1, kMaxLength, DEFAULT_READ_MAX_BYTES),
    writeMaxBytes: intOption(o, "writeMaxBytes", 1, kMaxLength, kMaxLength),
    compressMinBytes: intOption(o, "compressMinBytes", 0, kMaxLength, DEFAULT_COMPRESS_MIN_BYTES),
    compression: new CompressionRegistry(compressions),
    json: opts.jsonOptions ?? {},
    requireConnectProtocolHeader: opts.requireConnectProtocolHeader ?? false,
    maxTimeoutMs: intOption(o, "maxTimeoutMs", 1, Number.MAX_SAFE_INTEGER, undefined),
    shutdownGraceMs: intOption(o, "shutdownGraceMs", 0, 2 ** 31 - 1, DEFAULT_SHUTDOWN_GRACE_MS),
  };
}

/**
 * Fastify without a logger uses a null logger whose `child()` is itself and
 * which has no level; per-call log lines are then skipped, not built.
 */
function hasNullLogger(fastify: FastifyInstance): boolean {
  const log = fastify.log as FastifyInstance["log"] & { level?: string };
  return log.level === undefined && log.child({}) === log;
}

const tunedServers = new WeakSet<object>();

/**
 * Node's secure HTTP/2 server hands HTTP/1.1 connections (allowHTTP1) to the
 * HTTP/1.1 code with Nagle's algorithm still on, so each small write of a
 * stream waits ~40 ms for an ACK. RPC messages are small and latency-bound.
 */
function disableNagleOnTls(server: object): void {
  if (!(server instanceof tls.Server) || tunedServers.has(server)) return;
  tunedServers.add(server);
  server.on("secureConnection", (socket: tls.TLSSocket) => socket.setNoDelay(true));
}

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

const connectRpcPlugin: FastifyPluginAsync<FastifyConnectRpcOptions> = async (fastify, opts) => {
  const options = { ...resolveOptions(opts), silent: hasNullLogger(fastify) };
  const router = new ConnectRouter(opts.interceptors ?? []);
  opts.routes(router);
  addStandardServices(fastify, router, opts);

  // This plugin is encapsulated: these parsers apply to our routes only. The
  // body is left unread so each protocol can stream it.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("*", (_req, _payload, done) => done(null));
  disableNagleOnTls(fastify.server);

  const inFlight = new Set<ServerCall>();
  for (const entry of router.entries) {
    fastify.route({
      method: ROUTE_METHODS,
      url: `/${entry.method.parent.typeName}/${entry.method.name}`,
      exposeHeadRoute: false,
      handler: routeHandler(entry, options, inFlight),
    });
  }

  addGracefulShutdown(fastify, inFlight, options.shutdownGraceMs);
};

function routeHandler(entry: MethodEntry, options: ServerOptions, inFlight: Set<ServerCall>) {
  const method = entry.method;
  const idempotent = method.idempotency === 1; // NO_SIDE_EFFECTS
  const allow = idempotent ? "GET, POST" : "POST";
  const codecs = new Map<CodecName, MethodCodec>();
  const codecFor = (name: CodecName): MethodCodec => {
    let c = codecs.get(name);
    if (!c) {
      c = {
        input: createCodec(method.input, name, options.json),
        output: createCodec(method.output, name, options.json),
      };
      codecs.set(name, c);
    }
    return c;
  };
  const newCall = (
    request: FastifyRequest,
    adapter: ResponseAdapter,
    protocol: ProtocolName,
    codec: CodecName,
    httpMethod: string,
  ) =>
    new ServerCall(
      entry,
      new CallContext(method, protocol, httpMethod, request),
      adapter,
      requestBodySource(request.raw),
      request,
      options,
      codecFor(codec),
      inFlight,
    );
  const unaryMethod = method.methodKind === "unary";
  // Every content-type this method accepts, for 415 answers.
  const acceptPost = supportedContentTypes
    .filter((t) => {
      const ct = parseContentType(t);
      return ct && (ct.protocol !== "connect" || ct.streaming !== unaryMethod);
    })
    .join(", ");

  return function handle(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
    // Headers the app's hooks set (CORS, say) would be lost once the reply is hijacked; carry them over.
    const hookHeaders = replyHeaders(reply);
    reply.hijack();
    const adapter = createResponseAdapter(request.raw, reply.raw, hookHeaders);
    const httpMethod = request.raw.method ?? "";
    if (httpMethod === "POST") {
      const ct = parseContentType(request.headers["content-type"]);
      // Connect picks unary or streaming framing by content-type, and it must match the method.
      if (!ct || (ct.protocol === "connect" && ct.streaming === unaryMethod)) {
        rejectHttp(
          adapter,
          415,
          { "accept-post": acceptPost },
          `unsupported content-type "${request.headers["content-type"] ?? ""}"; expected ${acceptPost}`,
        );
        return;
      }
      switch (ct.protocol) {
        case "connect": {
          const call = newCall(request, adapter, "connect", ct.codec, httpMethod);
          void (ct.streaming ? serveConnectStream(call) : serveConnectUnary(call, undefined));
          return;
        }
        case "grpc":
          // gRPC needs HTTP trailers, which only HTTP/2 gives us here (connect-go answers the same).
          if (adapter.httpVersion !== 2) {
            rejectHttp(adapter, 505, {}, "gRPC requires HTTP/2; use gRPC-Web or Connect over HTTP/1.1");
            return;
          }
          void serveGrpc(newCall(request, adapter, "grpc", ct.codec, httpMethod));
          return;
        case "grpc-web":
          void serveGrpcWeb(
            newCall(request, ct.text ? base64Response(adapter) : adapter, "grpc-web", ct.codec, httpMethod),
            ct.text,
          );
          return;
      }
    }
    if (httpMethod === "GET" && idempotent) {
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
      void serveConnectUnary(newCall(request, adapter, "connect", codec, httpMethod), query);
      return;
    }
    rejectHttp(adapter, 405, { allow }, `method ${httpMethod} is not allowed; use ${allow.replace(", ", " or ")}`);
  };
}

/**
 * The Fastify plugin: serves Connect (and, on the same routes, gRPC and
 * gRPC-Web) for the services that `routes` registers. It keeps its own
 * encapsulated scope, so its body parsers never touch the app's other routes;
 * `prefix` works as for any Fastify plugin.
 */
export const fastifyConnectRpc = fp(connectRpcPlugin, {
  fastify: "5.x",
  name: "fastify-connectrpc",
  encapsulate: true,
});
