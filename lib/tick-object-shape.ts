// Keeps one object shaped like Node's process.nextTick tick objects alive, so
// that V8 keeps building them inline (bench/RESULTS.md, "process.nextTick
// through the runtime").
//
// Node 20 builds each tick object as a literal: { [async_id_symbol],
// [trigger_async_id_symbol], callback, args } (lib/internal/process/
// task_queues.js). V8 holds the maps of that shape weakly, in the literal's
// inline caches and in the transitions between them. A full GC that finds no
// tick object alive (the queue is empty between event-loop turns) frees those
// maps, and the next nextTick builds new ones; each time, the literal's cache
// sees one more map, and after four it is megamorphic for good. From then on
// every tick object's last three properties are defined through the runtime:
// about 0.3 us per nextTick, 12 of them per HTTP/2 call (10-16% of a unary
// call's server CPU). How many full GCs a process runs before its caches
// settle decides it, so one process pays and the next does not; any Fastify
// plugin's loading made it the rule. An object with the same shape, built in
// the same order, keeps those maps alive.

import { AsyncResource } from "node:async_hooks";

let kept: object | undefined;

// Called once, when the module is evaluated.
function keepTickObjectShape(): void {
  // Node's AsyncResource carries the same two symbols the tick objects do.
  const symbols = Object.getOwnPropertySymbols(new AsyncResource("fastify-connectrpc"));
  const asyncId = symbols.find((s) => s.description === "async_id_symbol");
  const triggerId = symbols.find((s) => s.description === "trigger_async_id_symbol");
  if (!asyncId || !triggerId) return; // another Node: nothing known to keep
  // The ids are doubles (HeapNumbers) in Node's own objects: a Smi here would
  // give the fields another representation, hence other maps.
  kept = { [asyncId]: 0.5, [triggerId]: 0.5, callback: keepTickObjectShape, args: undefined };
}

keepTickObjectShape();

/** The kept object, for the test that checks its shape is the tick objects' own. */
export function keptTickObject(): object | undefined {
  return kept;
}
