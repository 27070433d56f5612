// The limit server's answer to one routed call over HTTP/1.1: shared by the
// limit server and by fastify-floor, which answers on Fastify's raw response.
import type * as http from "node:http";
import { collect } from "../wire.js";
import { answerWhole, type Method, type Protocol } from "./limit-protocol.js";

/** Answers a call whose method and protocol are known; `undefined` is a method the service does not have. */
export function answerH1(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  method: Method | undefined,
  protocol: Protocol,
): void {
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
