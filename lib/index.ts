export {
  type CallOptions,
  type Client,
  type ClientInterceptor,
  type ConnectTransportOptions,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
  type TransportOptions,
} from "./client/index.js";
export { createInjectTransport, type InjectTransportOptions } from "./client/inject.js";
export { Code, codeFromString, codeToString } from "./protocol/code.js";
export type { JsonOptions } from "./protocol/codec.js";
export type { Compression } from "./protocol/compression.js";
export type { ProtocolName } from "./protocol/content-type.js";
export { corsAllowedHeaders, corsAllowedMethods, corsExposedHeaders } from "./protocol/cors.js";
export {
  ConnectError,
  type ConnectErrorOptions,
  type ErrorDetail,
  type IncomingDetail,
  type OutgoingDetail,
} from "./protocol/error.js";
export { decodeBinaryHeader, encodeBinaryHeader } from "./protocol/headers.js";
export type { HandlerContext } from "./server/context.js";
export { type OnePortServerOptions, onePortServerFactory } from "./server/one-port.js";
export { type FastifyConnectRpcOptions, fastifyConnectRpc } from "./server/plugin.js";
export {
  type AnyFn,
  type BiDiStreamingImpl,
  type ClientStreamingImpl,
  ConnectRouter,
  type Interceptor,
  type MethodImpl,
  type ServerStreamingImpl,
  type ServiceImpl,
  type StreamRequest,
  type StreamResponse,
  type UnaryImpl,
  type UnaryRequest,
  type UnaryResponse,
} from "./server/router.js";
export { createGrpcHealth, type GrpcHealth, type ServingStatus } from "./services/health.js";
export type { StandardServicesOptions } from "./services/register.js";
