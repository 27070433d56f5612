// Compiles the processes the harnesses start (servers, the stream client, the
// client benchmark's worker) to plain JavaScript first, so that they run on
// bare `node`: under tsx every server would carry a module-loader thread,
// inflating its RSS and start-up. Packages stay external (resolved from the
// repo's node_modules), which is why the output lives in the checkout rather
// than in /tmp; and not under node_modules, which a git worktree may share
// with another checkout (a symlink), whose harness would then start this
// checkout's build.
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const OUT_DIR = path.join(benchDir, ".build");

export const ENTRIES = {
  limit: "servers/limit.ts",
  "fastify-floor": "servers/fastify-floor.ts",
  "fastify-floor-handlers": "servers/fastify-floor-handlers.ts",
  ours: "servers/ours.ts",
  "ours-otel-sdk": "servers/ours-otel-sdk.ts",
  "ours-otel-api": "servers/ours-otel-api.ts",
  "ours-passthrough": "servers/ours-passthrough.ts",
  "ours-sdk-context": "servers/ours-sdk-context.ts",
  "connect-fastify": "servers/connect-fastify.ts",
  "grpc-js": "servers/grpc-js.ts",
  "stream-client": "load/stream-client.ts",
  "client-worker": "client/worker.ts",
} as const;

export type Entry = keyof typeof ENTRIES;

/** Builds every entry; returns the path of each compiled file. */
export async function buildEntries(): Promise<Record<Entry, string>> {
  const names = Object.keys(ENTRIES) as Entry[];
  await build({
    entryPoints: Object.fromEntries(names.map((n) => [n, path.join(benchDir, ENTRIES[n])])),
    outdir: OUT_DIR,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
  });
  return Object.fromEntries(names.map((n) => [n, path.join(OUT_DIR, `${n}.mjs`)])) as Record<Entry, string>;
}
