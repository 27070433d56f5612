import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { nodeWithoutTap } from "../helpers/node-without-tap.js";

const run = promisify(execFile);
const child = fileURLToPath(new URL("../helpers/request-shape-child.mjs", import.meta.url));

t.test("the request interceptors get is a fast-properties object whose signal survives a spread copy", async (t) => {
  const { stdout } = await run(...nodeWithoutTap(["--allow-natives-syntax", child]));
  const shape = JSON.parse(stdout) as Record<string, boolean>;
  // The control: V8 makes an object literal with a getter a dictionary-mode object, whose getter then outlives
  // the young generation with everything its closure holds (bench/RESULTS.md, "the client request's signal getter").
  t.equal(shape.control, false, "an object literal with a getter has slow properties");
  t.equal(shape.request, true, "the request has fast properties");
  t.equal(shape.sameMap, true, "every request has the same map");
  t.equal(shape.signal, true, "req.signal is an AbortSignal");
  t.equal(shape.spreadSignal, true, "{ ...req }.signal is an AbortSignal");
});
