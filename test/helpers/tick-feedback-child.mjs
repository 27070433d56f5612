// Run by test/node/tick-object-shape.test.ts in a child process, with
// --expose-gc and --allow-natives-syntax: makes full GCs while no tick object
// is alive, then prints V8's feedback for process.nextTick and whether a tick
// object made now has the kept object's map. With `--keep` it first imports
// the built client entry point, as an app would; without it, nothing keeps the
// shape. Plain JavaScript on the build, so that no loader runs in the child.
import { createHook } from "node:async_hooks";

const keep = process.argv.includes("--keep");
if (keep) await import("../../dist/client/index.js");
const kept = keep ? (await import("../../dist/tick-object-shape.js")).keptTickObject() : undefined;
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");

const tick = () => new Promise((resolve) => process.nextTick(resolve));
const turn = () => new Promise((resolve) => setImmediate(resolve));
for (let i = 0; i < 8; i++) {
  // Enough calls for nextTick to have its feedback, then a full GC between event-loop turns.
  for (let j = 0; j < 20; j++) await tick();
  await turn();
  gc();
}

let tickObject;
const hook = createHook({
  init(_id, type, _trigger, resource) {
    if (type === "TickObject") tickObject ??= resource;
  },
}).enable();
process.nextTick(() => {});
hook.disable();

// V8 natives syntax, which the parser accepts only in code compiled with --allow-natives-syntax.
const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
const debugPrint = new Function("f", "%DebugPrint(f)");
process.stdout.write(`SAME_MAP ${kept && tickObject ? sameMap(kept, tickObject) : "none"}\n`);
debugPrint(process.nextTick);
