// The optional peer dependencies are really optional: the main entry points
// never import @opentelemetry/api or @bufbuild/protovalidate, and an app where
// neither can be resolved still imports the library and serves calls.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";

const root = fileURLToPath(new URL("..", import.meta.url));
const OPTIONAL = /^(@opentelemetry\/|@bufbuild\/protovalidate)/;

/** Every module specifier a source file imports or re-exports (type-only imports left out: they vanish). */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)"/gms)) out.push(m[1]);
  for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) out.push(m[1]);
  return out;
}

/** The packages reachable from an entry file through its relative imports (sources: `.js` names `.ts` files). */
async function reachablePackages(entry: string): Promise<Set<string>> {
  const source = entry.endsWith(".ts");
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of await importsOf(file)) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec);
        queue.push(source ? target.replace(/\.js$/, ".ts") : target);
      } else packages.add(spec);
    }
  }
  return packages;
}

t.test("the main and client entries reach no optional peer", async (t) => {
  for (const entry of ["lib/index.ts", "lib/client/index.ts"]) {
    const packages = await reachablePackages(join(root, entry));
    t.ok(packages.has("@bufbuild/protobuf"), `${entry}: the walk follows imports (it finds @bufbuild/protobuf)`);
    t.same(
      [...packages].filter((p) => OPTIONAL.test(p)),
      [],
      `${entry}: imports no optional peer`,
    );
  }
  t.ok(
    [...(await reachablePackages(join(root, "lib/otel/index.ts")))].some((p) => p === "@opentelemetry/api"),
    "the otel entry does",
  );
});

t.test("the built main and client entries reach no optional peer", async (t) => {
  // npm test builds first (npm run build, when running this file alone).
  const built = await readFile(join(root, "dist/index.js"), "utf8").then(
    () => true,
    () => false,
  );
  t.ok(built, "dist/index.js exists");
  if (!built) return;
  for (const entry of ["dist/index.js", "dist/client/index.js"]) {
    const packages = await reachablePackages(join(root, entry));
    t.ok(packages.has("@bufbuild/protobuf"), `${entry}: the walk follows imports`);
    t.same(
      [...packages].filter((p) => OPTIONAL.test(p)),
      [],
      `${entry}: imports no optional peer`,
    );
  }
});

// A child process where the optional peers cannot be resolved, as in an app
// that did not install them: it imports the main entry, serves and calls.
const blockHook = `
export async function resolve(specifier, context, next) {
  if (${OPTIONAL}.test(specifier)) {
    const e = new Error("Cannot find package '" + specifier + "' (blocked by the test)");
    e.code = "ERR_MODULE_NOT_FOUND";
    throw e;
  }
  return next(specifier, context);
}`;
const register = `import { register } from "node:module"; register("data:text/javascript,${encodeURIComponent(blockHook)}");`;
const app = `
import Fastify from "fastify";
import { fastifyConnectRpc, createClient, createConnectTransport } from "./lib/index.ts";
import { TestService } from "./test/gen/fcr/test/v1/test_pb.ts";
let blocked = "not blocked";
try { await import("@opentelemetry/api"); } catch (e) { blocked = e.code; }
const app = Fastify();
await app.register(fastifyConnectRpc, { routes(r) { r.service(TestService, { unary: (req) => ({ text: req.text }) }); } });
await app.listen({ host: "127.0.0.1", port: 0 });
const transport = createConnectTransport({ baseUrl: "http://127.0.0.1:" + app.server.address().port });
const res = await createClient(TestService, transport).unary({ text: "served" });
transport.close();
await app.close();
console.log(JSON.stringify({ blocked, text: res.text }));
`;

t.test("an app without the optional peers imports the library and serves", async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      "--import",
      "tsx",
      "--import",
      `data:text/javascript,${encodeURIComponent(register)}`,
      "--input-type=module",
      "-e",
      app,
    ],
    { cwd: root },
  );
  t.same(JSON.parse(stdout.trim().split("\n").pop() as string), { blocked: "ERR_MODULE_NOT_FOUND", text: "served" });
});
