// The server under test for the connectrpc conformance suite: reads one
// ServerCompatRequest from stdin, starts Fastify with this library's plugin
// serving ConformanceService, answers with a ServerCompatResponse, and serves
// until SIGTERM. See conformance/README.md.

import { create } from "@bufbuild/protobuf";
import Fastify, { type FastifyInstance } from "fastify";
import { fastifyConnectRpc, onePortServerFactory } from "../lib/index.js";
import {
  type ServerCompatRequest,
  ServerCompatRequestSchema,
  ServerCompatResponseSchema,
} from "./gen/connectrpc/conformance/v1/server_compat_pb.js";
import { ConformanceService } from "./gen/connectrpc/conformance/v1/service_pb.js";
import { conformanceServiceImpl } from "./service.js";
import { readMessages, writeMessage } from "./stdio.js";

// stdout carries the protocol only; Fastify logs errors to stderr.
const logger = { level: process.env.CONFORMANCE_LOG_LEVEL ?? "error", stream: process.stderr };

/**
 * Every protocol and both HTTP versions on one port: without TLS, HTTP/1.1
 * and h2c side by side; with TLS, ALPN picks h2 or HTTP/1.1.
 */
function createApp(req: ServerCompatRequest): FastifyInstance {
  if (!req.useTls) return Fastify({ logger, serverFactory: onePortServerFactory() }) as unknown as FastifyInstance;
  const creds = req.serverCreds;
  if (!creds) throw new Error("use_tls is set but server_creds is missing");
  const requireClientCert = req.clientTlsCert.byteLength > 0;
  return Fastify({
    logger,
    http2: true,
    https: {
      allowHTTP1: true,
      cert: Buffer.from(creds.cert),
      key: Buffer.from(creds.key),
      ...(requireClientCert ? { ca: Buffer.from(req.clientTlsCert), requestCert: true, rejectUnauthorized: true } : {}),
    },
  }) as unknown as FastifyInstance;
}

export async function startConformanceServer(
  req: ServerCompatRequest,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = createApp(req);
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(ConformanceService, conformanceServiceImpl);
    },
    ...(req.messageReceiveLimit > 0 ? { readMaxBytes: req.messageReceiveLimit } : {}),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { app, port };
}

async function main(): Promise<void> {
  let request: ServerCompatRequest | undefined;
  for await (const m of readMessages(ServerCompatRequestSchema, process.stdin)) {
    request = m;
    break;
  }
  if (!request) throw new Error("stdin ended before a ServerCompatRequest arrived");
  const { app, port } = await startConformanceServer(request);
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  writeMessage(
    ServerCompatResponseSchema,
    create(ServerCompatResponseSchema, {
      host: "127.0.0.1",
      port,
      pemCert: request.useTls ? request.serverCreds?.cert : undefined,
    }),
    process.stdout,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    process.stderr.write(`conformance server: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
