import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { boundHttp1, boundHttp2, type FastifyConnectionLimits } from "./one-port-timeouts.js";

/** The first bytes of every HTTP/2 connection with prior knowledge (RFC 9113, 3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Options of `onePortServerFactory`: each side's Node server options and the
 * time a new connection has to show which protocol it speaks.
 *
 * Besides these, the factory applies the Fastify options that bound
 * connections, which Fastify itself skips when a `serverFactory` is given:
 * `connectionTimeout` (socket inactivity, both sides; default 0, none),
 * `keepAliveTimeout` (idle HTTP/1.1 keep-alive; default 72 s),
 * `requestTimeout` (HTTP/1.1; default 0, none), `maxRequestsPerSocket`
 * (HTTP/1.1) and `http2SessionTimeout` (an h2c session without a frame for
 * that long gets GOAWAY and closes; default 72 s).
 */
export interface OnePortServerOptions {
  /** Options for the HTTP/1.1 side (node:http). An explicit `keepAliveTimeout` or `requestTimeout` here wins over Fastify's. */
  http1?: http.ServerOptions;
  /** Options for the h2c side (node:http2). */
  http2?: http2.ServerOptions;
  /**
   * Milliseconds a new connection has to send its first bytes, enough to tell
   * the HTTP/2 preface from an HTTP/1.1 request, before it is destroyed. Until
   * then neither server owns the connection, so none of their timeouts apply.
   * Default: the HTTP/1.1 side's `headersTimeout` (Node's default 60 s), the
   * bound a plain Fastify app puts on a connection that sends nothing.
   */
  prefaceTimeout?: number;
}

/**
 * Fastify's request handler. Typed for HTTP/1.1 so that the factory fits
 * `Fastify({ serverFactory })` as an HTTP/1.1 app; at run time HTTP/2
 * connections pass Node's compatibility request and response, which Fastify
 * handles alike.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * A factory for Fastify's `serverFactory` option that serves HTTP/1.1 and h2c
 * (HTTP/2 with prior knowledge) on one cleartext port: it reads the first
 * bytes of each connection and hands it to the HTTP/2 server when they are the
 * HTTP/2 connection preface, to the HTTP/1.1 server otherwise. Node's servers
 * each speak only one of the two on a cleartext port.
 *
 * ```ts
 * const app = Fastify({ serverFactory: onePortServerFactory() });
 * ```
 */
export function onePortServerFactory(options: OnePortServerOptions = {}) {
  return (handler: Handler, fastifyOptions: FastifyConnectionLimits = {}): http.Server => {
    const h1 = http.createServer(options.http1 ?? {}, handler);
    const h2 = http2.createServer(options.http2 ?? {}, handler as unknown as Parameters<typeof http2.createServer>[1]);
    boundHttp1(h1, options.http1 ?? {}, fastifyOptions);
    boundHttp2(h2, fastifyOptions);
    const prefaceTimeout = options.prefaceTimeout ?? h1.headersTimeout;
    const sessions = new Set<http2.ServerHttp2Session>();
    const undecided = new Set<net.Socket>();
    const server = net.createServer((socket) => sniff(socket, h1, h2, prefaceTimeout, undecided));
    // Fastify and the plugin look for these on the server it returns.
    h2.on("session", (session: http2.ServerHttp2Session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
      server.emit("session", session);
    });
    h1.on("clientError", (err, socket) => server.emit("clientError", err, socket));
    // node:http starts its connection bookkeeping (idle tracking for
    // closeIdleConnections, header and request timeouts) on 'listening'; the
    // HTTP/1.1 server never listens itself, so it is told when the port is up.
    server.on("listening", () => h1.emit("listening"));
    const close = server.close.bind(server);
    // Fastify needs listen, close and address; the object is a net.Server underneath.
    return Object.assign(server, {
      /** Stops accepting connections; idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY. */
      close(cb?: (err?: Error) => void) {
        close(cb);
        // Clears node:http's timers and closes idle connections; it then fails
        // with "not running", which is expected for a server that never listened.
        h1.close(() => {});
        // A connection that has not yet sent a request is idle: close it as node:http closes idle ones.
        for (const socket of undecided) socket.destroy();
        for (const s of sessions) if (!s.closed) s.close();
        return server;
      },
      closeIdleConnections() {
        h1.closeIdleConnections();
        for (const socket of undecided) socket.destroy();
      },
      closeAllConnections() {
        h1.closeAllConnections();
        for (const socket of undecided) socket.destroy();
        for (const s of sessions) s.destroy();
      },
    }) as unknown as http.Server;
  };
}

/**
 * Waits for enough bytes to tell the preface from an HTTP/1.1 request line,
 * then hands the socket on; destroys it if they do not come within `timeout`.
 */
function sniff(
  socket: net.Socket,
  h1: http.Server,
  h2: http2.Http2Server,
  timeout: number,
  undecided: Set<net.Socket>,
): void {
  // http.Server turns Nagle off on connections it accepts itself (its noDelay
  // option), not on ones handed to it; without this, a response written in
  // several small pieces (gRPC-Web's head, message, trailers) waits ~40 ms.
  socket.setNoDelay(true);
  let buffered: Buffer = Buffer.alloc(0);
  undecided.add(socket);
  const timer = timeout > 0 ? setTimeout(() => socket.destroy(), timeout) : undefined;
  const settle = () => {
    clearTimeout(timer);
    undecided.delete(socket);
  };
  socket.once("close", settle);
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const n = Math.min(buffered.length, PREFACE.length);
    const isPrefix = buffered.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isPrefix && n < PREFACE.length) return; // could still be either: wait for more
    socket.off("data", onData);
    socket.off("error", onError);
    socket.off("close", settle);
    settle();
    socket.pause();
    socket.unshift(buffered);
    if (isPrefix) {
      // The HTTP/2 session reads bytes already buffered on the socket on the
      // next tick (nodejs/node#35475); resuming here would drop them.
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  const onError = () => socket.destroy();
  socket.on("data", onData);
  socket.on("error", onError);
}
