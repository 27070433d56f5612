// "ours" in a process with the OpenTelemetry SDK registered (otel-sdk.ts) but
// no RPC instrumentation: what the SDK's AsyncLocalStorage context manager
// costs every call by itself (Node 20 tracks every promise for it), which an
// app pays with any OpenTelemetry instrumentation, @fastify/otel included.
import "./otel-sdk.js";
import { serveOurs } from "./ours-app.js";

await serveOurs([]);
