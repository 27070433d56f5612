// Drives a conformance runner (conformance/server-runner or client-runner) the
// way connectconformance does: spawns it, writes size-delimited messages
// (big-endian uint32 length, then protobuf binary) on stdin, and reads
// size-delimited messages from stdout. Every byte of stdout is kept, so a test
// can check that nothing but frames was written there.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

export const SERVER_RUNNER = fileURLToPath(new URL("../../conformance/server-runner", import.meta.url));
export const CLIENT_RUNNER = fileURLToPath(new URL("../../conformance/client-runner", import.meta.url));

export interface RunnerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunnerProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<RunnerExit>;
  /** Everything the runner wrote to stdout so far. */
  stdout(): Buffer;
  /** Everything the runner wrote to stderr so far. */
  stderr(): string;
  /** Writes one size-delimited message on stdin. */
  write<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>): void;
  /** Writes raw bytes on stdin. */
  writeRaw(bytes: Uint8Array): void;
  /** Closes stdin (EOF). */
  end(): void;
  /** The next size-delimited message on stdout; rejects after `timeoutMs` or if the process exits first. */
  read<Desc extends DescMessage>(desc: Desc, timeoutMs?: number): Promise<MessageShape<Desc>>;
  /** Kills the process if it is still running (SIGKILL), and waits for it to exit. */
  kill(): Promise<void>;
}

/** Frames a message as the suite does: a big-endian uint32 size, then the bytes. */
export function frame<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>): Buffer {
  const body = toBinary(desc, message);
  const out = Buffer.alloc(4 + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.set(body, 4);
  return out;
}

/** Splits a buffer into size-delimited frames; `rest` is what is left over (an incomplete frame). */
export function splitFrames(buf: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.byteLength - off >= 4) {
    const size = buf.readUInt32BE(off);
    if (buf.byteLength - off - 4 < size) break;
    frames.push(buf.subarray(off + 4, off + 4 + size));
    off += 4 + size;
  }
  return { frames, rest: buf.subarray(off) };
}

export function startRunner(path: string, env: NodeJS.ProcessEnv = {}): RunnerProcess {
  const child = spawn(path, [], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
  const out: Buffer[] = [];
  let err = "";
  let pending = Buffer.alloc(0);
  const frames: Buffer[] = [];
  let wake: (() => void) | undefined;
  let exitInfo: RunnerExit | undefined;
  child.stdout?.on("data", (chunk: Buffer) => {
    out.push(chunk);
    pending = Buffer.concat([pending, chunk]);
    const split = splitFrames(pending);
    frames.push(...split.frames);
    pending = Buffer.from(split.rest);
    wake?.();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  // An EPIPE on stdin (the runner exited early) must not crash the test process.
  child.stdin?.on("error", () => {});
  // Should the test process die before its teardown runs, take the runner with it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<RunnerExit>((resolve) => {
    child.once("exit", (code, signal) => {
      process.off("exit", killOnExit);
      exitInfo = { code, signal };
      wake?.();
      resolve(exitInfo);
    });
    child.once("error", (e) => {
      err += `spawn error: ${e.message}\n`;
      exitInfo = { code: null, signal: null };
      wake?.();
      resolve(exitInfo);
    });
  });

  return {
    child,
    exited,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    write(desc, message) {
      child.stdin?.write(frame(desc, message));
    },
    writeRaw(bytes) {
      child.stdin?.write(bytes);
    },
    end() {
      child.stdin?.end();
    },
    async read(desc, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = frames.shift();
        if (f) return fromBinary(desc, f);
        if (exitInfo) {
          throw new Error(`runner exited (${JSON.stringify(exitInfo)}) before writing a message; stderr: ${err}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no message from the runner within ${timeoutMs} ms; stderr: ${err}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    },
    async kill() {
      if (!exitInfo) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Resolves with the exit, or with "timeout" after `ms`. */
export async function exitWithin(runner: RunnerProcess, ms: number): Promise<RunnerExit | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([runner.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A throwaway self-signed certificate made with the openssl CLI, as the
 * suite's runner provides them: `serverCert()` is valid for 127.0.0.1 and
 * localhost; `clientCert()` is for a client to authenticate itself with.
 */
function selfSigned(args: string[]): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "fcr-conformance-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        ...args,
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const serverCert = () =>
  selfSigned(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
export const clientCert = () =>
  selfSigned(["-subj", "/CN=conformance-client", "-addext", "extendedKeyUsage=clientAuth"]);
