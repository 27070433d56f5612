// The OpenTelemetry entry point: `import { otelServerInterceptor } from "fastify-connectrpc/otel"`.
// It needs the optional peer dependency @opentelemetry/api; the main entry never imports this file.
export { otelClientInterceptor } from "./client.js";
export type { OtelInterceptorOptions } from "./options.js";
export { otelServerInterceptor } from "./server.js";
