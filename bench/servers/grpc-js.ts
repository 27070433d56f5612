// @grpc/grpc-js, the reference Node gRPC server: gRPC over h2c only. Built
// without proto-loader; messages go through @bufbuild/protobuf like everywhere
// else, so the comparison is of the transports, not of the protobuf runtimes.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { EchoRequest } from "../gen/fcr/bench/v1/bench_pb.js";
import { EchoRequestSchema, EchoResponseSchema, PATHS } from "../service.js";
import { announce } from "./ready.js";

type Reply = MessageInitShape<typeof EchoResponseSchema>;

function method(path: string, requestStream: boolean, responseStream: boolean) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (req: EchoRequest) => Buffer.from(toBinary(EchoRequestSchema, req)),
    requestDeserialize: (b: Buffer) => fromBinary(EchoRequestSchema, b),
    responseSerialize: (res: Reply) => {
      const bytes = toBinary(EchoResponseSchema, create(EchoResponseSchema, res));
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // no copy
    },
    responseDeserialize: (b: Buffer) => fromBinary(EchoResponseSchema, b),
  };
}

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

const definition = {
  echo: method(PATHS.echo, false, false),
  stream: method(PATHS.stream, false, true),
  pingPong: method(PATHS.pingPong, true, true),
} satisfies grpc.ServiceDefinition;

const server = new grpc.Server();
server.addService(definition, {
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
