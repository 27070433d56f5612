import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { type FastifyConnectRpcOptions, fastifyConnectRpc } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { testServiceImpl } from "./test-service.js";

export interface StartedServer {
  app: FastifyInstance;
  baseUrl: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts Fastify with the plugin serving TestService on 127.0.0.1 and an
 * ephemeral port. `http2: true` serves h2c (prior knowledge).
 */
export async function startServer(
  opts: {
    http2?: boolean;
    plugin?: Partial<FastifyConnectRpcOptions>;
    fastify?: FastifyServerOptions;
    setup?: (app: FastifyInstance) => void | Promise<void>;
  } = {},
): Promise<StartedServer> {
  const app = (opts.http2
    ? Fastify({ ...(opts.fastify as object), http2: true })
    : Fastify(opts.fastify)) as unknown as FastifyInstance;
  await opts.setup?.(app);
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, testServiceImpl);
    },
    ...opts.plugin,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}
