// The clients compared, in the order each repetition runs them: the raw
// reference first, since every ratio is to it.
import type { ClientScenario } from "./scenarios.js";

export const CLIENTS = [
  { name: "raw", serves: () => true },
  { name: "ours", serves: () => true },
  { name: "connect-node", serves: () => true },
  { name: "grpc-js", serves: (s: ClientScenario) => s.protocol === "grpc" },
] as const;

export type ClientName = (typeof CLIENTS)[number]["name"];
