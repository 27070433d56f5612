// What the results were measured on, and which code, for the header of RESULTS.md.
import { execFileSync } from "node:child_process";
import * as os from "node:os";

export interface Machine {
  date: string;
  cpus: string;
  model: string;
  node: string;
  kernel: string;
  /** The commit the servers were built from, and whether lib/ differed from it. */
  source: string;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

export function describeMachine(): Machine {
  const model = sh("lscpu", [])
    .split("\n")
    .find((l) => l.startsWith("Model name:"))
    ?.slice("Model name:".length)
    .trim();
  return {
    date: sh("date", ["-u"]),
    cpus: sh("nproc", []),
    model: model ?? os.cpus()[0]?.model ?? "?",
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.machine()}`,
    source: describeSource(),
  };
}

/** "commit abc1234", plus a note when lib/ has uncommitted changes (the servers are built from the working tree). */
function describeSource(): string {
  const commit = sh("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = sh("git", ["status", "--porcelain", "--", "lib"]);
  return `commit ${commit}${dirty && dirty !== "?" ? " with uncommitted changes in lib/" : ""}`;
}
