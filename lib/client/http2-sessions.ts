import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type Http2Session,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import http2wrapper from "http2-wrapper";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { CallCancellation } from "./exchange.js";

/** How the HTTP/2 sessions of one transport are kept. */
export interface Http2SessionOptions {
  /** Streams one session carries at once, below what the server allows; more calls open another session. */
  maxConcurrentStreams?: number;
  /** Sends a PING on a session this often (milliseconds); off by default, as in grpc-go and connect-es. */
  pingIntervalMs?: number;
  /** A session whose PING is not answered in this time is dead and closed. Default 15 s. */
  pingTimeoutMs?: number;
  /** Closes a session that has carried no stream for this long. Default 60 s. */
  idleTimeoutMs?: number;
}

const { Agent } = http2wrapper;
type Agent = InstanceType<typeof Agent>;
const kStreamCount = (Agent as unknown as { kCurrentStreamCount: symbol }).kCurrentStreamCount;
const kGracefullyClosing = (Agent as unknown as { kGracefullyClosing: symbol }).kGracefullyClosing;

type TrackedSession = ClientHttp2Session & { [key: symbol]: unknown };

/** When a session last carried a stream (ms since the epoch), for the idle timeout. */
const kLastActive = Symbol("http2SessionLastActive");

/** Closes a session that takes no new streams once it has none left (see `closeWhenDone`). */
const kAfterGoaway = Symbol("http2AfterGoaway");

/** The last-stream-id of the GOAWAY a session got. */
const kGoawayLastStreamId = Symbol("http2GoawayLastStreamId");

/** A socket's own object, read through the proxy Node puts in `session.socket` (which cannot destroy it). */
const kRawSocket = Symbol("http2RawSocket");

/** Marks a socket whose HTTP/2 session got the server's SETTINGS. */
const kReady = Symbol("http2SessionReady");

/**
 * The HTTP/2 sessions to one origin, pooled by http2-wrapper's Agent: a call
 * takes a stream on the busiest session that still has room, and a new
 * session opens when all are full. This adds what the Agent leaves out:
 * h2c with prior knowledge, a cap on streams per session, keepalive PINGs,
 * closing idle sessions, and no new streams on a session that got GOAWAY.
 */
export class Http2Sessions {
  private readonly agent: Agent;
  /** The Agent names sessions by an https origin, whatever the scheme (see `h2cSocket`). */
  private readonly origin: URL;
  private readonly connectOptions: SecureClientSessionOptions;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Rejecters of requests still waiting for a session. */
  private readonly waiting = new Set<(e: unknown) => void>();

  constructor(
    baseUrl: URL,
    tlsOptions: tls.ConnectionOptions | undefined,
    private readonly options: Http2SessionOptions,
  ) {
    this.agent = new Agent({ maxEmptySessions: Number.POSITIVE_INFINITY });
    // A 1 MiB stream window bounds what a slow reader lets a server stream
    // buffer; http2-wrapper's default of 32 MiB would let it buffer far more.
    this.agent.settings = { enablePush: false, initialWindowSize: 1024 * 1024 };
    // One Agent per transport, always with the same options: skip building the
    // 40-field options key the Agent would make on every request.
    this.agent.normalizeOptions = () => "";
    this.agent.on("session", (session: TrackedSession) => this.track(session));
    const secure = baseUrl.protocol === "https:";
    const host = baseUrl.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(baseUrl.port || (secure ? 443 : 80));
    let name = baseUrl.hostname;
    let connect: () => net.Socket;
    if (secure) {
      // Our own TLS socket: no IP address as SNI (RFC 6066, section 3), a
      // `servername` other than the URL's host, and a handshake that fails
      // late (a TLS 1.3 server refusing the client certificate) reaches the
      // waiting calls instead of leaving them hanging.
      const { servername, ...rest } = tlsOptions ?? {};
      const sni = servername ?? (net.isIP(host) ? undefined : host);
      if (sni) name = sni;
      connect = () => tls.connect({ ...rest, host, port, servername: sni, ALPNProtocols: ["h2"] });
    } else {
      connect = () => h2cSocket(host, port, baseUrl.hostname);
    }
    this.origin = new URL(`https://${name}:${port}`);
    this.connectOptions = { createConnection: () => this.watch(connect()) };
  }

