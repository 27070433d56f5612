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
  /** Whether `end` can send HTTP trailers (HTTP/2 only). */
  readonly supportsTrailers: boolean;
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
  /** Tears the response down: RST_STREAM on HTTP/2, a closed socket on HTTP/1.1. */
  destroy(): void;
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

function withHookHeaders(headers: OutgoingHttpHeaders, hook: OutgoingHttpHeaders | undefined): OutgoingHttpHeaders {
  if (hook) {
    for (const name in hook) if (headers[name] === undefined && hook[name] !== undefined) headers[name] = hook[name];
  }
  return headers;
}

class Http2Response implements ResponseAdapter {
  readonly httpVersion = 2;
  readonly supportsTrailers = true;
  headSent = false;
  private ended = false;
  private drain?: Promise<void>;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly hookHeaders: OutgoingHttpHeaders | undefined,
  ) {
    // Node's compatibility response (which Fastify created) answers the
    // stream's 'wantTrailers' with its own, empty trailers. We write the stream
    // ourselves, so its listener must not race ours.
    stream.removeAllListeners("wantTrailers");
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
    if (this.closed) return undefined;
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

  destroy(): void {
    this.ended = true;
    if (!this.stream.destroyed) this.stream.close(0x8 /* CANCEL */);
  }

  onAbort(fn: () => void): void {
    this.stream.once("close", () => {
      if (!this.ended || this.stream.rstCode !== 0) fn();
    });
  }
}

class Http1Response implements ResponseAdapter {
  readonly httpVersion = 1;
  readonly supportsTrailers = false;
  headSent = false;
  private ended = false;
  private drain?: Promise<void>;

  constructor(
    private readonly res: ServerResponse,
    private readonly hookHeaders: OutgoingHttpHeaders | undefined,
  ) {}

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
    if (this.closed) return undefined;
    if (this.res.write(chunk)) return undefined;
    this.drain ??= new Promise<void>((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        this.drain = undefined;
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
    });
    return this.drain;
  }

  end(chunk?: Uint8Array): void {
    if (this.closed) return;
    this.ended = true;
    if (chunk) this.res.end(chunk);
    else this.res.end();
  }

  destroy(): void {
    this.ended = true;
    this.res.destroy();
  }

  onAbort(fn: () => void): void {
    this.res.once("close", () => {
      if (!this.res.writableFinished) fn();
    });
  }
}
