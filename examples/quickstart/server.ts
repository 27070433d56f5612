// The README's quick start, server side: `PORT=8080 npx tsx examples/quickstart/server.ts`.
// #region server
import Fastify from "fastify";
import { Code, ConnectError, fastifyConnectRpc, type Interceptor, onePortServerFactory } from "fastify-connectrpc";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

// Interceptors wrap every call: auth, logging, metrics.
const requireUser: Interceptor = (next) => async (req) => {
  if (!req.header.get("x-user")) throw new ConnectError("x-user header required", Code.Unauthenticated);
  return await next(req);
};

// HTTP/1.1 (curl, browsers) and h2c (gRPC clients) on one port.
const app = Fastify({ logger: true, serverFactory: onePortServerFactory() });
await app.register(fastifyConnectRpc, {
  interceptors: [requireUser],
  routes(router) {
    router.service(ElizaService, {
      // unary
      async say(req, ctx) {
        if (req.sentence === "") throw new ConnectError("say something", Code.InvalidArgument);
        ctx.responseHeader.set("x-eliza-mood", "curious"); // metadata out
        ctx.request.log.info({ user: ctx.requestHeader.get("x-user") }, "say"); // Fastify's logger
        return { sentence: `You said: ${req.sentence}` };
      },
      // server streaming
      async *introduceServer(req, ctx) {
        for (const sentence of [`Hi ${req.name}.`, "I'm Eliza.", "How are you?"]) {
          if (ctx.signal.aborted) return; // the client left, or its deadline passed
          yield { sentence };
        }
      },
      // client streaming
      async introduceClient(reqs) {
        let n = 0;
        for await (const _ of reqs) n++;
        return { sentence: `You told me ${n} things.` };
      },
      // bidi streaming: full duplex over HTTP/2
      async *converse(reqs) {
        for await (const r of reqs) yield { sentence: `Why do you say "${r.sentence}"?` };
      },
    });
  },
});
app.get("/health", async () => ({ ok: true })); // REST routes live beside it, untouched
await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8080) });
// #endregion server
