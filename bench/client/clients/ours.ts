// fastify-connectrpc's own client (lib/client): createGrpcTransport or
// createConnectTransport with its defaults (proto binary).
import { createClient, createConnectTransport, createGrpcTransport } from "../../../lib/client/index.js";
import { BenchService } from "../../service.js";
import type { BenchClient, Target } from "./bench-client.js";
import { fromTypedClient } from "./generated.js";

export async function oursClient(t: Target): Promise<BenchClient> {
  const baseUrl = `http://127.0.0.1:${t.port}`;
  const transport =
    t.protocol === "grpc"
      ? createGrpcTransport({ baseUrl })
      : createConnectTransport({ baseUrl, httpVersion: t.http === "h2" ? "2" : "1.1" });
  return fromTypedClient(createClient(BenchService, transport), () => transport.close());
}
