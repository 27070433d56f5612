// The protocol half of the "limit" server: what to answer, independent of
// HTTP/1.1 or HTTP/2. It does the least a correct server must do (parse the
// envelopes, decode the request with @bufbuild/protobuf, encode the reply)
// and nothing else: no routing table, no interceptors, no compression, no
// timeouts. Its throughput is the ceiling a Node framework can approach.
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import type { EchoRequest } from "../gen/fcr/bench/v1/bench_pb.js";
import { EchoRequestSchema, EchoResponseSchema, PATHS } from "../service.js";
import { COMPRESSED_FLAG, envelope, parseEnvelopes, TRAILER_FLAG } from "../wire.js";

export type Method = "echo" | "stream" | "pingPong";
export type Protocol = "grpc" | "grpc-web" | "connect-proto" | "connect-json";

const METHODS = new Map<string, Method>(Object.entries(PATHS).map(([m, p]) => [p, m as Method]));

export function methodOf(path: string | undefined): Method | undefined {
  return path === undefined ? undefined : METHODS.get(path);
}

export function protocolOf(contentType: string | undefined): Protocol | undefined {
  const i = contentType?.indexOf(";") ?? -1;
  switch ((i < 0 ? contentType : contentType?.slice(0, i))?.trim().toLowerCase()) {
    case "application/grpc":
    case "application/grpc+proto":
      return "grpc";
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return "grpc-web";
    case "application/proto":
      return "connect-proto";
    case "application/json":
      return "connect-json";
    default:
      return undefined;
  }
}

/** An RPC failure: the gRPC code, and Connect's name and HTTP status for it. */
export class RpcError extends Error {
  constructor(
    readonly grpcCode: number,
    readonly connectCode: string,
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

const invalidArgument = (msg: string) => new RpcError(3, "invalid_argument", 400, msg);
const unimplemented = (msg: string) => new RpcError(12, "unimplemented", 501, msg);

export function decodeRequest(data: Uint8Array): EchoRequest {
  try {
    return fromBinary(EchoRequestSchema, data);
  } catch (e) {
    throw invalidArgument(`cannot decode request: ${(e as Error).message}`);
  }
}

/** The encoded reply to one request (or a handler's reply object): its payload, made a message and encoded. */
export function encodeReply(req: { payload: Uint8Array }): Uint8Array {
  return toBinary(EchoResponseSchema, create(EchoResponseSchema, { payload: req.payload }));
}

/** The request messages in an enveloped body; compressed ones are refused (nobody negotiated compression). */
export function decodeEnvelopes(body: Buffer): EchoRequest[] {
  let envs: ReturnType<typeof parseEnvelopes>;
  try {
    envs = parseEnvelopes(body);
  } catch (e) {
    throw invalidArgument((e as Error).message);
  }
  return envs.map((e) => {
    if (e.flags & COMPRESSED_FLAG) throw unimplemented("compressed messages are not supported");
    return decodeRequest(e.data);
  });
}

/** The encoded replies a method gives to all of its requests at once. */
export function answerAll(method: Method, reqs: EchoRequest[]): Uint8Array[] {
  if (method === "pingPong") return reqs.map(encodeReply);
  if (reqs.length !== 1) throw invalidArgument(`expected 1 request message, got ${reqs.length}`);
  if (method === "echo") return [encodeReply(reqs[0])];
  return Array.from({ length: reqs[0].count }, () => encodeReply(reqs[0]));
}

/** A whole response: status, headers, body and (for gRPC over HTTP/2) trailers. */
export interface WholeResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  trailers?: Record<string, string>;
}

/**
 * Answers a call whose request body has fully arrived: every Connect unary
 * call, every gRPC-Web call (over HTTP/1.1 a gRPC-Web response is one body
 * anyway), and gRPC unary calls.
 */
export function answerWhole(method: Method, protocol: Protocol, body: Buffer): WholeResponse {
  switch (protocol) {
    case "grpc":
      return grpcWhole(method, body);
    case "grpc-web":
      return grpcWebWhole(method, body);
    default:
      return connectUnary(method, protocol, body);
  }
}

function grpcWhole(method: Method, body: Buffer): WholeResponse {
  const headers = { "content-type": "application/grpc+proto" };
  try {
    const replies = answerAll(method, decodeEnvelopes(body));
    return { status: 200, headers, body: concatEnvelopes(replies), trailers: { "grpc-status": "0" } };
  } catch (e) {
    return { status: 200, headers, body: Buffer.alloc(0), trailers: grpcStatus(e) };
  }
}

function grpcWebWhole(method: Method, body: Buffer): WholeResponse {
  let messages: Buffer;
  let trailers: Record<string, string>;
  try {
    messages = concatEnvelopes(answerAll(method, decodeEnvelopes(body)));
    trailers = { "grpc-status": "0" };
  } catch (e) {
    messages = Buffer.alloc(0);
    trailers = grpcStatus(e);
  }
  const block = Object.entries(trailers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const trailerFrame = envelope(Buffer.from(block, "latin1"), TRAILER_FLAG);
  return {
    status: 200,
    headers: { "content-type": "application/grpc-web+proto" },
    body: Buffer.concat([messages, trailerFrame]),
  };
}

function connectUnary(method: Method, protocol: "connect-proto" | "connect-json", body: Buffer): WholeResponse {
  const json = protocol === "connect-json";
  try {
    // A unary content-type on a streaming method is an unsupported media type (Connect spec).
    if (method !== "echo") return { status: 415, headers: {}, body: Buffer.alloc(0) };
    let req: EchoRequest;
    try {
      req = json ? fromJsonString(EchoRequestSchema, body.toString("utf8")) : fromBinary(EchoRequestSchema, body);
    } catch (e) {
      throw invalidArgument(`cannot decode request: ${(e as Error).message}`);
    }
    const reply = create(EchoResponseSchema, { payload: req.payload });
    const out = json ? Buffer.from(toJsonString(EchoResponseSchema, reply)) : toBuffer(encodeReply(req));
    return { status: 200, headers: { "content-type": json ? "application/json" : "application/proto" }, body: out };
  } catch (e) {
    const err = asRpcError(e);
    return {
      status: err.httpStatus,
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ code: err.connectCode, message: err.message })),
    };
  }
}

export function asRpcError(e: unknown): RpcError {
  return e instanceof RpcError ? e : new RpcError(13, "internal", 500, String((e as Error)?.message ?? e));
}

export function grpcStatus(e: unknown): Record<string, string> {
  const err = asRpcError(e);
  return { "grpc-status": String(err.grpcCode), "grpc-message": encodeURIComponent(err.message) };
}

function concatEnvelopes(messages: Uint8Array[]): Buffer {
  return messages.length === 1 ? envelope(messages[0]) : Buffer.concat(messages.map((m) => envelope(m)));
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
