import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { ServerHttp2Stream } from "node:http2";

/**
 * Writes one response on the raw connection, the same way over HTTP/1.1 and
 * HTTP/2: a head, body chunks with backpressure, and an end that may carry
 * HTTP trailers. The HTTP/2 side uses the stream API directly, so headers and
 * trailers become real HEADERS frames and a trailers-only response is one
 * frame with END_STREAM.
 */
export interface ResponseAdapter {
  readonly httpVersion: 1 | 2;
  /** True once the head has gone out. */
  readonly headSent: boolean;
  /** True once the response is over, either ended or torn down. */
  readonly closed: boolean;
  /**
   * Sends status and headers. `trailers: true` keeps the stream open for
   * trailers after the body; `endStream: true` sends the head alone.
   */
  head(status: number, headers: OutgoingHttpHeaders, opts?: { endStream?: boolean; trailers?: boolean }): void;
  /** Writes a chunk; returns a promise only when the peer is not keeping up. */
  write(chunk: Uint8Array): Promise<void> | undefined;
  /** Ends the body, with trailers if the head asked for them. */
  end(chunk?: Uint8Array, trailers?: OutgoingHttpHeaders): void;
  /** Called once if the client goes away before the response ended. */
  onAbort(fn: () => void): void;
}

/**
 * Picks the adapter for a raw Fastify request/response pair. `hookHeaders`
 * are headers the app's hooks set on the reply (CORS, say): the protocol's own
 * headers win over them.
 */
export function createResponseAdapter(
  rawReq: object,
  rawRes: object,
  hookHeaders: OutgoingHttpHeaders | undefined,
): ResponseAdapter {
  const stream = (rawReq as { stream?: ServerHttp2Stream }).stream;
  return stream ? new Http2Response(stream, hookHeaders) : new Http1Response(rawRes as ServerResponse, hookHeaders);
}

/**
 * Writes with backpressure: a write the stream's buffer cannot take returns
 * one shared promise that resolves on 'drain', or on 'close' (nothing more
 * will be written then).
 */
class DrainAwareWriter {
  private drain?: Promise<void>;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.stream.write(chunk)) return undefined;
    this.drain ??= new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        this.drain = undefined;
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
    });
    return this.drain;
  }
}

function withHookHeaders(headers: OutgoingHttpHeaders, hook: OutgoingHttpHeaders | undefined): OutgoingHttpHeaders {
  if (hook) {
    for (const name in hook) if (headers[name] === undefined && hook[name] !== undefined) headers[name] = hook[name];
  }
  return headers;
}

class Http2Response implements ResponseAdapter {
  readonly httpVersion = 2;
  headSent = false;
  private ended = false;
  private readonly writer: DrainAwareWriter;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly hookHeaders: OutgoingHttpHeaders | undefined,
  ) {
    // Node's compatibility response (which Fastify created) answers the
    // stream's 'wantTrailers' with its own, empty trailers. We write the stream
    // ourselves, so its listener must not race ours.
    stream.removeAllListeners("wantTrailers");
    this.writer = new DrainAwareWriter(stream);
  }

  get closed(): boolean {
    return this.ended || this.stream.closed || this.stream.destroyed;
  }

  head(status: number, headers: OutgoingHttpHeaders, opts?: { endStream?: boolean; trailers?: boolean }): void {
    if (this.headSent || this.closed) return;
    this.headSent = true;
    withHookHeaders(headers, this.hookHeaders);
    headers[":status"] = status;
    const endStream = opts?.endStream === true;
    this.stream.respond(headers, { endStream, waitForTrailers: !endStream && opts?.trailers === true });
    if (endStream) this.ended = true;
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    return this.closed ? undefined : this.writer.write(chunk);
  }

  end(chunk?: Uint8Array, trailers?: OutgoingHttpHeaders): void {
    if (this.closed) return;
    this.ended = true;
    if (trailers) {
      this.stream.once("wantTrailers", () => {
        if (!this.stream.destroyed) this.stream.sendTrailers(trailers);
      });
    }
    if (chunk) this.stream.end(chunk);
    else this.stream.end();
  }

  onAbort(fn: () => void): void {
    this.stream.once("close", () => {
      if (!this.ended || this.stream.rstCode !== 0) fn();
    });
  }
}

class Http1Response implements ResponseAdapter {
  readonly httpVersion = 1;
  headSent = false;
  private ended = false;
  private readonly writer: DrainAwareWriter;

  constructor(
    private readonly res: ServerResponse,
    private readonly hookHeaders: OutgoingHttpHeaders | undefined,
  ) {
    this.writer = new DrainAwareWriter(res);
  }

  get closed(): boolean {
    return this.ended || this.res.destroyed;
  }

  head(status: number, headers: OutgoingHttpHeaders, opts?: { endStream?: boolean }): void {
    if (this.headSent || this.closed) return;
    this.headSent = true;
    this.res.writeHead(status, withHookHeaders(headers, this.hookHeaders));
    if (opts?.endStream) {
      this.ended = true;
      this.res.end();
    } else if (headers["content-length"] === undefined) {
      // Streams go out at once rather than when the first chunk is written.
      this.res.flushHeaders();
    }
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    return this.closed ? undefined : this.writer.write(chunk);
  }

  end(chunk?: Uint8Array): void {
    if (this.closed) return;
    this.ended = true;
    if (chunk) this.res.end(chunk);
    else this.res.end();
  }

  onAbort(fn: () => void): void {
    this.res.once("close", () => {
      if (!this.res.writableFinished) fn();
    });
  }
}
