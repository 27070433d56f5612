// A browser page calling the Eliza server with @connectrpc/connect-web, over
// Connect and gRPC-Web. The server's URL comes from `?server=`, so the page
// can be served from another origin (the server answers CORS for it).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ElizaService } from "../gen/connectrpc/eliza/v1/eliza_pb.js";

interface Result {
  protocol: string;
  unary?: string;
  serverStreaming?: string[];
  error?: string;
}

async function run(): Promise<Result[]> {
  const baseUrl = new URLSearchParams(location.search).get("server") ?? location.origin;
  const transports = {
    connect: createConnectTransport({ baseUrl }),
    "grpc-web": createGrpcWebTransport({ baseUrl }),
  };
  const results: Result[] = [];
  for (const [protocol, transport] of Object.entries(transports)) {
    const eliza = createClient(ElizaService, transport);
    const result: Result = { protocol };
    try {
      result.unary = (await eliza.say({ sentence: "I feel curious" })).sentence;
      result.serverStreaming = [];
      for await (const r of eliza.introduceServer({ name: "Ada" })) result.serverStreaming.push(r.sentence);
    } catch (e) {
      result.error = String(e);
    }
    results.push(result);
  }
  return results;
}

const out = document.getElementById("results") as HTMLElement;
run().then(
  (results) => {
    out.textContent = JSON.stringify(results, null, 2);
    out.dataset.done = "true";
  },
  (e) => {
    out.textContent = JSON.stringify([{ error: String(e) }]);
    out.dataset.done = "true";
  },
);
