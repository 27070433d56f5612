import { constants, type Http2Session, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";

/** The largest stream id (RFC 9113, 5.1.1): a GOAWAY naming it refuses no stream. */
const MAX_STREAM_ID = 2 ** 31 - 1;

/** What the drain knows of one HTTP/2 session. */
interface SessionState {
  openStreams: number;
  /** It was sent the GOAWAY that refuses nothing. */
  toldGoaway: boolean;
}

/** Marks each socket so that its HTTP/2 session (which only exposes a proxy of it) can find it. */
const kSocketId = Symbol("fastify-connectrpc.socketId");

/**
 * The server's connections, for the drain: HTTP/2 sessions, and sockets that
 * carry none (HTTP/1.1, or not yet told apart).
 */
export class ServerConnections {
  private readonly sockets = new Map<number, Socket>();
  private readonly sessions = new Map<Http2Session, SessionState>();
  private nextId = 0;
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

  /** Connections still open. */
  get size(): number {
    return this.sockets.size + this.sessions.size;
  }

  private readonly onConnection = (socket: Socket) => {
    const id = this.nextId++;
    (socket as unknown as Record<symbol, number>)[kSocketId] = id;
    this.sockets.set(id, socket);
    socket.once("close", () => this.sockets.delete(id));
  };

  private readonly onSession = (session: ServerHttp2Session) => {
    // From here the session stands for its socket: the socket of a session
    // that sent GOAWAY emits no 'close' (see goAway).
    const id = (session.socket as unknown as Record<symbol, number | undefined>)[kSocketId];
    if (id !== undefined) this.sockets.delete(id);
    const state: SessionState = { openStreams: 0, toldGoaway: false };
    this.sessions.set(session, state);
    session.once("close", () => this.sessions.delete(session));
    session.on("stream", (stream: ServerHttp2Stream) => {
      state.openStreams++;
      if (this.draining) this.announce(session, state);
      stream.once("close", () => {
        state.openStreams--;
        this.closeIfTold(session, state);
      });
    });
  };

  /**
   * Tells the HTTP/2 peers with calls open that the server is going away,
   * without refusing a stream they may be sending right now (RFC 9113, 6.8):
   * a GOAWAY that names the largest stream id (Node's `session.close()` names
   * the last stream processed and refuses any stream already on its way; a
   * proxy cannot retry those, nginx answers 502). It goes out while a call is
   * open on the session, before that call's response ends, so that nginx reads
   * it as part of that call and stops reusing the connection. Once such a
   * session has no call left it is closed: after sending GOAWAY, Node (20) stops
   * reading a session with no open stream, so it would neither see a new
   * stream nor notice the peer closing the connection. Idle sessions get
   * nothing: their peers may still use them (and are served), or close them
   * (a proxy's keep-alive timeout); a new stream on one gets the GOAWAY then.
   */
  goAway(): void {
    this.draining = true;
    for (const [session, state] of this.sessions) if (state.openStreams > 0) this.announce(session, state);
  }

  private announce(session: Http2Session, state: SessionState): void {
    if (session.closed || session.destroyed) return;
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    state.toldGoaway = true;
  }

  private closeIfTold(session: Http2Session, state: SessionState): void {
    if (state.toldGoaway && state.openStreams === 0 && !session.closed) session.close();
  }

  /** Closes what peers left open: HTTP/2 sessions with the final GOAWAY, then, shortly after, every socket. */
  closeAll(): void {
    for (const session of this.sessions.keys()) if (!session.closed) session.close();
    // A peer that holds an unread stream never closes; give the last frames
    // (end-of-stream, GOAWAY) a moment, then drop what is left.
    if (this.size > 0) setTimeout(() => this.destroyAll(), 100).unref();
  }

  private destroyAll(): void {
    for (const session of this.sessions.keys()) if (!session.destroyed) session.destroy();
    for (const socket of this.sockets.values()) socket.destroy();
  }
}
