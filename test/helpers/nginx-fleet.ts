// nginx (examples/nginx/nginx.conf) in front of instances of the example server, all on 127.0.0.1 and
// ephemeral ports: started, restarted one at a time (SIGTERM -> drain -> exit -> start again) and stopped.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** The nginx configuration the test runs: the documented example itself. */
export const NGINX_CONF = join(root, "examples/nginx/nginx.conf");
/** The ports the example configuration is written with: the two nginx listens, then the instances. */
const EXAMPLE_PORTS = { http1: 8080, h2c: 8081, instances: [9001, 9002, 9003] };

/** The nginx binary: $NGINX, then PATH, then Debian's /usr/sbin/nginx; undefined if there is none. */
export function findNginx(): string | undefined {
  if (process.env.NGINX) return process.env.NGINX;
  const which = spawnSync("sh", ["-c", "command -v nginx"], { encoding: "utf8" });
  const onPath = which.stdout.trim();
  if (onPath) return onPath;
  return existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : undefined;
}

/** Ports the kernel just handed out; closed again for nginx and the instances to take. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Replaces one exact text in the configuration, failing if it is not there exactly once. */
function replaceOnce(text: string, from: string, to: string, count = 1): string {
  const found = text.split(from).length - 1;
  if (found !== count) throw new Error(`${NGINX_CONF}: expected "${from}" ${count} time(s), found ${found}`);
  return text.split(from).join(to);
}

/** The example configuration with its loopback ports swapped for these. */
export async function nginxConfFor(ports: { http1: number; h2c: number; instances: number[] }): Promise<string> {
  let conf = await readFile(NGINX_CONF, "utf8");
  conf = replaceOnce(conf, `listen 127.0.0.1:${EXAMPLE_PORTS.http1};`, `listen 127.0.0.1:${ports.http1};`);
  conf = replaceOnce(conf, `listen 127.0.0.1:${EXAMPLE_PORTS.h2c} http2;`, `listen 127.0.0.1:${ports.h2c} http2;`);
  EXAMPLE_PORTS.instances.forEach((p, i) => {
    conf = replaceOnce(conf, `server 127.0.0.1:${p} `, `server 127.0.0.1:${ports.instances[i]} `, 2);
  });
  return conf;
}

/**
 * Resolves once the port answers: a TCP connection (for nginx), or with `httpGet` an HTTP/1.1 GET answered
 * with any status (for the example server, which a bare TCP probe would leave a connection that never sent a
 * byte; it keeps those open).
 */
async function waitForPort(
  port: number,
  timeoutMs: number,
  what: string,
  exited: () => string | undefined,
  httpGet = false,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone) throw new Error(`${what} exited before listening on ${port}: ${gone}`);
    const ok = await (httpGet ? answersGet(port) : accepts(port));
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function answersGet(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once("error", () => resolve(false));
  });
}

/** Kills the child if this process exits first (a test killed on timeout leaves no nginx or server behind). */
function killOnExit(child: ChildProcess, signal: NodeJS.Signals): void {
  const kill = () => child.kill(signal);
  process.once("exit", kill);
  child.once("exit", () => process.off("exit", kill));
}

/** Sends the signal and resolves with the exit code once the process is gone. */
function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill(signal);
  });
}

/** One running example server. */
export interface Instance {
  port: number;
  child: ChildProcess;
  /** Its stdout and stderr so far (the server runs with --quiet: errors only). */
  output(): string;
}

/**
 * Starts examples/eliza/server.ts on the port and resolves once it listens. Its drain leaves pooled
 * connections 5 s for nginx to close (nginx.conf closes them within 2 s: keepalive_time, keepalive_timeout).
 */
export async function startInstance(port: number, introPauseMs: number): Promise<Instance> {
  const args = ["--import", "tsx", "examples/eliza/server.ts", "--port", String(port), "--quiet"];
  const flags = ["--intro-pause-ms", String(introPauseMs), "--shutdown-idle-ms", "5000"];
  const child = spawn(process.execPath, [...args, ...flags], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(child, "SIGKILL");
  let log = "";
  child.stdout?.on("data", (d: Buffer) => {
    log += d;
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d;
  });
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? `${child.exitCode} ${log}` : undefined);
  await waitForPort(port, 20_000, `the example server on ${port}`, exited, true);
  return { port, child, output: () => log };
}

/** Stops an instance with SIGTERM (its app.close()) and resolves with its exit code and how long it took. */
export async function stopInstance(instance: Instance): Promise<{ at: string; code: number | null; ms: number }> {
  const started = Date.now();
  const code = await stopProcess(instance.child, "SIGTERM");
  return { at: new Date(started).toISOString(), code, ms: Date.now() - started };
}

/** A running nginx with the example configuration. */
export interface Nginx {
  http1Url: string;
  h2cUrl: string;
  /** nginx's error log so far. */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground with a scratch prefix and the example configuration on these ports. */
export async function startNginx(
  binary: string,
  ports: { http1: number; h2c: number; instances: number[] },
): Promise<Nginx> {
  const prefix = await mkdtemp(join(tmpdir(), "nginx-fleet-"));
  const conf = join(prefix, "nginx.conf");
  await writeFile(conf, await nginxConfFor(ports));
  const errorLog = join(prefix, "error.log");
  const globals = `daemon off; pid ${join(prefix, "nginx.pid")}; error_log ${errorLog} warn;`;
  const child = spawn(binary, ["-p", prefix, "-c", conf, "-g", globals], { stdio: ["ignore", "ignore", "pipe"] });
  // SIGTERM: nginx's master stops its workers (killed, it would leave them running).
  killOnExit(child, "SIGTERM");
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d;
  });
  const exited = () => (child.exitCode !== null ? `${child.exitCode} ${stderr}` : undefined);
  try {
    await waitForPort(ports.http1, 10_000, "nginx", exited);
    await waitForPort(ports.h2c, 10_000, "nginx", exited);
  } catch (err) {
    await stopProcess(child, "SIGKILL");
    await rm(prefix, { recursive: true, force: true });
    throw err;
  }
  return {
    http1Url: `http://127.0.0.1:${ports.http1}`,
    h2cUrl: `http://127.0.0.1:${ports.h2c}`,
    errorLog: () => readFile(errorLog, "utf8").catch(() => ""),
    async stop() {
      await stopProcess(child, "SIGTERM");
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
