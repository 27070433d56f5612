// The servers compared, in the order each repetition runs them.
import type { Entry } from "../build.js";
import type { Scenario } from "../scenarios.js";

export interface ServerSpec {
  name: string;
  entry: Entry;
  /** Whether the server can serve the scenario at all; a cell it cannot serve shows "-". */
  serves(s: Scenario): boolean;
}

/** The cells the OpenTelemetry variants run: gRPC unary and Connect unary (their cost is per call). */
export const OTEL_SCENARIOS = ["grpc-c1", "connect-proto-h1"];
const otelCell = (s: Scenario) => OTEL_SCENARIOS.includes(s.id);
const streamingCell = (s: Scenario) => s.load.tool === "stream" || s.load.tool === "bidi";

export const SERVERS: ServerSpec[] = [
  { name: "limit", entry: "limit", serves: () => true },
  // Fastify itself with the limit's protocol code in hijacked routes: the ceiling of any Fastify plugin.
  { name: "fastify-floor", entry: "fastify-floor", serves: () => true },
  // The floor with the bench's async-generator handlers in its streaming calls: the ceiling of the handler API.
  { name: "floor+handlers", entry: "fastify-floor-handlers", serves: streamingCell },
  { name: "ours", entry: "ours", serves: () => true },
  // ours with otelServerInterceptor: the real SDK with exporters that drop everything, and the API alone.
  { name: "ours+otel-sdk", entry: "ours-otel-sdk", serves: otelCell },
  { name: "ours+otel-api", entry: "ours-otel-api", serves: otelCell },
  { name: "connect-fastify", entry: "connect-fastify", serves: () => true },
  { name: "grpc-js", entry: "grpc-js", serves: (s) => s.protocol === "grpc" },
];
