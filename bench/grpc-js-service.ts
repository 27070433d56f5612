// The bench service as @grpc/grpc-js sees it, for its server and its client.
// Built without proto-loader; messages go through @bufbuild/protobuf like
// everywhere else, so the comparison is of the transports, not of the
// protobuf runtimes.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import type { EchoRequest } from "./gen/fcr/bench/v1/bench_pb.js";
import { EchoRequestSchema, EchoResponseSchema, PATHS } from "./service.js";

export type Reply = MessageInitShape<typeof EchoResponseSchema>;

/** Protobuf bytes as a Buffer over the same memory: no copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function method(path: string, requestStream: boolean, responseStream: boolean) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (req: EchoRequest) => asBuffer(toBinary(EchoRequestSchema, req)),
    requestDeserialize: (b: Buffer) => fromBinary(EchoRequestSchema, b),
    responseSerialize: (res: Reply) => asBuffer(toBinary(EchoResponseSchema, create(EchoResponseSchema, res))),
    responseDeserialize: (b: Buffer) => fromBinary(EchoResponseSchema, b),
  };
}

export const BENCH_SERVICE = {
  echo: method(PATHS.echo, false, false),
  stream: method(PATHS.stream, false, true),
  pingPong: method(PATHS.pingPong, true, true),
} satisfies grpc.ServiceDefinition;
