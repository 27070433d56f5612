// Plain node:http and node:http2 servers that answer each request the way a
// test says: like a proxy (bare HTTP statuses, HTML pages), a broken server
// (wrong content-type, missing grpc-status, truncated envelopes, resets), or
// the conformance suite's raw responses. For tests of the client against
// servers that are not ours.
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Transport } from "../../lib/client/index.js";

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** HTTP trailers (chunked encoding on HTTP/1.1). */
  trailers?: Record<string, string>;
}

export interface Exchange {
  version: 1 | 2;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  send(a: Answer): void;
  /** HTTP/2 only: RST_STREAM with this code. */
  reset(code: number): void;
  /**
   * HTTP/2 only: the head and some body, then RST_STREAM without END_STREAM
   * (CANCEL, or INTERNAL_ERROR). Not `stream.close(code)`: on a stream still
   * writable Node ends it first, so the peer sees a complete response.
   */
  sendThenReset(a: Answer, how: "cancel" | "internal"): void;
}

/** An AbortError of Node's own class, which `Http2Stream.destroy` turns into RST_STREAM(CANCEL). */
const abortError = await sleep(1, undefined, { signal: AbortSignal.abort() }).catch((e: unknown) => e as Error);

function h1Exchange(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Exchange {
  return {
    version: 1,
    path: req.url ?? "",
    headers: req.headers,
    body,
    send(a) {
      res.writeHead(a.status, a.headers);
      if (a.trailers) res.addTrailers(a.trailers);
      res.end(a.body);
    },
    reset() {
      throw new Error("no RST_STREAM on HTTP/1.1");
    },
    sendThenReset() {
      throw new Error("no RST_STREAM on HTTP/1.1");
    },
  };
}

function h2Exchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer): Exchange {
  return {
    version: 2,
    path: String(headers[":path"]),
    headers,
    body,
    send(a) {
      const hasBody = a.body !== undefined && a.body.length > 0;
      stream.respond(
        { ":status": a.status, ...a.headers },
        { endStream: !hasBody && !a.trailers, waitForTrailers: a.trailers !== undefined },
      );
      if (a.trailers) {
        const trailers = a.trailers;
        stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      }
      if (hasBody || a.trailers) stream.end(a.body);
    },
    reset(code) {
      stream.close(code);
    },
    sendThenReset(a, how) {
      stream.respond({ ":status": a.status, ...a.headers });
      // Node resets with CANCEL when destroyed with an AbortError, INTERNAL_ERROR for other errors.
      stream.write(a.body, () => setTimeout(() => stream.destroy(how === "cancel" ? abortError : new Error("x")), 20));
    },
  };
}

/** The two servers, their URLs, and what they do with the next request. */
export interface AnswerServers {
  h1Url: string;
  h2Url: string;
  /** Called with each request once it has been read whole; a test replaces it. */
  answer: (x: Exchange) => void;
  /** The path of every request the servers got, in order. */
  hits: string[];
  close(): Promise<void>;
}

async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Starts an HTTP/1.1 server and an h2c server on 127.0.0.1 that read each
 * request whole and hand it to `answer` (by default a bare 500).
 */
export async function startAnswerServers(): Promise<AnswerServers> {
  const h1Server = http.createServer((req, res) => {
    peer.hits.push(req.url ?? "");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => peer.answer(h1Exchange(req, res, Buffer.concat(chunks))));
  });
  const h2Server = http2.createServer();
  h2Server.on("stream", (stream, headers) => {
    peer.hits.push(String(headers[":path"]));
    stream.on("error", () => {});
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => peer.answer(h2Exchange(stream, headers, Buffer.concat(chunks))));
  });
  const peer: AnswerServers = {
    h1Url: await listen(h1Server),
    h2Url: await listen(h2Server),
    answer: (x) => x.send({ status: 500 }),
    hits: [],
    async close() {
      h1Server.closeAllConnections();
      const closed = [once(h1Server, "close"), once(h2Server, "close")];
      h1Server.close();
      h2Server.close();
      await Promise.all(closed);
    },
  };
  return peer;
}

/**
 * The servers for one test file, and `keep` for the transports it makes:
 * both are closed when the file's tests end.
 */
export async function answerServersFor(t: {
  teardown(fn: () => Promise<void>): void;
}): Promise<{ peer: AnswerServers; keep: <T extends Transport>(tr: T) => T }> {
  const peer = await startAnswerServers();
  const transports: Transport[] = [];
  t.teardown(async () => {
    for (const tr of transports) tr.close();
    await peer.close();
  });
  const keep = <T extends Transport>(tr: T): T => {
    transports.push(tr);
    return tr;
  };
  return { peer, keep };
}
