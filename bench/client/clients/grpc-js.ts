// @grpc/grpc-js's client, with the service definition its server uses
// (grpc-js-service.ts): one channel, hence one HTTP/2 connection. gRPC only.
import * as grpc from "@grpc/grpc-js";
import type { EchoRequest, EchoResponse } from "../../gen/fcr/bench/v1/bench_pb.js";
import { BENCH_SERVICE } from "../../grpc-js-service.js";
import { Mailbox } from "../mailbox.js";
import { type BenchClient, nextPayload, type Target } from "./bench-client.js";

const { echo, stream, pingPong } = BENCH_SERVICE;

/** Settles with the call's status: resolves on OK, rejects otherwise. */
function statusOf(call: grpc.ClientReadableStream<EchoResponse> | grpc.ClientDuplexStream<EchoRequest, EchoResponse>) {
  return new Promise<void>((resolve, reject) => {
    call.on("error", () => {}); // the status below carries the same failure
    call.on("status", (s: grpc.StatusObject) =>
      s.code === grpc.status.OK ? resolve() : reject(new Error(`grpc-status ${s.code} ${s.details}`)),
    );
  });
}

export async function grpcJsClient(t: Target): Promise<BenchClient> {
  if (t.protocol !== "grpc") throw new Error("grpc-js speaks gRPC only");
  const client = new grpc.Client(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
  return {
    echo(req) {
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(echo.path, echo.requestSerialize, echo.responseDeserialize, req, (err, res) =>
          err || !res ? reject(err ?? new Error("no reply")) : resolve(res.payload),
        ),
      );
    },
    stream(req, onReply) {
      const call = client.makeServerStreamRequest(
        stream.path,
        stream.requestSerialize,
        stream.responseDeserialize,
        req,
      );
      call.on("data", (reply: EchoResponse) => onReply(reply.payload));
      return statusOf(call);
    },
    pingPong() {
      const call = client.makeBidiStreamRequest(pingPong.path, pingPong.requestSerialize, pingPong.responseDeserialize);
      const replies = new Mailbox<EchoResponse>();
      call.on("data", (reply: EchoResponse) => replies.push(reply));
      const ended = statusOf(call);
      ended.then(
        () => replies.end(),
        (e) => replies.fail(e),
      );
      return {
        roundTrip(req) {
          call.write(req);
          return nextPayload(replies);
        },
        finish() {
          call.end();
          return ended;
        },
      };
    },
    close: () => client.close(),
  };
}
