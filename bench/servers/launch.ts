// Starting one server process on the server core, and reading what it cost
// from /proc: peak RSS (VmHWM) and CPU time.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { CLOCK_TICKS } from "../cpu.js";
import { SERVER_CORE } from "../proc.js";
import { type Ports, READY_PREFIX } from "./ready.js";

const START_TIMEOUT_MS = 20_000;

export interface RunningServer {
  pid: number;
  ports: Ports;
  /** Why the process is gone, if it exited. */
  exited(): string | undefined;
  /** Peak resident set size so far, in KiB. */
  peakRssKib(): number;
  /** User + system CPU time so far, in seconds. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** A command the server runs under (valgrind, say), before `node`. */
  wrapper?: string[];
  /** How long start-up may take; a server under valgrind needs far longer. */
  startTimeoutMs?: number;
}

export function startServer(scriptPath: string, options: StartOptions = {}): Promise<RunningServer> {
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
  const child = spawn("taskset", ["-c", SERVER_CORE, ...(options.wrapper ?? []), process.execPath, scriptPath], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let exit: string | undefined;
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 10_000) stderr += c.toString();
  });
  const exitedPromise = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exit = `server exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim().slice(0, 500)}` : ""}`;
      resolve();
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${scriptPath} did not start within ${startTimeoutMs} ms: ${stderr}`));
    }, startTimeoutMs);
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split("\n").find((l) => l.startsWith(READY_PREFIX));
      if (!line || !child.pid) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners("data");
      child.stdout.resume(); // keep draining, so a chatty server never blocks on a full pipe
      resolve(
        handle(child, child.pid, JSON.parse(line.slice(READY_PREFIX.length)) as Ports, () => exit, exitedPromise),
      );
    });
    exitedPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`${scriptPath}: ${exit}`));
    });
  });
}

function handle(
  child: ChildProcess,
  pid: number,
  ports: Ports,
  exited: () => string | undefined,
  gone: Promise<void>,
): RunningServer {
  return {
    pid,
    ports,
    exited,
    peakRssKib() {
      const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+) kB/m);
      return m ? Number(m[1]) : Number.NaN;
    },
    cpuSeconds() {
      // Fields after the command name (which may contain spaces, hence the last ')'): utime and stime are 14 and 15.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    },
    async stop() {
      if (exited()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}
