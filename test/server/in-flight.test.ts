// The in-flight list graceful shutdown reads: adding and removing anywhere in
// it, removing twice, and the snapshot shutdown iterates while calls complete.
import t from "tap";
import { InFlightCalls, type InFlightLinks } from "../../lib/server/in-flight.js";

class Call implements InFlightLinks {
  prevInFlight: InFlightLinks | undefined = undefined;
  nextInFlight: InFlightLinks | undefined = undefined;
  constructor(readonly name: string) {}
}

const names = (list: InFlightCalls<Call>) => list.snapshot().map((c) => c.name);

t.test("calls can leave from the middle, the newest end and the oldest end", async (t) => {
  const list = new InFlightCalls<Call>();
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => new Call(n));
  for (const call of [a, b, c, d]) list.add(call);
  t.equal(list.size, 4);
  t.same(names(list), ["d", "c", "b", "a"]);
  list.delete(b);
  t.same(names(list), ["d", "c", "a"], "from the middle");
  list.delete(d);
  t.same(names(list), ["c", "a"], "the newest");
  list.delete(a);
  t.same(names(list), ["c"], "the oldest");
  t.equal(list.size, 1);
  list.delete(c);
  t.equal(list.size, 0);
  t.same(names(list), []);
  for (const call of [a, b, c, d]) {
    t.equal(call.prevInFlight, undefined, `${call.name} holds no link once out`);
    t.equal(call.nextInFlight, undefined);
  }
});

t.test("removing a call that is not in the list changes nothing", async (t) => {
  const list = new InFlightCalls<Call>();
  const [a, b] = [new Call("a"), new Call("b")];
  list.add(a);
  list.add(b);
  list.delete(a);
  list.delete(a);
  list.delete(new Call("never added"));
  t.equal(list.size, 1);
  t.same(names(list), ["b"]);
  list.add(a);
  t.same(names(list), ["a", "b"], "a call can come back after it left");
});

t.test("the snapshot stays whole while the calls in it leave", async (t) => {
  const list = new InFlightCalls<Call>();
  const calls = ["a", "b", "c"].map((n) => new Call(n));
  for (const call of calls) list.add(call);
  const seen: string[] = [];
  for (const call of list.snapshot()) {
    seen.push(call.name);
    list.delete(call);
  }
  t.same(seen, ["c", "b", "a"]);
  t.equal(list.size, 0);
});
