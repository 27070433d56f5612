// The "fastify-floor" server: Fastify 5 on the same one-port HTTP/1.1 + h2c
// server as ours, a route per bench method that hijacks the reply and answers
// with the limit server's code on the raw stream or response. Fastify routes
// the request and runs its request lifecycle; nothing parses the body. No
// Fastify plugin can be faster than this, so ours' distance from it is what
// the plugin costs, and its distance from the limit what Fastify does.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import Fastify from "fastify";
import { onePortServerFactory } from "../../lib/index.js";
import { PATHS } from "../service.js";
import { answerH1 } from "./limit-h1.js";
import { answerH2 } from "./limit-h2.js";
import { type Method, protocolOf } from "./limit-protocol.js";
import { announce, portOf } from "./ready.js";

const app = Fastify({ serverFactory: onePortServerFactory() });
// The routes read the raw body themselves, as the limit server does: no parser may consume it first.
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", (_request, _payload, done) => done(null));

for (const [method, path] of Object.entries(PATHS) as [Method, string][]) {
  app.post(path, (request, reply) => {
    reply.hijack();
    const protocol = protocolOf(request.headers["content-type"]);
    // Fastify hands HTTP/2 requests over as Node's compatibility objects; the stream is underneath.
    const stream = (request.raw as unknown as { stream?: http2.ServerHttp2Stream }).stream;
    if (stream) {
      // Node's compatibility response answers the stream's 'wantTrailers' with its own, empty
      // trailers; a second sendTrailers would throw. The lib's response adapter does the same.
      stream.removeAllListeners("wantTrailers");
      if (protocol) answerH2(stream, method, protocol);
      else stream.respond({ ":status": 415 }, { endStream: true });
    } else {
      const res = reply.raw as http.ServerResponse;
      if (protocol) answerH1(request.raw, res, method, protocol);
      else res.writeHead(415).end();
    }
  });
}

await app.listen({ host: "127.0.0.1", port: 0 });
const port = portOf(app.server.address());
announce({ h1: port, h2: port });
