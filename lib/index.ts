// The main entry point: the Fastify plugin and everything of the client entry
// ("fastify-connectrpc/client"), so that one import serves both sides.
export * from "./client/index.js";
export { createInjectTransport, type InjectTransportOptions } from "./client/inject.js";
export { corsAllowedHeaders, corsAllowedMethods, corsExposedHeaders } from "./protocol/cors.js";
export type { HandlerContext } from "./server/context.js";
export type {
  AnyFn,
  Interceptor,
  StreamRequest,
  StreamResponse,
  UnaryRequest,
  UnaryResponse,
} from "./server/interceptor.js";
export { type OnePortServerOptions, onePortServerFactory } from "./server/one-port.js";
export { type FastifyConnectRpcOptions, fastifyConnectRpc } from "./server/plugin.js";
export {
  type BiDiStreamingImpl,
  type ClientStreamingImpl,
  ConnectRouter,
  type MethodImpl,
  type ServerStreamingImpl,
  type ServiceImpl,
  type UnaryImpl,
} from "./server/router.js";
export { createGrpcHealth, type GrpcHealth, type ServingStatus } from "./services/health.js";
export type { StandardServicesOptions } from "./services/register.js";
