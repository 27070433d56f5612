// Every code block in the README carries a marker saying how it is checked, and this file checks it:
// snippets equal a region of a file that is type-checked and run, excerpts are lines of a real file, files
// equal a real file, and the code generation steps run in a scratch directory. The Quick start's steps
// (app-run, app-file, app-server, run) are followed in a new app with the packed library by
// test/package/readme-quickstart.test.ts.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { commands, readmeBlocks } from "./helpers/readme.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules", ".bin");
const quickstartTest = join(root, "test/package/readme-quickstart.test.ts");

async function region(path: string, name: string): Promise<string> {
  const text = await readFile(join(root, path), "utf8");
  const start = text.indexOf(`// #region ${name}\n`);
  const end = text.indexOf(`// #endregion ${name}`);
  if (start < 0 || end < 0) throw new Error(`${path} has no region "${name}"`);
  const lines = text
    .slice(start + `// #region ${name}\n`.length, end)
    .trimEnd()
    .split("\n");
  // A region inside a function (a test, say) is shown without its indentation.
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

/** Starts the quick-start server on an ephemeral port; resolves with the port from Fastify's log line. */
function startQuickStart(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", "examples/quickstart/server.ts"], {
    cwd: root,
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let log = "";
    child.stdout?.on("data", (d: Buffer) => {
      log += d;
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.once("exit", (code) => reject(new Error(`quick-start server exited with ${code}: ${log}`)));
  });
}

t.test("every README code block is checked, and its check passes", async (t) => {
  const blocks = await readmeBlocks(join(root, "README.md"));
  t.ok(blocks.length >= 10, "the README has its code blocks");
  const { port, child } = await startQuickStart();
  t.teardown(() => {
    child.kill();
  });
  let generateYaml: string | undefined;
  for (const [i, b] of blocks.entries()) {
    const name = `block ${i + 1} (${b.lang}, "${b.marker.slice(0, 40)}")`;
    const { kind, arg } = b;
    switch (kind) {
      case "snippet": {
        const [path, regionName] = arg.split("#");
        t.equal(b.code, await region(path, regionName), `${name}: equals ${arg}`);
        // A snippet from a test file is also run here, and must pass.
        if (path.endsWith(".test.ts")) {
          await t.resolves(run(process.execPath, ["--import", "tsx", path], { cwd: root }), `${name}: ${path} passes`);
        }
        break;
      }
      case "excerpt": {
        const fileLines = new Set((await readFile(join(root, arg), "utf8")).split("\n").map((l) => l.trim()));
        for (const line of b.code.split("\n")) {
          if (line.trim() !== "") t.ok(fileLines.has(line.trim()), `${name}: "${line.trim()}" is in ${arg}`);
        }
        break;
      }
      case "file":
        t.equal(b.code, (await readFile(join(root, arg), "utf8")).trimEnd(), `${name}: equals the whole of ${arg}`);
        break;
      case "generate":
        if (b.lang === "yaml") {
          generateYaml = b.code;
          break;
        }
        await t.test(`${name}: the generation steps work as written`, async (t) => {
          const dir = await mkdtemp(join(tmpdir(), "readme-generate-"));
          t.teardown(() => rm(dir, { recursive: true, force: true }));
          t.ok(generateYaml, "the buf.gen.yaml block comes first");
          await writeFile(join(dir, "buf.gen.yaml"), `${generateYaml}\n`);
          await cp(join(root, "examples/eliza/proto"), join(dir, "proto"), { recursive: true });
          // As in a project that installed the dev dependencies the quick start lists.
          await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
          for (const { command } of commands(b.code)) {
            await run("sh", ["-c", command], { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
          }
          const generated = await readFile(join(dir, "gen/connectrpc/eliza/v1/eliza_pb.ts"), "utf8");
          const committed = await readFile(
            join(root, "examples/quickstart/gen/connectrpc/eliza/v1/eliza_pb.ts"),
            "utf8",
          );
          t.equal(generated, committed, "generates the code the quick start imports");
        });
        break;
      case "run":
      case "app-run":
      case "app-file":
      case "app-server":
      case "app-package-json":
        // Followed in a new app by the Quick start test; here, only what can be checked without one.
        if (b.lang === "json") t.doesNotThrow(() => JSON.parse(b.code), `${name}: is valid JSON`);
        await t.resolves(readFile(quickstartTest), `${name}: ${quickstartTest} follows it`);
        break;
      case "checked by":
        for (const path of arg.match(/test\/[\w/.-]+\.ts/g) ?? []) {
          await t.resolves(readFile(join(root, path)), `${name}: ${path} exists`);
        }
        break;
      case "not run":
        t.ok(arg.length > 0, `${name}: says why it is not run (${arg})`);
        break;
      default:
        t.fail(`${name}: no marker saying how it is checked`);
    }
  }

  await t.test("the quick-start client prints every call kind's answer", async (t) => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/quickstart/client.ts"], {
      cwd: root,
      env: { ...process.env, ELIZA_URL: `http://127.0.0.1:${port}` },
    });
    t.same(stdout.trim().split("\n"), [
      "mood: curious",
      "You said: I feel curious",
      "Hi Ada.",
      "I'm Eliza.",
      "How are you?",
      "You told me 2 things.",
      'Why do you say "I write code."?',
      'Why do you say "I like tea."?',
      "refused: say something",
    ]);
  });
});

t.test("the committed generated code is what `npm run generate` and `generate:conformance` make", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "readme-regenerate-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { scripts } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  // Every `buf generate <input> -o <out>` the two scripts run, regenerated into a scratch directory.
  const steps = [
    ...`${scripts.generate} && ${scripts["generate:conformance"]}`.matchAll(/buf generate (\S+) -o (\S+)/g),
  ];
  t.same(
    steps.map((m) => m[2]).sort(),
    ["bench", "conformance", "examples/eliza", "examples/quickstart", "lib/services", "test"],
    "the scripts generate every committed gen/ folder",
  );
  t.notMatch(scripts.generate, /\.\.\//, "npm run generate reads nothing outside the repository");
  for (const [, input, out] of steps) {
    const target = join(dir, out);
    await run(join(bin, "buf"), ["generate", input, "-o", target], { cwd: root });
    const files = (await readdir(join(target, "gen"), { recursive: true, withFileTypes: true })).filter((e) =>
      e.isFile(),
    );
    t.ok(files.length > 0, `${input} generates code`);
    for (const f of files) {
      const path = join(f.parentPath, f.name).slice(target.length + 1);
      t.equal(
        await readFile(join(target, path), "utf8"),
        await readFile(join(root, out, path), "utf8"),
        `${out}/${path} is current`,
      );
    }
  }
});
