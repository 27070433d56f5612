// "ours" with the OpenTelemetry SDK registered (otel-sdk.ts) and an
// interceptor that only runs the handler in an OpenTelemetry context, as any
// tracing must: what carrying a context across the handler's awaits costs by
// itself. On Node 20 the SDK's AsyncLocalStorage context manager tracks every
// promise once a context has been entered, so this is paid per call by any
// instrumentation that sets an active span, @fastify/otel's included.
import { context } from "@opentelemetry/api";
import "./otel-sdk.js";
import { serveOurs } from "./ours-app.js";

await serveOurs([(next) => (req) => context.with(context.active(), next, undefined, req)]);
