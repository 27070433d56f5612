import { kMaxLength } from "node:buffer";
import * as tls from "node:tls";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import {
  compressionsOption,
  DEFAULT_READ_MAX_BYTES,
  functionsOption,
  intOption,
  objectOption,
  optionError,
} from "../options.js";
import type { JsonOptions } from "../protocol/codec.js";
import { type Compression, CompressionRegistry } from "../protocol/compression.js";
import { MAX_TIMER_MS } from "../protocol/timeout.js";
import { addStandardServices, type StandardServicesOptions } from "../services/register.js";
import type { ServerCall, ServerOptions } from "./call.js";
import { callLogPolicy } from "./call-log.js";
import { InFlightCalls } from "./in-flight.js";
import type { Interceptor } from "./interceptor.js";
import { MethodRoute } from "./route.js";
import { ConnectRouter } from "./router.js";
import { addGracefulShutdown, type DrainState } from "./shutdown.js";

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
  /**
   * On `fastify.close()`, once the calls are done, how long connections are
   * left for their clients to close before the server closes them. A proxy's
   * pooled connection closed by the server can race a request the proxy is
   * sending on it (nginx answers 502); behind a proxy, set this above the
   * proxy's keep-alive timeout for its upstream connections (nginx's
   * `keepalive_timeout` in the `upstream` block). Default 500 ms.
   */
  shutdownIdleMs?: number;
  /**
   * Whether each call writes one `rpc completed` line (rpc, protocol, code,
   * durationMs) through `request.log` at info level. Left out, the line
   * follows Fastify's `disableRequestLogging` (a boolean, or a function of the
   * request) or `logController` like Fastify's own request lines; `true` or
   * `false` decides alone.
   * The plugin's `logLevel` register option filters it like any request log.
   */
  logCalls?: boolean;
}

const DEFAULT_COMPRESS_MIN_BYTES = 1024;
const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
const DEFAULT_SHUTDOWN_IDLE_MS = 500;

/** Methods our routes listen on; OPTIONS stays free for CORS plugins. */
const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

/** Validates the options and fills in defaults; a bad option names itself. */
export function resolveOptions(
  opts: FastifyConnectRpcOptions,
): Omit<ServerOptions, "logCall"> & { shutdownGraceMs: number; shutdownIdleMs: number } {
  if (typeof opts.routes !== "function") throw optionError("routes", "a function (router) => void", opts.routes);
  const compressions = compressionsOption(opts.acceptCompression);
  objectOption(opts, "jsonOptions");
  functionsOption(opts, "interceptors");
  if (opts.requireConnectProtocolHeader !== undefined && typeof opts.requireConnectProtocolHeader !== "boolean") {
    throw optionError("requireConnectProtocolHeader", "a boolean", opts.requireConnectProtocolHeader);
  }
  if (opts.logCalls !== undefined && typeof opts.logCalls !== "boolean") {
    throw optionError("logCalls", "a boolean", opts.logCalls);
  }
  return {
    readMaxBytes: intOption(opts, "readMaxBytes", 1, kMaxLength, DEFAULT_READ_MAX_BYTES),
    writeMaxBytes: intOption(opts, "writeMaxBytes", 1, kMaxLength, kMaxLength),
    compressMinBytes: intOption(opts, "compressMinBytes", 0, kMaxLength, DEFAULT_COMPRESS_MIN_BYTES),
    compression: new CompressionRegistry(compressions),
    json: opts.jsonOptions ?? {},
    requireConnectProtocolHeader: opts.requireConnectProtocolHeader ?? false,
    maxTimeoutMs: intOption(opts, "maxTimeoutMs", 1, Number.MAX_SAFE_INTEGER, undefined),
    shutdownGraceMs: intOption(opts, "shutdownGraceMs", 0, MAX_TIMER_MS, DEFAULT_SHUTDOWN_GRACE_MS),
    shutdownIdleMs: intOption(opts, "shutdownIdleMs", 0, MAX_TIMER_MS, DEFAULT_SHUTDOWN_IDLE_MS),
  };
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

const connectRpcPlugin: FastifyPluginAsync<FastifyConnectRpcOptions> = async (fastify, opts) => {
  const options = { ...resolveOptions(opts), logCall: callLogPolicy(fastify, opts.logCalls) };
  const router = new ConnectRouter(opts.interceptors ?? []);
  opts.routes(router);
  const services = addStandardServices(router, opts);

  // This plugin is encapsulated: these parsers apply to our routes only. The
  // body is left unread so each protocol can stream it.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("*", (_req, _payload, done) => done(null));
  disableNagleOnTls(fastify.server);

  const inFlight = new InFlightCalls<ServerCall>();
  const drain: DrainState = { draining: false };
  for (const entry of router.entries) {
    const route = new MethodRoute(entry, options, inFlight, drain);
    fastify.route({
      method: ROUTE_METHODS,
      url: `/${entry.method.parent.typeName}/${entry.method.name}`,
      exposeHeadRoute: false,
      handler: route.handle,
      // An app hook's error (auth, say) reaches the client as an RPC error in
      // its protocol; the app's other routes keep their own error handler.
      errorHandler: route.onError,
    });
  }

  addGracefulShutdown(fastify, inFlight, drain, {
    graceMs: options.shutdownGraceMs,
    idleMs: options.shutdownIdleMs,
    onDrain: services.onDrain,
  });
};

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
