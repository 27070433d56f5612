// The README's production set-up: TLS with h2 and HTTP/1.1 on one port, and
// SIGTERM wired to app.close(). `TLS_KEY=key.pem TLS_CERT=cert.pem npx tsx examples/production/server.ts`.
// #region production
import { readFileSync } from "node:fs";
import Fastify from "fastify";
import { fastifyConnectRpc } from "fastify-connectrpc";
import { ElizaService } from "../quickstart/gen/connectrpc/eliza/v1/eliza_pb.js";

// ALPN picks h2 (gRPC, Connect, gRPC-Web) or HTTP/1.1 (curl, older proxies) on the same port.
const app = Fastify({
  logger: true,
  http2: true,
  https: {
    allowHTTP1: true,
    key: readFileSync(process.env.TLS_KEY ?? "key.pem"),
    cert: readFileSync(process.env.TLS_CERT ?? "cert.pem"),
  },
});
await app.register(fastifyConnectRpc, {
  shutdownGraceMs: 10_000, // how long in-flight calls may finish after SIGTERM
  routes(router) {
    router.service(ElizaService, {
      async say(req) {
        return { sentence: `You said: ${req.sentence}` };
      },
    });
  },
});

// Kubernetes, systemd and docker stop send SIGTERM: stop accepting, let calls finish, then exit.
process.once("SIGTERM", () => {
  app.log.info("SIGTERM: closing");
  app.close().then(
    () => process.exit(0),
    (err) => {
      app.log.error(err, "close failed");
      process.exit(1);
    },
  );
});
await app.listen({ host: process.env.HOST ?? "0.0.0.0", port: Number(process.env.PORT ?? 8443) });
// #endregion production
