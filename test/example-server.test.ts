// `npm run example:server` serves health and reflection: `buf curl` lists and calls it with no schema.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const buf = fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url));

/** Runs `npm run example:server` on an ephemeral port; resolves with the port from Fastify's log line. */
function startExampleServer(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn("npm", ["run", "--silent", "example:server", "--", "--port", "0"], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let log = "";
    child.stdout?.on("data", (d: Buffer) => {
      log += d;
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.once("exit", (code) => reject(new Error(`example server exited with ${code}: ${log}`)));
  });
}

t.test("buf curl --list-services and --list-methods work against the example server with no schema", async (t) => {
  const { port, child } = await startExampleServer();
  // npm starts the server in a child process of its own: end the whole group.
  t.teardown(() => process.kill(-(child.pid as number), "SIGTERM"));
  const url = `http://127.0.0.1:${port}`;
  const services = await run(buf, ["curl", "--http2-prior-knowledge", "--list-services", url]);
  t.same(services.stdout.trim().split("\n"), [
    "connectrpc.eliza.v1.ElizaService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
  ]);
  const methods = await run(buf, ["curl", "--http2-prior-knowledge", "--list-methods", url]);
  t.same(methods.stdout.trim().split("\n"), [
    "connectrpc.eliza.v1.ElizaService/Converse",
    "connectrpc.eliza.v1.ElizaService/IntroduceClient",
    "connectrpc.eliza.v1.ElizaService/IntroduceServer",
    "connectrpc.eliza.v1.ElizaService/Say",
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/List",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  ]);
  for (const protocol of ["grpc", "connect", "grpcweb"]) {
    const say = await run(buf, [
      "curl",
      "--http2-prior-knowledge",
      "--protocol",
      protocol,
      "-d",
      '{"sentence":"I feel happy"}',
      `${url}/connectrpc.eliza.v1.ElizaService/Say`,
    ]);
    t.match(JSON.parse(say.stdout).sentence, /happy/, `${protocol}: Say, described by reflection`);
    const health = await run(buf, [
      "curl",
      "--http2-prior-knowledge",
      "--protocol",
      protocol,
      "-d",
      '{"service":"connectrpc.eliza.v1.ElizaService"}',
      `${url}/grpc.health.v1.Health/Check`,
    ]);
    t.same(JSON.parse(health.stdout), { status: "SERVING" }, `${protocol}: Health/Check`);
  }
});
