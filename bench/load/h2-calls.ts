// gRPC calls over a bare node:http2 session, for the streaming scenarios and
// the correctness checks: no RPC library in between, so a bug in one cannot
// hide a bug in a server.
import * as http2 from "node:http2";
import { PATHS } from "../service.js";
import { type Envelope, EnvelopeReader } from "../wire.js";

export const GRPC_REQUEST_HEADERS = { "content-type": "application/grpc+proto", te: "trailers" };

/** How a gRPC call ended. grpc-status comes from the trailers, or from the headers of a trailers-only response. */
export interface CallEnd {
  status: number;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** Bytes left over after the last whole envelope: non-zero means a message was cut short. */
  leftover: number;
}

/**
 * Opens an h2c session with receive windows large enough that flow control
 * does not throttle a fast stream (grpc-go and grpc-js grow theirs the same
 * way); every server is measured with the same client settings.
 */
export function connect(port: number): Promise<http2.ClientHttp2Session> {
  const windowSize = 4 * 1024 * 1024;
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: windowSize } });
  return new Promise((resolve, reject) => {
    session.once("error", reject);
    session.once("connect", () => {
      session.off("error", reject);
      session.on("error", () => {}); // reported through the calls on it
      session.setLocalWindowSize(windowSize);
      resolve(session);
    });
  });
}

/** grpc-message is percent-encoded on the wire. */
function percentDecode(v: string | undefined): string | undefined {
  try {
    return v === undefined ? v : decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** How a call ended, from its response headers and trailers. */
export function endOf(
  status: number,
  headers: http2.IncomingHttpHeaders,
  trailers: http2.IncomingHttpHeaders,
  leftover: number,
): CallEnd {
  const pick = (k: string) => {
    const v = trailers[k] ?? headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    status,
    contentType: headers["content-type"],
    grpcStatus: pick("grpc-status"),
    grpcMessage: percentDecode(pick("grpc-message")),
    leftover,
  };
}

/** Why a gRPC call that ended so failed, or undefined if it succeeded. */
export function callFailure(end: CallEnd): string | undefined {
  if (end.status !== 200) return `HTTP ${end.status}`;
  if (end.grpcStatus !== "0") return `grpc-status ${end.grpcStatus} ${end.grpcMessage ?? ""}`;
  if (end.leftover !== 0) return "truncated message";
  return undefined;
}

/** A whole response: status, headers, trailers and body. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with a whole body (a unary call of any protocol); resolves with the whole response. */
export function unaryCall(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (head = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("close", () =>
      resolve({
        status: Number(head[":status"] ?? 0),
        headers: head,
        trailers,
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
      }),
    );
    stream.end(body);
  });
}

/** One server-streaming call; `onMessage` sees each reply envelope as it arrives. */
export function serverStream(
  session: http2.ClientHttp2Session,
  requestBody: Buffer,
  onMessage: (env: Envelope) => void,
): Promise<CallEnd> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": PATHS.stream, ...GRPC_REQUEST_HEADERS });
    const reader = new EnvelopeReader();
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      headers = h;
      status = Number(h[":status"]);
    });
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => {
      for (const env of reader.push(chunk)) onMessage(env);
    });
    stream.on("error", reject);
    stream.on("close", () => resolve(endOf(status, headers, trailers, reader.leftover)));
    stream.end(requestBody);
  });
}

/** A bidi call driven one message at a time: send one, wait for its reply. */
export class PingPong {
  private readonly stream: http2.ClientHttp2Stream;
  private readonly reader = new EnvelopeReader();
  private readonly received: Envelope[] = [];
  private waiter: ((env: Envelope | Error) => void) | undefined;
  private status = 0;
  private headers: http2.IncomingHttpHeaders = {};
  private trailers: http2.IncomingHttpHeaders = {};
  private readonly closed: Promise<void>;
  private failure: Error | undefined;

  constructor(session: http2.ClientHttp2Session) {
    this.stream = session.request({ ":method": "POST", ":path": PATHS.pingPong, ...GRPC_REQUEST_HEADERS });
    this.stream.on("response", (h) => {
      this.headers = h;
      this.status = Number(h[":status"]);
    });
    this.stream.on("trailers", (t) => (this.trailers = t));
    this.stream.on("data", (chunk: Buffer) => {
      for (const env of this.reader.push(chunk)) this.deliver(env);
    });
    this.stream.on("error", (e) => (this.failure = e));
    this.closed = new Promise((resolve) => this.stream.on("close", resolve));
    // A stream that ends before replying fails the round trip waiting on it.
    this.closed.then(() => this.deliver(this.failure ?? new Error(this.describeEnd())));
  }

  private deliver(env: Envelope | Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(env);
    else if (!(env instanceof Error)) this.received.push(env);
  }

  private describeEnd(): string {
    const end = endOf(this.status, this.headers, this.trailers, this.reader.leftover);
    return `stream ended before the reply (HTTP ${end.status}, grpc-status ${end.grpcStatus}, ${end.grpcMessage ?? ""})`;
  }

  /** Sends one enveloped message and resolves with the next reply envelope. */
  roundTrip(envelopedRequest: Buffer): Promise<Envelope> {
    if (this.stream.closed) return Promise.reject(this.failure ?? new Error(this.describeEnd()));
    this.stream.write(envelopedRequest);
    const ready = this.received.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.waiter = (env) => (env instanceof Error ? reject(env) : resolve(env));
    });
  }

  /** Half-closes and waits for the end of the call. */
  async finish(): Promise<CallEnd> {
    this.stream.end();
    await this.closed;
    if (this.failure) throw this.failure;
    return endOf(this.status, this.headers, this.trailers, this.reader.leftover);
  }
}
