// Runs bench/load/stream-client.ts (compiled) in its own process on the load core.
import { runNodePinned } from "../proc.js";
import type { LoadResult } from "./result.js";
import type { StreamClientArgs } from "./stream-client.js";

export function streamClient(clientPath: string, args: StreamClientArgs): Promise<LoadResult> {
  return runNodePinned<LoadResult>(clientPath, args);
}
