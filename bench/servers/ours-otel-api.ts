// "ours" with otelServerInterceptor and the OpenTelemetry API alone: no SDK
// registered, so the tracer and meter are the API's no-ops. What a library
// that ships the interceptor on costs an app that never set up OpenTelemetry.
import { otelServerInterceptor } from "../../lib/otel/index.js";
import { serveOurs } from "./ours-app.js";

await serveOurs([otelServerInterceptor()]);
