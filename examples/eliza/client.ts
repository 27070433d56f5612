// The Eliza client: calls the server with this library's own client.
//   tsx examples/eliza/client.ts --unary --server-streaming --client-streaming --bidi --protocol grpc --port 8080
// With no call-kind flag it makes every kind of call.
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

export type CallKind = "unary" | "server-streaming" | "client-streaming" | "bidi";
export type Protocol = "connect" | "grpc" | "grpc-web";

/** Connect and gRPC-Web go over HTTP/1.1 here, gRPC over h2c: the server takes both on one port. */
export function elizaTransport(protocol: Protocol, baseUrl: string): Transport {
  switch (protocol) {
    case "connect":
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
    case "grpc":
      return createGrpcTransport({ baseUrl });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  }
}

async function* sentences(...s: string[]) {
  for (const sentence of s) yield { sentence };
}

/** Makes the calls of the given kinds and prints each reply. */
export async function runEliza(transport: Transport, kinds: readonly CallKind[], print = console.log): Promise<void> {
  const eliza = createClient(ElizaService, transport);
  for (const kind of kinds) {
    switch (kind) {
      case "unary":
        print("unary:            ", (await eliza.say({ sentence: "I feel curious" })).sentence);
        break;
      case "server-streaming":
        for await (const r of eliza.introduceServer({ name: "Ada" })) print("server streaming: ", r.sentence);
        break;
      case "client-streaming": {
        const summary = await eliza.introduceClient(sentences("I write code.", "I like tea."));
        print("client streaming: ", summary.sentence);
        break;
      }
      case "bidi":
        for await (const r of eliza.converse(sentences("Hello", "I am tired", "Why?")))
          print("bidi:             ", r.sentence);
        break;
    }
  }
}

const ALL_KINDS: readonly CallKind[] = ["unary", "server-streaming", "client-streaming", "bidi"];

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const value = (flag: string, fallback: string) => {
    const i = args.indexOf(flag);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
  };
  const protocol = value("--protocol", "connect");
  if (protocol !== "connect" && protocol !== "grpc" && protocol !== "grpc-web") {
    console.error(`unknown --protocol "${protocol}": expected connect, grpc or grpc-web`);
    process.exit(2);
  }
  const kinds = ALL_KINDS.filter((k) => args.includes(`--${k}`));
  const transport = elizaTransport(protocol, `http://127.0.0.1:${value("--port", "8080")}`);
  try {
    await runEliza(transport, kinds.length > 0 ? kinds : ALL_KINDS);
  } finally {
    transport.close();
  }
}
