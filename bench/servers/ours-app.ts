// fastify-connectrpc on Fastify, HTTP/1.1 and h2c on one port through
// onePortServerFactory, with the given interceptors: the "ours" servers.
import Fastify from "fastify";
import { fastifyConnectRpc, type Interceptor, onePortServerFactory } from "../../lib/index.js";
import { BenchService } from "../service.js";
import { benchImpl } from "./impl.js";
import { announce, portOf } from "./ready.js";

export async function serveOurs(interceptors: Interceptor[]): Promise<void> {
  const app = Fastify({ serverFactory: onePortServerFactory() });
  await app.register(fastifyConnectRpc, {
    interceptors,
    routes(router) {
      router.service(BenchService, benchImpl);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = portOf(app.server.address());
  announce({ h1: port, h2: port });
}
