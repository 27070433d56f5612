// The reference client: bare node:http2 / node:http with @bufbuild/protobuf,
// doing only what a correct client must (frame and encode the request, check
// the status, content-type and grpc-status, decode the reply), as the limit
// server does on its side. Its throughput is the ceiling of a Node client.
import * as http from "node:http";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { EchoRequest } from "../../gen/fcr/bench/v1/bench_pb.js";
import { postH1 } from "../../load/h1-calls.js";
import {
  callFailure,
  connect,
  GRPC_REQUEST_HEADERS,
  PingPong,
  type RawResponse,
  serverStream,
  unaryCall,
} from "../../load/h2-calls.js";
import { EchoRequestSchema, EchoResponseSchema, PATHS } from "../../service.js";
import { envelope, parseEnvelopes } from "../../wire.js";
import type { BenchClient, Target } from "./bench-client.js";

const CONNECT_HEADERS = { "content-type": "application/proto", "connect-protocol-version": "1" };

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function grpcReply(res: RawResponse): Uint8Array {
  const status = first(res.trailers["grpc-status"] ?? res.headers["grpc-status"]);
  if (res.status !== 200 || status !== "0" || !first(res.headers["content-type"])?.startsWith("application/grpc")) {
    throw new Error(`HTTP ${res.status}, grpc-status ${status} ${first(res.headers["grpc-message"]) ?? ""}`);
  }
  const envs = parseEnvelopes(res.body);
  if (envs.length !== 1 || envs[0].flags !== 0) throw new Error("expected one uncompressed message");
  return fromBinary(EchoResponseSchema, envs[0].data).payload;
}

function connectReply(res: RawResponse): Uint8Array {
  if (res.status !== 200 || first(res.headers["content-type"]) !== "application/proto") {
    throw new Error(`HTTP ${res.status}: ${res.body.subarray(0, 200).toString()}`);
  }
  return fromBinary(EchoResponseSchema, res.body).payload;
}

const encode = (req: EchoRequest) => toBinary(EchoRequestSchema, req);

export async function rawClient(t: Target): Promise<BenchClient> {
  if (t.http === "h1") {
    const agent = new http.Agent({ keepAlive: true });
    return {
      async echo(req) {
        const body = Buffer.from(encode(req));
        return connectReply(await postH1(t.port, { path: PATHS.echo, headers: CONNECT_HEADERS, body }, agent));
      },
      stream: () => Promise.reject(new Error("gRPC streams need HTTP/2")),
      pingPong: () => {
        throw new Error("gRPC streams need HTTP/2");
      },
      close: () => agent.destroy(),
    };
  }
  const session = await connect(t.port);
  const grpc = t.protocol === "grpc";
  return {
    async echo(req) {
      const headers = grpc ? GRPC_REQUEST_HEADERS : CONNECT_HEADERS;
      const body = grpc ? envelope(encode(req)) : Buffer.from(encode(req));
      const res = await unaryCall(session, PATHS.echo, headers, body);
      return grpc ? grpcReply(res) : connectReply(res);
    },
    async stream(req, onReply) {
      // A bad reply fails the call once it has ended: throwing in a 'data' listener would crash the process.
      let badReply: string | undefined;
      const end = await serverStream(session, envelope(encode(req)), (env) => {
        if (badReply) return;
        if (env.flags !== 0) badReply = `a reply with flags ${env.flags}`;
        else {
          try {
            onReply(fromBinary(EchoResponseSchema, env.data).payload);
          } catch (e) {
            badReply = (e as Error).message;
          }
        }
      });
      const bad = badReply ?? callFailure(end);
      if (bad) throw new Error(bad);
    },
    pingPong() {
      const call = new PingPong(session);
      return {
        async roundTrip(req) {
          const reply = await call.roundTrip(envelope(encode(req)));
          if (reply.flags !== 0) throw new Error(`a reply with flags ${reply.flags}`);
          return fromBinary(EchoResponseSchema, reply.data).payload;
        },
        async finish() {
          const bad = callFailure(await call.finish());
          if (bad) throw new Error(bad);
        },
      };
    },
    close: () => session.close(),
  };
}
