// The README's quick start, client side: `ELIZA_URL=http://127.0.0.1:8080 npx tsx examples/quickstart/client.ts`.
// #region client
import { Code, ConnectError, createClient, createGrpcTransport } from "fastify-connectrpc/client";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

const transport = createGrpcTransport({ baseUrl: process.env.ELIZA_URL ?? "http://127.0.0.1:8080" });
const eliza = createClient(ElizaService, transport);
const headers = { "x-user": "ada" };

async function* sentences() {
  yield { sentence: "I write code." };
  yield { sentence: "I like tea." };
}

// unary, with metadata and a deadline
const res = await eliza.say(
  { sentence: "I feel curious" },
  { headers, timeoutMs: 2000, onHeader: (h) => console.log("mood:", h.get("x-eliza-mood")) },
);
console.log(res.sentence);
// server streaming
for await (const r of eliza.introduceServer({ name: "Ada" }, { headers })) console.log(r.sentence);
// client streaming
console.log((await eliza.introduceClient(sentences(), { headers })).sentence);
// bidi streaming
for await (const r of eliza.converse(sentences(), { headers })) console.log(r.sentence);
// errors arrive as ConnectError, whatever the protocol
try {
  await eliza.say({ sentence: "" }, { headers });
} catch (e) {
  if (e instanceof ConnectError && e.code === Code.InvalidArgument) console.log("refused:", e.rawMessage);
}
transport.close();
// #endregion client
