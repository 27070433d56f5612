import { spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { nodeWithoutTap } from "../helpers/node-without-tap.js";

const child = fileURLToPath(new URL("../helpers/tick-feedback-child.mjs", import.meta.url));

/** The child's report: whether a tick object has the kept object's map, and V8's feedback for nextTick. */
async function feedbackAfterGcs(keep: boolean): Promise<{ sameMap: string; megamorphicDefines: number }> {
  // To a file: %DebugPrint writes through C++ stdio, which loses output on the non-blocking pipe Node gives it.
  const out = path.join(mkdtempSync(path.join(tmpdir(), "fcr-tick-")), "stdout");
  const fd = openSync(out, "w");
  // Without tap's loader: its loader thread makes nextTick's literal megamorphic before any module of the
  // child runs.
  const args = ["--expose-gc", "--allow-natives-syntax", child, ...(keep ? ["--keep"] : [])];
  const proc = spawn(...nodeWithoutTap(args), { stdio: ["ignore", fd, "inherit"] });
  const [code] = await once(proc, "exit");
  closeSync(fd);
  if (code !== 0) throw new Error(`the child exited with ${code}`);
  const stdout = readFileSync(out, "utf8");
  return {
    sameMap: /SAME_MAP (\S+)/.exec(stdout)?.[1] ?? "missing",
    // The literal's property definitions, one feedback slot each (%DebugPrint's "slot #N <kind> <state>").
    megamorphicDefines: stdout.match(/DefineKeyedOwnPropertyInLiteral MEGAMORPHIC/g)?.length ?? 0,
  };
}

t.test("after full GCs, nextTick builds its tick objects inline only if the library keeps one", async (t) => {
  // The control shows the cause is what lib/tick-object-shape.ts says: with nothing keeping the maps, they
  // are rebuilt after each full GC, and the literal's property definitions go megamorphic.
  const without = await feedbackAfterGcs(false);
  t.equal(without.sameMap, "none");
  t.ok(
    without.megamorphicDefines >= 1,
    `megamorphic definitions without the kept object: ${without.megamorphicDefines}`,
  );

  const withLibrary = await feedbackAfterGcs(true);
  t.equal(withLibrary.sameMap, "true", "a tick object has the kept object's map");
  t.equal(withLibrary.megamorphicDefines, 0, "every definition in the tick object literal stays inline");
});
