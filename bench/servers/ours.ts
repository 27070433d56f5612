// fastify-connectrpc on Fastify, HTTP/1.1 and h2c on one port through
// onePortServerFactory: the set-up the README recommends for gRPC clients.
import Fastify from "fastify";
import { fastifyConnectRpc, onePortServerFactory } from "../../lib/index.js";
import { BenchService } from "../service.js";
import { benchImpl } from "./impl.js";
import { announce, portOf } from "./ready.js";

const app = Fastify({ serverFactory: onePortServerFactory() });
await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(BenchService, benchImpl);
  },
});
await app.listen({ host: "127.0.0.1", port: 0 });
const port = portOf(app.server.address());
announce({ h1: port, h2: port });
