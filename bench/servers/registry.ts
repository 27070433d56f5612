// The servers compared, in the order each repetition runs them.
import type { Entry } from "../build.js";
import type { Scenario } from "../scenarios.js";

export interface ServerSpec {
  name: string;
  entry: Entry;
  /** Whether the server can serve the scenario at all; a cell it cannot serve shows "-". */
  serves(s: Scenario): boolean;
}

export const SERVERS: ServerSpec[] = [
  { name: "limit", entry: "limit", serves: () => true },
  { name: "ours", entry: "ours", serves: () => true },
  { name: "connect-fastify", entry: "connect-fastify", serves: () => true },
  { name: "grpc-js", entry: "grpc-js", serves: (s) => s.protocol === "grpc" },
];
