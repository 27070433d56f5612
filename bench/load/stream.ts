// Runs bench/load/stream-client.ts (compiled) in its own process on the load core.
import { runPinned } from "../proc.js";
import type { LoadResult } from "./result.js";
import type { StreamClientArgs } from "./stream-client.js";

export async function streamClient(clientPath: string, args: StreamClientArgs): Promise<LoadResult> {
  const { stdout } = await runPinned(process.execPath, [clientPath, JSON.stringify(args)]);
  const line = stdout.trim().split("\n").pop();
  if (!line) throw new Error("the stream client printed nothing");
  return JSON.parse(line) as LoadResult;
}
