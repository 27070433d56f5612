// @grpc/grpc-js, the reference Node gRPC server: gRPC over h2c only, with the
// service definition of grpc-js-service.ts.
import * as grpc from "@grpc/grpc-js";
import type { EchoRequest } from "../gen/fcr/bench/v1/bench_pb.js";
import { BENCH_SERVICE, type Reply } from "../grpc-js-service.js";
import { announce } from "./ready.js";

/** Waits until the call can take more writes, or is cancelled (when no drain would ever come). */
function drainOrCancel(call: grpc.ServerWritableStream<EchoRequest, Reply>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.once("drain", done);
    call.once("cancelled", done);
  });
}

const server = new grpc.Server();
server.addService(BENCH_SERVICE, {
  echo(call: grpc.ServerUnaryCall<EchoRequest, Reply>, callback: grpc.sendUnaryData<Reply>) {
    callback(null, { payload: call.request.payload });
  },
  async stream(call: grpc.ServerWritableStream<EchoRequest, Reply>) {
    const reply = { payload: call.request.payload };
    for (let i = 0; i < call.request.count && !call.cancelled; i++) {
      // Respect backpressure, as the async generators of the other servers do.
      if (!call.write(reply)) await drainOrCancel(call);
    }
    call.end();
  },
  pingPong(call: grpc.ServerDuplexStream<EchoRequest, Reply>) {
    call.on("data", (req: EchoRequest) => call.write({ payload: req.payload }));
    call.on("end", () => call.end());
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  announce({ h2: port });
});
