// TestService implemented with connect-es, served by @connectrpc/connect-node
// on node:http (HTTP/1.1) or node:http2 (h2c): the real peer server our client
// is tested against. It mirrors test/helpers/test-service.ts: `text`
// "error:<code>:<msg>" fails with that code, an ErrorInfo detail and
// metadata; `count` sets how many replies a stream sends; `delay_ms` waits
// (cancelled with the call); x-echo-header comes back as a response header,
// x-echo-trailer and x-echo-bin as trailers. Every handler call is recorded,
// so tests can look at the context the server saw.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  decodeBinaryHeader,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { type ConnectNodeAdapterOptions, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";

/** One handler call, as the server saw it. */
export interface RecordedCall {
  /** The method's local name: "echo", "unary", "serverStream", "clientStream", "bidi". */
  method: string;
  protocol: string;
  requestMethod: string;
  /** ctx.timeoutMs() when the handler started. */
  timeoutMs: number | undefined;
  requestHeader: Headers;
  /** The decoded bytes of the x-echo-bin request header, if there was one. */
  echoBin?: Uint8Array;
  signal: AbortSignal;
  /** Resolves when ctx.signal aborts (never rejects). */
  aborted: Promise<unknown>;
}

/** The records of the calls a service served. */
export class CallLog {
  readonly calls: RecordedCall[] = [];
  private waiters: (() => void)[] = [];

  record(method: string, ctx: HandlerContext): void {
    const bin = ctx.requestHeader.get("x-echo-bin");
    this.calls.push({
      method,
      protocol: ctx.protocolName,
      requestMethod: ctx.requestMethod,
      timeoutMs: ctx.timeoutMs(),
      requestHeader: new Headers(ctx.requestHeader),
      echoBin: bin === null ? undefined : decodeBinaryHeader(bin),
      signal: ctx.signal,
      aborted: ctx.signal.aborted
        ? Promise.resolve(ctx.signal.reason)
        : new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve(ctx.signal.reason))),
    });
    for (const w of this.waiters.splice(0)) w();
  }

  get last(): RecordedCall | undefined {
    return this.calls[this.calls.length - 1];
  }

  /** The next call recorded after now; rejects if none starts within `ms`. */
  next(ms = 2000): Promise<RecordedCall> {
    const n = this.calls.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no handler call within ${ms} ms`)), ms);
      const check = () => {
        if (this.calls.length > n) {
          clearTimeout(timer);
          resolve(this.calls[n]);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

/** The connect-es implementation of TestService; `log` records each call. */
export function connectEsTestService(log = new CallLog()): ServiceImpl<typeof TestService> {
  return {
    async echo(req, ctx) {
      log.record("echo", ctx);
      echoMetadata(ctx);
      maybeFail(req.text);
      if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
      return { text: req.text, payload: req.payload };
    },
    async unary(req, ctx) {
      log.record("unary", ctx);
      echoMetadata(ctx);
      maybeFail(req.text);
      if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
      return { text: req.text, payload: req.payload };
    },
    async *serverStream(req, ctx) {
      log.record("serverStream", ctx);
      echoMetadata(ctx);
      for (let i = 0; i < req.count; i++) {
        if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
        yield { text: req.text, index: i, payload: req.payload };
      }
      maybeFail(req.text);
    },
    async clientStream(reqs, ctx) {
      log.record("clientStream", ctx);
      echoMetadata(ctx);
      const texts: string[] = [];
      for await (const r of reqs) {
        maybeFail(r.text);
        texts.push(r.text);
      }
      return { text: texts.join(","), index: texts.length };
    },
    async *bidi(reqs, ctx) {
      log.record("bidi", ctx);
      echoMetadata(ctx);
      let i = 0;
      for await (const r of reqs) {
        maybeFail(r.text);
        if (r.delayMs > 0) await sleep(r.delayMs, undefined, { signal: ctx.signal });
        yield { text: r.text, index: i++, payload: r.payload };
      }
    },
  };
}

function echoMetadata(ctx: HandlerContext): void {
  const h = ctx.requestHeader.get("x-echo-header");
  if (h !== null) ctx.responseHeader.set("x-echo-header", h);
  const t = ctx.requestHeader.get("x-echo-trailer");
  if (t !== null) ctx.responseTrailer.set("x-echo-trailer", t);
  const bin = ctx.requestHeader.get("x-echo-bin");
  if (bin !== null) ctx.responseTrailer.set("x-echo-bin", bin);
}

/** "error:not_found:message" fails with that code, an ErrorInfo detail and metadata; "error:throw" throws an Error. */
function maybeFail(text: string): void {
  if (!text.startsWith("error:")) return;
  const [, codeName, ...rest] = text.split(":");
  if (codeName === "throw") throw new Error("secret internal detail");
  const code = (Object.values(Code) as unknown[]).find(
    (v) => typeof v === "number" && Code[v as Code].toLowerCase() === codeName.replace(/_/g, ""),
  ) as Code | undefined;
  throw new ConnectError(rest.join(":") || "failed on purpose", code ?? Code.Unknown, { "x-error-meta": "yes" }, [
    { desc: ErrorInfoSchema, value: { reason: "on-purpose", fields: { codeName } } },
  ]);
}

/** connect-node's gzip, counting the messages the server compresses and decompresses. */
export function countingConnectGzip(): { compression: Compression; counts: { compress: number; decompress: number } } {
  const counts = { compress: 0, decompress: 0 };
  const compression: Compression = {
    name: compressionGzip.name,
    compress(bytes) {
      counts.compress++;
      return compressionGzip.compress(bytes);
    },
    decompress(bytes, readMaxBytes) {
      counts.decompress++;
      return compressionGzip.decompress(bytes, readMaxBytes);
    },
  };
  return { compression, counts };
}

/** One HTTP request the node server received. */
export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
}

export interface ConnectNodeServer {
  baseUrl: string;
  port: number;
  /** Every HTTP request, in arrival order, recorded before connect-node handles it. */
  requests: SeenRequest[];
  log: CallLog;
  close(): Promise<void>;
}

/**
 * Serves TestService with connectNodeAdapter (Connect, gRPC and gRPC-Web on
 * one handler) on 127.0.0.1 and an ephemeral port: node:http, or node:http2
 * h2c when `http2` is set.
 */
export async function startConnectNodeServer(
  opts: { http2?: boolean; adapter?: Partial<ConnectNodeAdapterOptions> } = {},
): Promise<ConnectNodeServer> {
  const log = new CallLog();
  const handler = connectNodeAdapter({
    ...opts.adapter,
    routes(router: ConnectRouter) {
      router.service(TestService, connectEsTestService(log));
    },
  });
  const requests: SeenRequest[] = [];
  const listener = (req: http.IncomingMessage | http2.Http2ServerRequest, res: unknown) => {
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      httpVersion: req.httpVersion,
      headers: { ...req.headers },
    });
    (handler as (req: unknown, res: unknown) => void)(req, res);
  };
  const closers = new Set<{ destroy(): void }>();
  let server: http.Server | http2.Http2Server;
  if (opts.http2) {
    const s = http2.createServer(listener);
    s.on("session", (session) => {
      closers.add(session);
      session.once("close", () => closers.delete(session));
    });
    server = s;
  } else {
    const s = http.createServer(listener);
    s.on("connection", (socket) => {
      closers.add(socket);
      socket.once("close", () => closers.delete(socket));
    });
    server = s;
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requests,
    log,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of closers) c.destroy();
      });
    },
  };
}
