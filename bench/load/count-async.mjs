// Preloaded into a server (`--import`) by bench/async-resources.ts: counts the
// async resources the process creates, by type (PROMISE, TickObject,
// HTTP2STREAM...). Each is a call into every enabled async hook, which is what
// an AsyncLocalStorage context manager costs on Node 20. SIGUSR2 writes the
// counts since the last signal to the file named by FCR_ASYNC_COUNTS and
// starts again.
import { createHook } from "node:async_hooks";
import { writeFileSync } from "node:fs";

let counts = new Map();
createHook({
  init(_id, type) {
    counts.set(type, (counts.get(type) ?? 0) + 1);
  },
}).enable();
process.on("SIGUSR2", () => {
  const out = process.env.FCR_ASYNC_COUNTS;
  if (out) writeFileSync(out, JSON.stringify(Object.fromEntries(counts)));
  counts = new Map();
});
