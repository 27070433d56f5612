// fastify-connectrpc on Fastify, HTTP/1.1 and h2c on one port through
// onePortServerFactory: the set-up the README recommends for gRPC clients.
import { serveOurs } from "./ours-app.js";

await serveOurs([]);
