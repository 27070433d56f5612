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

/**
 * The example server. `introPauseMs` makes Eliza pause before each sentence of
 * her introduction (a stream that lasts a while, to watch it arrive or to drain it);
 * `shutdownIdleMs` is the plugin's option (behind examples/nginx, above the 2 s in which nginx closes its pooled connections).
 */
export async function createElizaServer(
  opts: { logger?: boolean; interceptors?: Interceptor[]; introPauseMs?: number; shutdownIdleMs?: number } = {},
): Promise<FastifyInstance> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, opts.introPauseMs ?? 0));
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
    shutdownIdleMs: opts.shutdownIdleMs,
    routes(router) {
      router.service(ElizaService, {
        say: (req) => ({ sentence: reply(req.sentence) }),
        async *introduceServer(req) {
          for (const sentence of [
            `Hi ${req.name}, I'm Eliza.`,
            "I help people think about their problems.",
            "How are you feeling today?",
          ]) {
            if (opts.introPauseMs) await pause();
            yield { sentence };
          }
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

// tsx examples/eliza/server.ts [--port 8080] [--intro-pause-ms 0] [--shutdown-idle-ms 500] [--quiet]
if (import.meta.url === `file://${process.argv[1]}`) {
  const flag = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  // --otel-console prints a span for every call (the SDK loads only then: the server runs without it).
  const interceptors = process.argv.includes("--otel-console")
    ? [(await import("./otel-console.js")).consoleTracing()]
    : [];
  const app = await createElizaServer({
    interceptors,
    logger: !process.argv.includes("--quiet"),
    introPauseMs: Number(flag("--intro-pause-ms") ?? 0),
    shutdownIdleMs: flag("--shutdown-idle-ms") === undefined ? undefined : Number(flag("--shutdown-idle-ms")),
  });
  // kill, docker stop and Kubernetes send SIGTERM, Ctrl-C sends SIGINT: app.close() drains (stops listening,
  // lets calls in flight finish within shutdownGraceMs), then the process exits.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      app.log.info(`${signal}: closing`);
      app.close().then(
        () => process.exit(0),
        (err) => {
          app.log.error(err, "close failed");
          process.exit(1);
        },
      );
    });
  }
  await app.listen({ host: "127.0.0.1", port: Number(flag("--port") ?? 8080) });
}
