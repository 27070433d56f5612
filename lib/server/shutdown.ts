import type { Http2Session } from "node:http2";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { ServerCall } from "./call.js";

/**
 * Graceful shutdown for `fastify.close()`: HTTP/2 sessions get GOAWAY (so
 * clients open no new streams, and the server can close; Node before 24 and
 * Fastify without `forceCloseConnections` leave them open), in-flight calls
 * get `graceMs` to finish, and whatever still runs is aborted: its signal
 * fires and the client gets `unavailable`.
 */
export function addGracefulShutdown(fastify: FastifyInstance, inFlight: Set<ServerCall>, graceMs: number): void {
  const sessions = new Set<Http2Session>();
  const server: NodeJS.EventEmitter = fastify.server;
  const onSession = (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  };
  server.on("session", onSession);
  // Raw sockets, to drop what peers keep open after the grace period: a
  // closed HTTP/2 session still waits for its peer to close the socket.
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  server.on("connection", onConnection);
  server.on("secureConnection", onConnection);

  fastify.addHook("preClose", async () => {
    server.off("session", onSession);
    server.off("connection", onConnection);
    server.off("secureConnection", onConnection);
    for (const s of sessions) if (!s.closed && !s.destroyed) s.close();
    if (inFlight.size > 0) await waitUntilIdle(inFlight, graceMs);
    for (const call of [...inFlight]) {
      call.ctx.abort(new ConnectError("the server is shutting down", Code.Unavailable));
    }
    // A gracefully closing HTTP/2 session waits for the peer to close the
    // connection; a peer that holds an unread stream never does. Give the
    // last frames (end-of-stream, GOAWAY) a moment, then drop what is left.
    if (sessions.size > 0 || sockets.size > 0) {
      setTimeout(() => {
        for (const s of sessions) if (!s.destroyed) s.destroy();
        for (const socket of sockets) socket.destroy();
      }, 100).unref();
    }
  });
}

function waitUntilIdle(inFlight: Set<ServerCall>, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(deadline);
      clearInterval(poll);
      resolve();
    };
    const deadline = setTimeout(done, graceMs);
    const poll = setInterval(() => {
      if (inFlight.size === 0) done();
    }, 5);
  });
}
