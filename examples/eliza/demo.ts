// `npm run demo`: starts the Eliza server, calls every method over Connect, gRPC and gRPC-Web, then stops.
// The calls use @connectrpc/connect-node as the client until this library's own client lands.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";
import { createElizaServer } from "./server.js";

const app = await createElizaServer({ logger: false });
await app.listen({ host: "127.0.0.1", port: 0 });
const { port } = app.server.address() as { port: number };
const baseUrl = `http://127.0.0.1:${port}`;
console.log(`Eliza listens on ${baseUrl} (HTTP/1.1 and h2c)\n`);

const transports = {
  connect: createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  grpc: createGrpcTransport({ baseUrl }),
  "grpc-web": createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
};

async function* sentences(...s: string[]) {
  for (const sentence of s) yield { sentence };
}

for (const [protocol, transport] of Object.entries(transports)) {
  const eliza = createClient(ElizaService, transport);
  console.log(`--- ${protocol}`);
  console.log("unary:            ", (await eliza.say({ sentence: "I feel curious" })).sentence);
  for await (const r of eliza.introduceServer({ name: "Ada" })) console.log("server streaming: ", r.sentence);
  const summary = await eliza.introduceClient(sentences("I write code.", "I like tea."));
  console.log("client streaming: ", summary.sentence);
  for await (const r of eliza.converse(sentences("Hello", "I am tired", "Why?")))
    console.log("bidi:             ", r.sentence);
  console.log();
}
await app.close();
