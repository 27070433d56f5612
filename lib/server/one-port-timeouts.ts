import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * The Fastify server options that bound connections. Fastify passes them to a
 * `serverFactory` as its second argument (already defaulted) and applies none
 * of them itself when a factory is given.
 */
export interface FastifyConnectionLimits {
  connectionTimeout?: number;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  http2SessionTimeout?: number;
  maxRequestsPerSocket?: number;
}

/** Fastify's defaults (fastify/lib/config-validator.js), used when the factory is called without options. */
const FASTIFY_DEFAULTS = {
  connectionTimeout: 0,
  keepAliveTimeout: 72_000,
  requestTimeout: 0,
  http2SessionTimeout: 72_000,
} as const;

/**
 * Applies to the HTTP/1.1 side what Fastify applies to the node:http server
 * it makes itself (fastify/lib/server.js getServerInstance): keep-alive
 * timeout, request timeout, the socket inactivity timeout and the request cap
 * per socket. An option set explicitly in `http1` wins over Fastify's.
 */
export function boundHttp1(h1: http.Server, explicit: http.ServerOptions, limits: FastifyConnectionLimits): void {
  if (explicit.keepAliveTimeout === undefined) {
    h1.keepAliveTimeout = limits.keepAliveTimeout ?? FASTIFY_DEFAULTS.keepAliveTimeout;
  }
  if (explicit.requestTimeout === undefined && limits.requestTimeout !== undefined) {
    h1.requestTimeout = limits.requestTimeout;
  }
  h1.setTimeout(limits.connectionTimeout ?? FASTIFY_DEFAULTS.connectionTimeout);
  if (limits.maxRequestsPerSocket !== undefined && limits.maxRequestsPerSocket > 0) {
    h1.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  }
}

/**
 * Applies to the h2c side what Fastify applies to the node:http2 server it
 * makes itself: a session idle for `http2SessionTimeout` gets GOAWAY and
 * closes, and `connectionTimeout` bounds socket inactivity.
 */
export function boundHttp2(h2: http2.Http2Server, limits: FastifyConnectionLimits): void {
  const sessionTimeout = limits.http2SessionTimeout ?? FASTIFY_DEFAULTS.http2SessionTimeout;
  h2.on("session", (session: http2.ServerHttp2Session) => {
    // Node's Http2Session timeout counts time without any frame sent or
    // received; on expiry, close() sends GOAWAY and lets open streams finish.
    if (sessionTimeout > 0) session.setTimeout(sessionTimeout, () => session.close());
  });
  const connectionTimeout = limits.connectionTimeout ?? FASTIFY_DEFAULTS.connectionTimeout;
  if (connectionTimeout > 0) h2.setTimeout(connectionTimeout);
}
