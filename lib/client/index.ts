// The client entry point: `import { createClient, createGrpcTransport } from "fastify-connectrpc/client"`.
// Both entry points (the main one re-exports this one) keep the tick objects' shape alive on import.
import "../tick-object-shape.js";

export { Code, codeFromString, codeToString } from "../protocol/code.js";
export type { JsonOptions } from "../protocol/codec.js";
export type { Compression } from "../protocol/compression.js";
export type { ProtocolName } from "../protocol/content-type.js";
export {
  ConnectError,
  type ConnectErrorOptions,
  type ErrorDetail,
  type IncomingDetail,
  type OutgoingDetail,
} from "../protocol/error.js";
export { decodeBinaryHeader, encodeBinaryHeader } from "../protocol/headers.js";
export {
  type BiDiStreamingFn,
  type CallOptions,
  type Client,
  type ClientMethod,
  type ClientStreamingFn,
  createClient,
  type ServerStreamingFn,
  type UnaryFn,
} from "./client.js";
export type { Http2SessionOptions } from "./http2-sessions.js";
export type {
  ClientAnyFn,
  ClientInterceptor,
  ClientStreamRequest,
  ClientStreamResponse,
  ClientUnaryRequest,
  ClientUnaryResponse,
} from "./interceptor.js";
export {
  type ClientTlsOptions,
  type ConnectTransportOptions,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
  type TransportOptions,
} from "./transport.js";
