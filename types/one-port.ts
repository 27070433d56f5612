// Type test: the one-port factory plugs into Fastify's serverFactory without casts.
import Fastify from "fastify";
import { fastifyConnectRpc, onePortServerFactory } from "fastify-connectrpc";

const app = Fastify({ serverFactory: onePortServerFactory() });
await app.register(fastifyConnectRpc, { routes() {} });
app.get("/health", async () => ({ ok: true }));
