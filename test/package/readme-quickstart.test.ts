// The README's Quick start, followed the way a new user follows it: the
// library is `npm pack`ed, an app is made in a scratch directory outside the
// repository, the README's install lines install the tarball (and the rest
// from the registry), each file the Quick start shows is written from the
// README's own code block, and every command it shows runs there (generate,
// type-check, server, client, curl, buf curl) with its output compared. No
// step reads a path of this repository: commands run in the app with a PATH
// and environment that do not point into it. Then the installed package is
// checked as a user's tools see it: its files, source maps and exports.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { type Block, commands, readmeBlocks } from "../helpers/readme.js";
import { CLEAN_SHELL, packLibrary, scratchDir, sh, userEnv } from "../helpers/tarball.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const blocks = await readmeBlocks(join(root, "README.md"));

/** The README's install line, with the package name pointing at the packed tarball instead of the registry. */
function withTarball(command: string, tarball: string): string {
  if (!/^npm (install|i)\b/.test(command)) return command;
  return command.replace(/(^|\s)fastify-connectrpc(?=\s|$)/, `$1${tarball}`);
}

/** Starts the README's server command (on a free port); resolves once Fastify logs where it listens. */
function startServer(t: Test, dir: string, command: string): Promise<{ port: number; log: () => string }> {
  const child: ChildProcess = spawn("sh", ["-c", CLEAN_SHELL + command.replace(/\bPORT=\d+/, "PORT=0")], {
    cwd: dir,
    env: userEnv(),
    detached: true, // its own process group: npx, tsx and node go down together
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
  });
  let log = "";
  return new Promise((resolvePort, reject) => {
    const onData = (d: Buffer) => {
      log += d;
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolvePort({ port: Number(m[1]), log: () => log });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`\`${command}\` exited with ${code}: ${log}`)));
  });
}

/** Every installed file's path under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

async function checkInstalledPackage(t: Test, app: string): Promise<void> {
  const pkgDir = join(app, "node_modules", "fastify-connectrpc");
  const files = await filesUnder(pkgDir);
  const top = [...new Set(files.map((f) => f.split("/")[0]))].sort();
  t.same(top, ["LICENSE", "README.md", "dist", "lib", "package.json"], "ships dist, its sources, LICENSE and README");
  t.match(await readFile(join(pkgDir, "LICENSE"), "utf8"), /^\s*Apache License\s+Version 2\.0/, "the Apache-2.0 text");
  const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
  t.equal(pkg.license, "Apache-2.0");
  t.ok(
    ["fastify", "connectrpc", "grpc", "grpc-web"].every((k) => pkg.keywords?.includes(k)),
    "keywords",
  );
  for (const [entry, conditions] of Object.entries(pkg.exports as Record<string, unknown>)) {
    if (typeof conditions !== "object" || conditions === null) continue;
    t.ok("default" in conditions, `exports["${entry}"] has a default condition next to import`);
  }
  const maps = files.filter((f) => f.endsWith(".map"));
  t.ok(maps.length > 10, "source maps ship");
  const missing: string[] = [];
  for (const map of maps) {
    const { sources } = JSON.parse(await readFile(join(pkgDir, map), "utf8")) as { sources: string[] };
    for (const s of sources) if (!existsSync(resolve(pkgDir, dirname(map), s))) missing.push(`${map} -> ${s}`);
  }
  t.same(missing, [], "every source a map names is in the package");
  const { stdout } = await sh(
    app,
    `node -e 'const a = require("fastify-connectrpc"); const b = require("fastify-connectrpc/client"); console.log(typeof a.fastifyConnectRpc, typeof b.createClient)'`,
  );
  t.equal(stdout.trim(), "function function", "require() works (require(esm) through the default condition)");
}

t.test("the README's Quick start works literally in a new app with the packed library", async (t) => {
  const tarball = await packLibrary(t);
  const app = await scratchDir(t, "quickstart");
  let server: { port: number; log: () => string } | undefined;
  const done = new Set<string>();
  const quickStart = blocks.filter((b: Block) => b.app.size > 0 || b.kind === "run");
  t.ok(quickStart.length >= 10, "the Quick start has its steps");
  for (const b of quickStart) {
    const file = b.app.get("app-file");
    if (file) {
      await mkdir(dirname(join(app, file)), { recursive: true });
      await writeFile(join(app, file), `${b.code}\n`);
      done.add(file);
    }
    if (b.app.has("app-package-json")) {
      const pkg = JSON.parse(await readFile(join(app, "package.json"), "utf8"));
      t.has(pkg, JSON.parse(b.code), "the app's package.json has the lines the README shows");
    }
    if (b.app.has("app-run")) {
      for (const { command } of commands(b.code)) {
        await sh(app, withTarball(command, tarball)); // rejects with the command's output when it fails
        t.pass(`ran: ${command}`);
        done.add(command.split(" ").slice(0, 3).join(" "));
      }
    }
    if (b.app.has("app-server")) {
      server = await startServer(t, app, commands(b.code)[0].command);
      t.pass(`started: ${b.code}`);
    }
    if (b.kind === "run") {
      t.ok(server, "the server was started before the commands that call it");
      if (!server) return;
      for (const { command, expected } of commands(b.code)) {
        const live = command.replaceAll("127.0.0.1:8080", `127.0.0.1:${server.port}`);
        const { stdout } = await sh(app, live);
        t.equal(stdout.trimEnd(), expected, `output as shown: ${command.slice(0, 70)}`);
        done.add(command.split(" ").slice(0, 3).join(" "));
      }
    }
  }
  const installed = JSON.parse(await readFile(join(app, "package.json"), "utf8"));
  t.match(installed.dependencies?.["fastify-connectrpc"], /^file:.*\.tgz$/, "the library came from the tarball");
  for (const step of [
    "proto/connectrpc/eliza/v1/eliza.proto",
    "buf.gen.yaml",
    "server.ts",
    "client.ts",
    "tsconfig.json",
    "npx buf generate",
    "npx tsc --noEmit",
    "ELIZA_URL=http://127.0.0.1:8080 npx tsx",
    "curl -H 'content-type:",
    "npx buf curl",
  ]) {
    t.ok(done.has(step), `the Quick start covers ${step}`);
  }
  t.match(server?.log() ?? "", /"msg":"rpc completed"/, "the server logs its rpc completed lines");
  await t.test("the installed package", (t) => checkInstalledPackage(t, app));
});
