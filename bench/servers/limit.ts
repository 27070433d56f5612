// The "limit" server: node:http2 (h2c) and node:http with the protocol work
// of limit-protocol.ts and nothing else, on Node's core stream API (not the
// compatibility API Fastify uses). What a framework costs is its distance
// from this.
import * as http from "node:http";
import * as http2 from "node:http2";
// The process-level measure the library takes on import (lib/tick-object-shape.ts), which the floor and
// the raw client get through the library too: without it, whether a reference process builds its tick
// objects through V8's runtime would depend on its GCs.
import "../../lib/tick-object-shape.js";
import { answerH1 } from "./limit-h1.js";
import { answerH2 } from "./limit-h2.js";
import { type Method, methodOf, type Protocol, protocolOf } from "./limit-protocol.js";
import { announce, portOf } from "./ready.js";

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

function serveH2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  // A client that resets a stream (the load generators do at the end of a run) is not an error here.
  stream.on("error", () => {});
  const r = route(headers[":method"], headers[":path"], headers["content-type"]);
  if ("status" in r) stream.respond({ ":status": r.status }, { endStream: true });
  else answerH2(stream, r.method, r.protocol);
}

function serveH1(req: http.IncomingMessage, res: http.ServerResponse): void {
  const r = route(req.method, req.url, req.headers["content-type"]);
  if ("status" in r) res.writeHead(r.status).end();
  else answerH1(req, res, r.method, r.protocol);
}

const h2 = http2.createServer();
h2.on("stream", serveH2);
const h1 = http.createServer(serveH1);
await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
announce({ h1: portOf(h1.address()), h2: portOf(h2.address()) });