  /**
   * Opens a stream; a cancel resets it with CANCEL, or fails the wait for it.
   * Node's own `signal` and `endStream` options are not used: any options
   * object costs a few microseconds in `request()` on Node 20 (V8 makes new
   * maps for the properties Node adds to its spread copy: bench/RESULTS.md),
   * and Node ends the stream of a GET by itself.
   */
  request(headers: OutgoingHttpHeaders, cancel: CallCancellation): Promise<ClientHttp2Stream> {
    const pending: Promise<ClientHttp2Stream> = this.agent.request(this.origin, this.connectOptions, headers);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        this.waiting.delete(fail);
        reject(e);
      };
      this.waiting.add(fail);
      cancel.onCancel(() => fail(new ConnectError("the call was cancelled", Code.Canceled)));
      pending.then((stream) => {
        this.watchStream(stream);
        // A stream that arrives after its call gave up (or its connection failed) is not wanted.
        if (settled) {
          cancelStream(stream);
          return;
        }
        settled = true;
        this.waiting.delete(fail);
        cancel.onCancel(() => cancelStream(stream));
        resolve(stream);
      }, fail);
    });
  }

  /** Keeps an unheard stream error from crashing the process, and counts each stream's end as activity. */
  private watchStream(stream: ClientHttp2Stream): void {
    stream.on("error", () => {});
    // Short calls fall between the idle timer's ticks; each one ending counts as activity.
    const session = stream.session as TrackedSession | undefined;
    if (session) {
      stream.once("close", () => {
        session[kLastActive] = Date.now();
        (session[kAfterGoaway] as (() => void) | undefined)?.();
      });
    }
  }

  /**
   * Fails the waiting calls when a connection closes before its session is
   * ready: http2-wrapper swallows the socket's error, and Node does not always
   * close the session for it.
   */
  private watch(socket: net.Socket): net.Socket {
    const failed = (e: unknown) => {
      if ((socket as net.Socket & { [kReady]?: boolean })[kReady]) return;
      // Node quirk: a TLS 1.3 alert after the handshake (a refused client
      // certificate) errors the socket but never closes it or the session.
      socket.destroy();
      const reason = e ?? new Error("the connection closed before the HTTP/2 session was ready");
      for (const fail of [...this.waiting]) fail(reason);
    };
    socket.once("error", failed);
    socket.once("close", () => failed(undefined));
    (socket as net.Socket & { [kRawSocket]?: net.Socket })[kRawSocket] = socket;
    return socket;
  }

  /** Closes every session at once, cancelling their streams. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    this.agent.destroy();
  }

  private track(session: TrackedSession): void {
    // Node's session.socket is a proxy that passes property writes to the socket.
    (session.socket as unknown as { [kReady]?: boolean })[kReady] = true;
    const cap = this.options.maxConcurrentStreams;
    if (cap !== undefined) {
      // The Agent reads the limit from the server's SETTINGS; lower it for this session only.
      const getter = inheritedGetter(session, "remoteSettings");
      if (getter) {
        Object.defineProperty(session, "remoteSettings", {
          get() {
            const s = getter.call(this) as { maxConcurrentStreams?: number };
            return { ...s, maxConcurrentStreams: Math.min(s.maxConcurrentStreams ?? cap, cap) };
          },
        });
      }
    }
    // Node closes a session that got GOAWAY but keeps it usable-looking; the
    // Agent would still pick it and the request would throw.
    session.once("goaway", (_code: number, lastStreamId: number) => {
      session[kGracefullyClosing] = true;
      session[kGoawayLastStreamId] = lastStreamId;
      closeWhenDone(session);
    });
    const idleMs = this.options.idleTimeoutMs ?? 60_000;
    const pingMs = this.options.pingIntervalMs;
    const pingTimeoutMs = this.options.pingTimeoutMs ?? 15_000;
    const tickMs = Math.max(10, Math.min(idleMs, pingMs ?? Number.POSITIVE_INFINITY) / 2);
    session[kLastActive] = Date.now();
    let lastPing = Date.now();
    const stop = () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
    const timer = setInterval(() => {
      // A session destroyed without 'close' (after GOAWAY, say) is done with.
      if (session.destroyed) return stop();
      const now = Date.now();
      if ((session[kStreamCount] as number) > 0) session[kLastActive] = now;
      else if (now - (session[kLastActive] as number) >= idleMs) {
        // Marked first, so that no call picks it in the moment before it closes.
        session[kGracefullyClosing] = true;
        session.close();
        return stop();
      }
      if (pingMs !== undefined && now - lastPing >= pingMs) {
        lastPing = now;
        const deadline = setTimeout(() => session.destroy(), pingTimeoutMs);
        deadline.unref();
        const sent = session.ping((err) => {
          clearTimeout(deadline);
          if (err) session.destroy();
        });
        if (!sent) clearTimeout(deadline);
      }
    }, tickMs);
    timer.unref();
    this.timers.add(timer);
    session.once("close", stop);
  }
}

/**
 * Whether the server never processed a stream, so that it may be sent again
 * (RFC 9113, section 8.7): it was reset with REFUSED_STREAM, or the session
 * got a GOAWAY whose last-stream-id is below the stream's (or the stream never
 * got an id, so never left the client).
 */
