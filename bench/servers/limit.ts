// The "limit" server: node:http2 (h2c) and node:http with the protocol work
// of limit-protocol.ts and nothing else, on Node's core stream API (not the
// compatibility API Fastify uses). What a framework costs is its distance
// from this.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { Readable } from "node:stream";
import { EnvelopeReader, envelope } from "../wire.js";
import {
  answerWhole,
  decodeEnvelopes,
  decodeRequest,
  encodeReply,
  grpcStatus,
  type Method,
  methodOf,
  type Protocol,
  protocolOf,
} from "./limit-protocol.js";
import { announce, portOf } from "./ready.js";

/**
 * Collects a request body with 'data' events: cheaper than async iteration on
 * this hot path. A body that ends because its stream was destroyed (a load
 * generator closing its connections at the end of a run) is dropped: there is
 * nobody left to answer, and responding on a destroyed HTTP/2 stream throws.
 */
function collect(body: Readable, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  body.on("data", (c: Buffer) => chunks.push(c));
  body.on("end", () => {
    if (!body.destroyed) done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
}

/** What to do with a request before reading its body: an early HTTP status, or the call. */
function route(
  httpMethod: string | undefined,
  path: string | undefined,
  contentType: string | undefined,
): { status: number } | { method: Method | undefined; protocol: Protocol } {
  if (httpMethod !== "POST") return { status: 405 };
  const protocol = protocolOf(contentType);
  if (!protocol) return { status: 415 };
  return { method: methodOf(path), protocol };
}

// ---- HTTP/2 ----

const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc+proto" };

function serveH2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  // A client that resets a stream (the load generators do at the end of a run) is not an error here.
  stream.on("error", () => {});
  const r = route(headers[":method"], headers[":path"], headers["content-type"]);
  if ("status" in r) {
    stream.respond({ ":status": r.status }, { endStream: true });
    return;
  }
  const { method, protocol } = r;
  if (method === undefined) {
    if (protocol === "grpc") endGrpc(stream, { "grpc-status": "12", "grpc-message": "unknown method" }, true);
    else stream.respond({ ":status": 404 }, { endStream: true });
    return;
  }
  if (protocol === "grpc" && method === "stream") {
    collect(stream, (body) => serverStream(stream, body));
    return;
  }
  if (protocol === "grpc" && method === "pingPong") {
    pingPong(stream);
    return;
  }
  collect(stream, (body) => {
    const res = answerWhole(method, protocol, body);
    const trailers = res.trailers;
    if (trailers) {
      stream.respond({ ":status": res.status, ...res.headers }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    } else {
      stream.respond({ ":status": res.status, ...res.headers, "content-length": res.body.length });
    }
    stream.end(res.body);
  });
}

/** Sends the trailers of a gRPC call that has sent its headers, or a trailers-only response when it has not. */
function endGrpc(stream: http2.ServerHttp2Stream, trailers: Record<string, string>, trailersOnly = false): void {
  if (stream.destroyed) return;
  if (trailersOnly) {
    stream.respond({ ...GRPC_HEADERS, ...trailers }, { endStream: true });
    return;
  }
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end();
}

/** gRPC server streaming: `count` replies, each encoded, written as flow control allows. */
function serverStream(stream: http2.ServerHttp2Stream, body: Buffer): void {
  let req: ReturnType<typeof decodeRequest>;
  try {
    const reqs = decodeEnvelopes(body);
    if (reqs.length !== 1) throw new Error(`expected 1 request message, got ${reqs.length}`);
    req = reqs[0];
  } catch (e) {
    endGrpc(stream, grpcStatus(e), true);
    return;
  }
  stream.respond(GRPC_HEADERS, { waitForTrailers: true });
  let sent = 0;
  const writeMore = () => {
    while (sent < req.count) {
      sent++;
      if (stream.destroyed) return;
      if (!stream.write(envelope(encodeReply(req)))) {
        stream.once("drain", writeMore);
        return;
      }
    }
    endGrpc(stream, { "grpc-status": "0" });
  };
  writeMore();
}

/** gRPC bidi: each request message is answered as soon as it has arrived. */
function pingPong(stream: http2.ServerHttp2Stream): void {
  stream.respond(GRPC_HEADERS, { waitForTrailers: true });
  const reader = new EnvelopeReader();
  let failed = false;
  stream.on("data", (chunk: Buffer) => {
    if (failed) return;
    try {
      for (const env of reader.push(chunk)) {
        if (env.flags !== 0) throw new Error("compressed or unknown message flags");
        stream.write(envelope(encodeReply(decodeRequest(env.data))));
      }
    } catch (e) {
      failed = true;
      endGrpc(stream, grpcStatus(e));
    }
  });
  stream.on("end", () => {
    if (failed) return;
    endGrpc(
      stream,
      reader.leftover > 0 ? { "grpc-status": "3", "grpc-message": "truncated message" } : { "grpc-status": "0" },
    );
  });
}

// ---- HTTP/1.1 ----

function serveH1(req: http.IncomingMessage, res: http.ServerResponse): void {
  const r = route(req.method, req.url, req.headers["content-type"]);
  if ("status" in r) {
    res.writeHead(r.status).end();
    return;
  }
  const { method, protocol } = r;
  // gRPC needs trailers, which HTTP/1.1 clients cannot be relied on to read.
  if (protocol === "grpc") {
    res.writeHead(505).end();
    return;
  }
  if (method === undefined) {
    res.writeHead(404).end();
    return;
  }
  collect(req, (body) => {
    const out = answerWhole(method, protocol, body);
    res.writeHead(out.status, { ...out.headers, "content-length": out.body.length }).end(out.body);
  });
}

const h2 = http2.createServer();
h2.on("stream", serveH2);
const h1 = http.createServer(serveH1);
await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
announce({ h1: portOf(h1.address()), h2: portOf(h2.address()) });
