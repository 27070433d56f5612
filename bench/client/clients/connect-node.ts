// connect-es: @connectrpc/connect's createClient over @connectrpc/connect-node's
// transports, with their defaults (proto binary; HTTP/1.1 through Node's
// global keep-alive agent).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { BenchService } from "../../service.js";
import type { BenchClient, Target } from "./bench-client.js";
import { fromTypedClient } from "./generated.js";

export async function connectNodeClient(t: Target): Promise<BenchClient> {
  const baseUrl = `http://127.0.0.1:${t.port}`;
  const transport =
    t.protocol === "grpc"
      ? createGrpcTransport({ baseUrl })
      : createConnectTransport({ baseUrl, httpVersion: t.http === "h2" ? "2" : "1.1" });
  // connect-node's transports have no close: the worker exits when it is done.
  return fromTypedClient(createClient(BenchService, transport), () => {});
}