export function streamWasRefused(stream: ClientHttp2Stream, session: Http2Session | undefined): boolean {
  if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) return true;
  const last = (session as TrackedSession | undefined)?.[kGoawayLastStreamId] as number | undefined;
  return last !== undefined && (stream.id === undefined || stream.id > last);
}

/**
 * Takes a session out of the pool for new streams (as after GOAWAY): a server
 * that refused a stream on it is shedding load or going away, so a retry goes
 * to a new connection. Streams already open on it finish; it closes when empty.
 */
export function retireSession(session: Http2Session | undefined): void {
  const s = session as TrackedSession | undefined;
  if (!s || s.destroyed) return;
  s[kGracefullyClosing] = true;
  // Node's close() lets the open streams finish and marks the session closed,
  // which is what keeps the Agent from handing it queued requests (it checks
  // `closed` there, not its own gracefully-closing flag).
  if (!s.closed) s.close();
  closeWhenDone(s);
}

/**
 * Closes a session that takes no new streams (GOAWAY, or retired) and its
 * socket once its last stream ends. Node only ends its side of the socket
 * then and waits for the server to close the other: a server that never does
 * would keep the socket, and the Agent the destroyed session (its 'close'
 * never comes), for ever. RFC 9113, section 6.8: the receiver of GOAWAY opens
 * no new streams on it, so once its streams are done the connection is done.
 */
function closeWhenDone(session: TrackedSession): void {
  if (session[kAfterGoaway]) return;
  const raw = (session.socket as unknown as { [kRawSocket]?: net.Socket } | undefined)?.[kRawSocket];
  if (!raw) return;
  const check = () => {
    if (raw.destroyed || (session[kStreamCount] as number) > 0) return;
    if (!session.destroyed) session.destroy();
    raw.destroy();
  };
  session[kAfterGoaway] = check;
  // The GOAWAY handler runs before Node has closed the streams it refused; check once they are gone.
  setImmediate(check);
}

/**
 * Resets a stream its call no longer wants with CANCEL (RFC 9113, section
 * 8.1), as Node does for an aborted `signal`. `close()` alone would end the
 * request first, and the server would read END_STREAM (a clean end of a bidi
 * stream's requests) before the reset; destroying the stream at once sends
 * the reset only.
 */
function cancelStream(stream: ClientHttp2Stream): void {
  stream.close(constants.NGHTTP2_CANCEL);
  stream.destroy();
}

/**
 * h2c with prior knowledge: a plain TCP socket. The Agent names a session by
 * `https://<socket.servername>:<port>`, so the socket gets the servername a
 * TLS socket would have.
 */
function h2cSocket(host: string, port: number, hostname: string): net.Socket {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  (socket as net.Socket & { servername?: string }).servername = hostname;
  return socket;
}

function inheritedGetter(o: object, name: string): (() => unknown) | undefined {
  for (let p = Object.getPrototypeOf(o); p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d) return d.get;
  }
  return undefined;
}
