import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  OutgoingHttpHeaders,
  SecureClientSessionOptions,
} from "node:http2";
import * as net from "node:net";
import http2wrapper from "http2-wrapper";

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

/**
 * The HTTP/2 sessions to one origin, pooled by http2-wrapper's Agent: a call
 * takes a stream on the busiest session that still has room, and a new
 * session opens when all are full. This adds what the Agent leaves out:
 * h2c with prior knowledge, a cap on streams per session, keepalive PINGs,
 * closing idle sessions, and no new streams on a session that got GOAWAY.
 */
export class Http2Sessions {
  private readonly agent: Agent;
  /** The Agent matches sessions by an https origin, whatever the scheme (see `h2cConnection`). */
  private readonly origin: URL;
  private readonly connectOptions: SecureClientSessionOptions;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    baseUrl: URL,
    tls: SecureClientSessionOptions | undefined,
    private readonly options: Http2SessionOptions,
  ) {
    this.agent = new Agent({ maxEmptySessions: Number.POSITIVE_INFINITY });
    // A 64 KiB stream window (the HTTP/2 default) lets a slow reader hold back a
    // server stream; http2-wrapper's 32 MiB would let it buffer far more.
    this.agent.settings = { enablePush: false, initialWindowSize: 1024 * 1024 };
    // One Agent per transport, always with the same options: skip building the
    // 40-field options key the Agent would make on every request.
    this.agent.normalizeOptions = () => "";
    this.agent.on("session", (session: TrackedSession) => this.track(session));
    const port = baseUrl.port || (baseUrl.protocol === "https:" ? "443" : "80");
    this.origin = new URL(`https://${baseUrl.hostname}:${port}`);
    this.connectOptions = baseUrl.protocol === "https:" ? { ...tls } : { createConnection: h2cConnection(baseUrl) };
  }

  /** Opens a stream; `signal` resets it with CANCEL when aborted. */
  request(headers: OutgoingHttpHeaders, signal: AbortSignal, endStream: boolean): Promise<ClientHttp2Stream> {
    return this.agent.request(this.origin, this.connectOptions, headers, { signal, endStream });
  }

  /** Closes every session at once, cancelling their streams. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    this.agent.destroy();
  }

  private track(session: TrackedSession): void {
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
    session.once("goaway", () => {
      session[kGracefullyClosing] = true;
    });
    const idleMs = this.options.idleTimeoutMs ?? 60_000;
    const pingMs = this.options.pingIntervalMs;
    const pingTimeoutMs = this.options.pingTimeoutMs ?? 15_000;
    const tickMs = Math.max(10, Math.min(idleMs, pingMs ?? Number.POSITIVE_INFINITY) / 2);
    let idleSince = Date.now();
    let lastPing = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      if ((session[kStreamCount] as number) > 0) idleSince = now;
      else if (now - idleSince >= idleMs) {
        session.close();
        return;
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
    session.once("close", () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }
}

/**
 * h2c with prior knowledge: a plain TCP socket. The Agent names a session by
 * `https://<socket.servername>:<port>`, so the socket gets the servername a
 * TLS socket would have.
 */
function h2cConnection(baseUrl: URL): () => net.Socket {
  const port = Number(baseUrl.port || 80);
  const host = baseUrl.hostname.replace(/^\[(.*)\]$/, "$1");
  return () => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    (socket as net.Socket & { servername?: string }).servername = baseUrl.hostname;
    return socket;
  };
}

function inheritedGetter(o: object, name: string): (() => unknown) | undefined {
  for (let p = Object.getPrototypeOf(o); p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d) return d.get;
  }
  return undefined;
}
