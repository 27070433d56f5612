// A @grpc/grpc-js client for fcr.test.v1.TestService, built without
// proto-loader: the method definitions serialize with @bufbuild/protobuf and
// the generated schemas. Plus promise wrappers that collect everything a call
// returns (messages, header metadata, status) for the interop tests.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EchoRequestSchema, type EchoResponse, EchoResponseSchema } from "../gen/fcr/test/v1/test_pb.js";

export type EchoRequestInit = MessageInitShape<typeof EchoRequestSchema>;

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/fcr.test.v1.TestService/${name}`,
    requestStream,
    responseStream,
    requestSerialize: (req: EchoRequestInit) =>
      Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, req))),
    requestDeserialize: (b: Buffer) => fromBinary(EchoRequestSchema, b),
    responseSerialize: (res: EchoResponse) => Buffer.from(toBinary(EchoResponseSchema, res)),
    responseDeserialize: (b: Buffer) => fromBinary(EchoResponseSchema, b),
  };
}

const testServiceDefinition = {
  unary: method("Unary", false, false),
  serverStream: method("ServerStream", false, true),
  clientStream: method("ClientStream", true, false),
  bidi: method("Bidi", true, true),
} satisfies grpc.ServiceDefinition;

const TestServiceClient = grpc.makeGenericClientConstructor(testServiceDefinition, "fcr.test.v1.TestService");

/** The typed surface of the generic client for TestService. */
export interface TestServiceGrpcClient extends grpc.Client {
  unary(
    req: EchoRequestInit,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoResponse>,
  ): grpc.ClientUnaryCall;
  serverStream(
    req: EchoRequestInit,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientReadableStream<EchoResponse>;
  clientStream(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<EchoResponse>,
  ): grpc.ClientWritableStream<EchoRequestInit>;
  bidi(metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequestInit, EchoResponse>;
}

/** A grpc-js client on `address` ("127.0.0.1:port"); insecure (h2c) unless credentials say otherwise. */
export function createGrpcJsClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): TestServiceGrpcClient {
  return new TestServiceClient(address, credentials, options) as unknown as TestServiceGrpcClient;
}

/** Everything one call gave back. `error` is set when the status is not OK. */
export interface GrpcJsResult {
  messages: EchoResponse[];
  error?: grpc.ServiceError;
  /** Response header metadata, if the server sent headers before the status. */
  header?: grpc.Metadata;
  status: grpc.StatusObject;
}

export interface GrpcJsCallOptions {
  metadata?: grpc.Metadata;
  /** Deadline in milliseconds from now. */
  timeoutMs?: number;
}

function callOptions(o: GrpcJsCallOptions): grpc.CallOptions {
  return o.timeoutMs === undefined ? {} : { deadline: Date.now() + o.timeoutMs };
}

/** Resolves once the call has both ended its messages and reported its status. */
function settle(
  call: NodeJS.EventEmitter,
  messages: EchoResponse[],
  done: Promise<grpc.ServiceError | undefined>,
): Promise<GrpcJsResult> {
  let header: grpc.Metadata | undefined;
  call.on("metadata", (m: grpc.Metadata) => {
    header = m;
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return Promise.all([status, done]).then(([status, error]) => ({ messages, error, header, status }));
}

function unaryDone(): {
  callback: grpc.requestCallback<EchoResponse>;
  messages: EchoResponse[];
  done: Promise<grpc.ServiceError | undefined>;
} {
  const messages: EchoResponse[] = [];
  let callback!: grpc.requestCallback<EchoResponse>;
  const done = new Promise<grpc.ServiceError | undefined>((resolve) => {
    callback = (err, value) => {
      if (value) messages.push(value);
      resolve(err ?? undefined);
    };
  });
  return { callback, messages, done };
}

function readAll(
  stream: grpc.ClientReadableStream<EchoResponse> | grpc.ClientDuplexStream<EchoRequestInit, EchoResponse>,
) {
  const messages: EchoResponse[] = [];
  stream.on("data", (m: EchoResponse) => messages.push(m));
  const done = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on("end", () => resolve(undefined));
    stream.on("error", (e: grpc.ServiceError) => resolve(e));
  });
  return { messages, done };
}

/** A unary call, as a promise that never rejects. */
export function grpcUnary(
  client: TestServiceGrpcClient,
  req: EchoRequestInit,
  o: GrpcJsCallOptions = {},
): Promise<GrpcJsResult> {
  const { callback, messages, done } = unaryDone();
  const call = client.unary(req, o.metadata ?? new grpc.Metadata(), callOptions(o), callback);
  return settle(call, messages, done);
}

/** A server-streaming call, collecting every message. */
export function grpcServerStream(
  client: TestServiceGrpcClient,
  req: EchoRequestInit,
  o: GrpcJsCallOptions = {},
): Promise<GrpcJsResult> {
  const call = client.serverStream(req, o.metadata ?? new grpc.Metadata(), callOptions(o));
  const { messages, done } = readAll(call);
  return settle(call, messages, done);
}

/** A client-streaming call that sends `reqs` and half-closes. */
export function grpcClientStream(
  client: TestServiceGrpcClient,
  reqs: EchoRequestInit[],
  o: GrpcJsCallOptions = {},
): Promise<GrpcJsResult> {
  const { callback, messages, done } = unaryDone();
  const call = client.clientStream(o.metadata ?? new grpc.Metadata(), callOptions(o), callback);
  for (const r of reqs) call.write(r);
  call.end();
  return settle(call, messages, done);
}

/** A bidi call that sends all of `reqs` at once, half-closes, and collects the replies. */
export function grpcBidi(
  client: TestServiceGrpcClient,
  reqs: EchoRequestInit[],
  o: GrpcJsCallOptions = {},
): Promise<GrpcJsResult> {
  const call = client.bidi(o.metadata ?? new grpc.Metadata(), callOptions(o));
  const { messages, done } = readAll(call);
  const result = settle(call, messages, done);
  for (const r of reqs) call.write(r);
  call.end();
  return result;
}
