// Every code block in the README carries a marker saying how it is checked, and this file checks it:
// snippets equal a region of a file that is type-checked and run, excerpts are lines of a real file, the
// code generation steps run in a scratch directory, and the shell commands run against the quick-start
// server with their output compared.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules", ".bin");

interface Block {
  marker: string;
  lang: string;
  code: string;
}

async function readmeBlocks(): Promise<Block[]> {
  const lines = (await readFile(join(root, "README.md"), "utf8")).split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf("```", i + 1);
    const marker = /^<!-- (.*) -->$/.exec(lines[i - 1] ?? "")?.[1] ?? "";
    blocks.push({ marker, lang: open[1], code: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return blocks;
}

async function region(path: string, name: string): Promise<string> {
  const text = await readFile(join(root, path), "utf8");
  const start = text.indexOf(`// #region ${name}\n`);
  const end = text.indexOf(`// #endregion ${name}`);
  if (start < 0 || end < 0) throw new Error(`${path} has no region "${name}"`);
  return text.slice(start + `// #region ${name}\n`.length, end).trimEnd();
}

/** Shell commands with their expected output: `cmd \` continuations joined, `# output` lines after each. */
function commands(code: string): { command: string; expected: string | undefined }[] {
  const out: { command: string; expected: string | undefined }[] = [];
  let current = "";
  for (const line of code.split("\n")) {
    if (line.startsWith("# ")) {
      if (out.length > 0) out[out.length - 1].expected = line.slice(2);
      continue;
    }
    current += line.endsWith("\\") ? `${line.slice(0, -1)} ` : line;
    if (!line.endsWith("\\")) {
      out.push({ command: current.replace(/\s+#\s.*$/, "").trim(), expected: undefined });
      current = "";
    }
  }
  return out;
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
  const blocks = await readmeBlocks();
  t.ok(blocks.length >= 10, "the README has its code blocks");
  const { port, child } = await startQuickStart();
  t.teardown(() => {
    child.kill();
  });
  let generateYaml: string | undefined;
  for (const [i, b] of blocks.entries()) {
    const name = `block ${i + 1} (${b.lang}, "${b.marker.slice(0, 40)}")`;
    const [kind, arg] = b.marker.split(/:\s*/, 2);
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
        for (const { command, expected } of commands(b.code)) {
          const live = command.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
          const { stdout } = await run("sh", ["-c", live], {
            cwd: root,
            env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
          });
          t.same(JSON.parse(stdout), JSON.parse(expected ?? "null"), `${name}: ${command.slice(0, 60)}…`);
        }
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

t.test("the committed generated code is what `npm run generate` makes", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "readme-regenerate-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const inputs: [string, string, string][] = [
    ["examples/eliza/proto", "examples/eliza", "gen/connectrpc/eliza/v1/eliza_pb.ts"],
    ["test/proto", "test", "gen/fcr/test/v1/test_pb.ts"],
    ["test/proto", "test", "gen/fcr/test/v1/reflected_pb.ts"],
    ["lib/services/proto", "lib/services", "gen/grpc/health/v1/health_pb.ts"],
    ["lib/services/proto", "lib/services", "gen/grpc/reflection/v1/reflection_pb.ts"],
    ["lib/services/proto", "lib/services", "gen/grpc/reflection/v1alpha/reflection_pb.ts"],
    ["../shared/conformance/proto", "conformance", "gen/connectrpc/conformance/v1/service_pb.ts"],
  ];
  for (const [input, out, file] of inputs) {
    const target = join(dir, out);
    await run(join(bin, "buf"), ["generate", input, "-o", target], { cwd: root });
    t.equal(
      await readFile(join(target, file), "utf8"),
      await readFile(join(root, out, file), "utf8"),
      `${out}/${file} is current`,
    );
  }
});
