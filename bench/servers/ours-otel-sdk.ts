// "ours" with otelServerInterceptor and the real OpenTelemetry SDK (otel-sdk.ts).
import "./otel-sdk.js";
import { otelServerInterceptor } from "../../lib/otel/index.js";
import { serveOurs } from "./ours-app.js";

await serveOurs([otelServerInterceptor()]);
