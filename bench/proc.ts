// Running the harness's helper processes. Load generators go on core 0 and
// servers on core 1 (taskset), so that on a two-core machine neither steals
// the other's CPU; taskset execs its command, so the pid stays the server's.
import { execFile, execFileSync } from "node:child_process";

export const LOAD_CORE = "0";
export const SERVER_CORE = "1";

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** Runs a load generator pinned to the load core; rejects with its output if it fails. */
export function runPinned(command: string, args: string[], env: Record<string, string> = {}): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      "taskset",
      ["-c", LOAD_CORE, command, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} failed: ${err.message}\n${stdout}\n${stderr}`.trim()));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** Pins this process (all its threads) to the load core, so that a harness idles away from the server's core. */
export function pinToLoadCore(): void {
  try {
    execFileSync("taskset", ["-a", "-cp", LOAD_CORE, String(process.pid)], { stdio: "ignore" });
  } catch {
    console.error("warning: could not pin the harness to the load core");
  }
}

/** Runs a compiled bench script on bare node on the load core; resolves with the JSON of its last stdout line. */
export async function runNodePinned<T>(scriptPath: string, args: unknown): Promise<T> {
  const { stdout } = await runPinned(process.execPath, [scriptPath, JSON.stringify(args)]);
  const line = stdout.trim().split("\n").pop();
  if (!line) throw new Error(`${scriptPath} printed nothing`);
  return JSON.parse(line) as T;
}
