// The Fastify floor's app: Fastify 5 on the same one-port HTTP/1.1 + h2c
// server as ours, a route per bench method that hijacks the reply and answers
// on the raw stream or response. Nothing parses the body first. Shared by
// fastify-floor (the limit's protocol code) and fastify-floor-handlers (the
// bench's handlers under the least code that can drive them).
import type * as http from "node:http";
import type * as http2 from "node:http2";
import Fastify from "fastify";
import { onePortServerFactory } from "../../lib/index.js";
import { PATHS } from "../service.js";
import { answerH1 } from "./limit-h1.js";
import type { answerH2 } from "./limit-h2.js";
import { type Method, protocolOf } from "./limit-protocol.js";
import { announce, portOf } from "./ready.js";

/** Answers one routed call on its HTTP/2 stream, as `answerH2` does. */
export type H2Answer = typeof answerH2;

export async function serveFloor(answer: H2Answer): Promise<void> {
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
        if (protocol) answer(stream, method, protocol);
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
}
