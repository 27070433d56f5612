// The library as a user gets it: `npm pack`ed, installed into an app in a
// scratch directory outside the repository with the registry's npm client.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Test } from "tap";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The environment of a user's shell: nothing that points into this repository
 * (the npm_* variables and PATH entries `npm test` adds, tap's NODE_OPTIONS),
 * and npm told to use its warm cache first.
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const repo = root.replace(/\/$/, "");
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || /^_?TAP/i.test(k) || k === "NODE_OPTIONS") continue;
    if (k === "PATH")
      env.PATH = v
        .split(":")
        .filter((p) => p !== repo && !p.startsWith(`${repo}/`))
        .join(":");
    else if (!v.includes(repo)) env[k] = v;
  }
  return {
    ...env,
    npm_config_prefer_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    ...extra,
  };
}

/**
 * A shell prelude that drops what tap's process tracking (@tapjs/processinfo)
 * adds to every process spawned from a test (NODE_OPTIONS with its loader
 * from this repository, _TAPJS_* variables): it patches spawn, so the
 * environment passed in cannot keep them out.
 */
export const CLEAN_SHELL =
  "for v in $(env | grep -o '^_TAPJS_[A-Za-z0-9_]*'); do unset \"$v\"; done; unset NODE_OPTIONS; ";

/** Runs a shell command line in `cwd`, as a user would type it; rejects with its output when it fails. */
export async function sh(cwd: string, command: string, env = userEnv()): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec("sh", ["-c", CLEAN_SHELL + command], { cwd, env, maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`\`${command}\` failed in ${cwd}: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** A fresh directory under the system's temp dir, removed when the test ends. */
export async function scratchDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `fcr-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Packs the library with `npm pack` into a scratch directory and returns the
 * tarball's path. `npm test` builds first; a dist/ older than lib/ (a single
 * test file run by hand after an edit) is refused rather than rebuilt here,
 * where two test files could rebuild it at once.
 */
export async function packLibrary(t: Test): Promise<string> {
  const built = await stat(join(root, "dist", "index.js")).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (built < (await newestMtime(join(root, "lib")))) {
    throw new Error("dist/ is missing or older than lib/: run `npm run build` first (npm test does)");
  }
  const dest = await scratchDir(t, "pack");
  const { stdout } = await sh(root, `npm pack --ignore-scripts --pack-destination ${dest}`);
  return join(dest, stdout.trim().split("\n").pop() ?? "");
}

/** npm install in a user's app (userEnv adds the warm cache first, the registry for what it lacks). */
export const NPM_INSTALL = "npm install";
