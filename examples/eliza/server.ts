// The Eliza service on Fastify: Connect, gRPC and gRPC-Web, HTTP/1.1 and h2c on one port, beside REST.
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance } from "fastify";
import {
  corsAllowedHeaders,
  corsAllowedMethods,
  corsExposedHeaders,
  fastifyConnectRpc,
  type Interceptor,
  onePortServerFactory,
} from "../../lib/index.js";
import { reply } from "./eliza.js";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

export async function createElizaServer(
  opts: { logger?: boolean; interceptors?: Interceptor[] } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? true, serverFactory: onePortServerFactory() });
  // Browsers on other origins (the page in browser/, say) may call it: CORS with the library's header lists.
  await app.register(cors, {
    origin: true,
    methods: [...corsAllowedMethods],
    allowedHeaders: [...corsAllowedHeaders],
    exposedHeaders: [...corsExposedHeaders],
  });
  await app.register(fastifyConnectRpc, {
    // Health for load balancers and probes; reflection so `buf curl` and grpcurl need no schema.
    grpcHealth: true,
    grpcReflection: true,
    interceptors: opts.interceptors,
    routes(router) {
      router.service(ElizaService, {
        say: (req) => ({ sentence: reply(req.sentence) }),
        async *introduceServer(req) {
          yield { sentence: `Hi ${req.name}, I'm Eliza.` };
          yield { sentence: "I help people think about their problems." };
          yield { sentence: "How are you feeling today?" };
        },
        async introduceClient(reqs) {
          const parts: string[] = [];
          for await (const r of reqs) parts.push(r.sentence);
          return { sentence: `So you told me ${parts.length} things: ${parts.join(" ")}` };
        },
        async *converse(reqs) {
          for await (const r of reqs) yield { sentence: reply(r.sentence) };
        },
      });
    },
  });
  app.get("/health", async () => ({ ok: true }));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  // --otel-console prints a span for every call (the SDK loads only then: the server runs without it).
  const interceptors = process.argv.includes("--otel-console")
    ? [(await import("./otel-console.js")).consoleTracing()]
    : [];
  const app = await createElizaServer({ interceptors });
  await app.listen({ host: "127.0.0.1", port });
}
