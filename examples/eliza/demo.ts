// `npm run demo`: starts the Eliza server, calls every method over Connect, gRPC and gRPC-Web
// with this library's client, then stops.
import { elizaTransport, runEliza } from "./client.js";
import { createElizaServer } from "./server.js";

const app = await createElizaServer({ logger: false });
await app.listen({ host: "127.0.0.1", port: 0 });
const { port } = app.server.address() as { port: number };
const baseUrl = `http://127.0.0.1:${port}`;
console.log(`Eliza listens on ${baseUrl} (HTTP/1.1 and h2c)\n`);

for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
  console.log(`--- ${protocol}`);
  const transport = elizaTransport(protocol, baseUrl);
  await runEliza(transport, ["unary", "server-streaming", "client-streaming", "bidi"]);
  transport.close();
  console.log();
}
await app.close();
