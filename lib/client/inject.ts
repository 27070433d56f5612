import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { optionError } from "../options.js";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { ExchangeRequest, HttpClient, HttpExchange, ResponseHead } from "./exchange.js";
import { type SharedTransportOptions, type Transport, transportOver } from "./transport.js";

/** Options of `createInjectTransport`. */
export interface InjectTransportOptions extends SharedTransportOptions {
  /** "connect" (the default) or "grpc-web". gRPC is refused: it needs HTTP/2 trailers, which inject has not. */
  protocol?: "connect" | "grpc-web";
  /** The prefix the plugin is registered under, e.g. "/api". Default: none. */
  basePath?: string;
}

/** What the transport needs of a Fastify app: `inject()`. */
type Injectable = Pick<FastifyInstance, "inject">;
type InjectResponse = Awaited<ReturnType<FastifyInstance["inject"]>>;

/**
 * The inject answer's raw response, to destroy it when the call is
 * cancelled: light-my-request only aborts a request whose body is still
 * being read, and a handler must see the cancel (its stream would run on).
 */
function rawResponse(res: InjectResponse): { destroy(): void } {
  return res.raw.res as unknown as { destroy(): void };
}

/**
 * One call through `app.inject()`. The request body is collected and sent
 * whole when it ends (half duplex); the response streams back as the
 * handler writes it, so server streams arrive message by message.
 */
class InjectExchange implements HttpExchange {
  readonly head: Promise<ResponseHead>;
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private response?: InjectResponse;
  private send!: () => void;

  constructor(
    private readonly app: Injectable,
    private readonly request: ExchangeRequest,
  ) {
    const signal = request.cancel.signal;
    this.head = new Promise<void>((resolve, reject) => {
      this.send = resolve;
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    }).then(() => this.inject());
    this.head.catch(() => {});
    signal.addEventListener("abort", () => this.response && rawResponse(this.response).destroy(), { once: true });
    if (request.noBody) this.end();
  }

  private async inject(): Promise<ResponseHead> {
    const { method, path, headers, noBody } = this.request;
    const signal = this.request.cancel.signal;
    let res: InjectResponse;
    try {
      res = await this.app.inject({
        method,
        url: path,
        headers: stringHeaders(headers),
        // A stream, not a buffer: light-my-request can then abort the request (and the handler sees it) at any time.
        payload: noBody ? undefined : Readable.from([Buffer.concat(this.chunks)]),
        payloadAsStream: true,
        signal,
      });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new ConnectError(`app.inject() failed: ${e instanceof Error ? e.message : String(e)}`, Code.Unavailable, {
        cause: e,
      });
    }
    this.response = res;
    if (signal.aborted) {
      // Cancelled while the head was on its way: the body stream is already destroyed, with nothing left to tell.
      rawResponse(res).destroy();
      throw signal.reason;
    }
    const body = res.stream();
    // The call reads errors from the body's end; an unheard 'error' must not crash the process.
    body.on("error", () => {});
    return { status: res.statusCode, headers: res.headers as IncomingHttpHeaders };
  }

  get body(): Readable {
    if (!this.response) throw new Error("the response head has not arrived");
    return this.response.stream();
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.ended) return Promise.reject(new ConnectError("the request stream is closed", Code.Unavailable));
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    return Promise.resolve();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.send();
  }

  trailers() {
    return this.response?.trailers ?? {};
  }

  goneError(): ConnectError {
    return new ConnectError("the app's response ended before the call did", Code.Unavailable);
  }
}

function stringHeaders(headers: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined) out[name] = typeof v === "number" ? String(v) : v;
  }
  return out;
}

class InjectClient implements HttpClient {
  /** light-my-request speaks HTTP/1.1 to the app. */
  readonly httpVersion = "1.1";
  private closed = false;

  constructor(private readonly app: Injectable) {}

  async open(request: ExchangeRequest): Promise<HttpExchange> {
    if (this.closed) throw new ConnectError("the transport is closed", Code.Unavailable);
    return new InjectExchange(this.app, request);
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * A transport that sends every call through `app.inject()`: no port, no
 * socket, but the app's hooks, decorations and `request.log` apply as for a
 * real request. For tests: `createClient(ElizaService, createInjectTransport(app))`.
 *
 * Speaks Connect (binary by default, JSON with `useBinaryFormat: false`) or
 * gRPC-Web. All four call kinds work; a bidi call is half duplex: the request
 * stream is sent whole, then the responses are read.
 */
export function createInjectTransport(app: FastifyInstance, options: InjectTransportOptions = {}): Transport {
  if (app === null || typeof app !== "object" || typeof (app as Partial<Injectable>).inject !== "function") {
    throw optionError("app", "a Fastify instance (with inject())", typeof app);
  }
  if (options === null || typeof options !== "object") throw optionError("options", "an object", options);
  const protocol = options.protocol ?? "connect";
  if ((protocol as string) === "grpc") {
    throw optionError(
      "protocol",
      '"connect" or "grpc-web" (gRPC needs HTTP/2 trailers, which app.inject() cannot carry)',
      protocol,
    );
  }
  if (protocol !== "connect" && protocol !== "grpc-web") {
    throw optionError("protocol", '"connect" or "grpc-web"', protocol);
  }
  const basePath = options.basePath ?? "";
  if (typeof basePath !== "string" || (basePath !== "" && !basePath.startsWith("/"))) {
    throw optionError("basePath", 'a path starting with "/", e.g. "/api"', basePath);
  }
  const url = new URL(basePath, "http://localhost");
  return transportOver(protocol, options, url, () => new InjectClient(app));
}
