// @connectrpc/connect-fastify, the reference Connect plugin for Fastify.
// Fastify serves either HTTP/1.1 or h2c on a cleartext port, so this runs two
// instances in one process, as a connect-fastify user would.
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { BenchService } from "../service.js";
import { benchImpl } from "./impl.js";
import { announce, portOf } from "./ready.js";

async function start(app: FastifyInstance): Promise<number> {
  await app.register(fastifyConnectPlugin, {
    routes(router) {
      router.service(BenchService, benchImpl);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return portOf(app.server.address());
}

const h1 = await start(Fastify());
// Fastify's http2 instance has a different type; the plugin registers alike on both.
const h2 = await start(Fastify({ http2: true }) as unknown as FastifyInstance);
announce({ h1, h2 });
