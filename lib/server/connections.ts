import { constants, type Http2Session, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";

/** The largest stream id (RFC 9113, 5.1.1): a GOAWAY naming it refuses no stream. */
const MAX_STREAM_ID = 2 ** 31 - 1;

/** The server's connections, for the drain: raw sockets (HTTP/1.1 and HTTP/2) and HTTP/2 sessions. */
export class ServerConnections {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private draining = false;

  constructor(private readonly server: NodeJS.EventEmitter) {
    server.on("session", this.onSession);
    server.on("connection", this.onConnection);
    server.on("secureConnection", this.onConnection);
  }

  /** Stops tracking: the listeners come off the server. */
  detach(): void {
    this.server.off("session", this.onSession);
    this.server.off("connection", this.onConnection);
    this.server.off("secureConnection", this.onConnection);
  }

  /** Sockets still open. */
  get size(): number {
    return this.sockets.size;
  }

  private readonly onConnection = (socket: Socket) => {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  };

  private readonly onSession = (session: ServerHttp2Session) => {
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
    if (this.draining) announce(session);
  };

  /**
   * Tells every HTTP/2 peer that the server is going away without refusing a
   * stream it may be sending right now (RFC 9113, 6.8): a GOAWAY that names
   * the largest stream id. Node's `session.close()` instead names the last
   * stream it processed and refuses any stream the peer had already sent; a
   * proxy cannot retry those (nginx answers 502). Clients open no more
   * streams on the session; nginx closes an idle pooled connection that
   * receives it (but may reuse one that is busy: see examples/nginx).
   */
  goAway(): void {
    this.draining = true;
    for (const session of this.sessions) announce(session);
  }

  /** Closes what peers left open: HTTP/2 sessions with the final GOAWAY, then, shortly after, every socket. */
  closeAll(): void {
    for (const session of this.sessions) if (!session.closed) session.close();
    // A peer that holds an unread stream never closes; give the last frames
    // (end-of-stream, GOAWAY) a moment, then drop what is left.
    if (this.sockets.size > 0) setTimeout(() => this.destroyAll(), 100).unref();
  }

  private destroyAll(): void {
    for (const session of this.sessions) if (!session.destroyed) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }
}

function announce(session: Http2Session): void {
  if (!session.closed && !session.destroyed) session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
}
