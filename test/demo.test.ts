// `npm run demo` is the README's first command: it must run end to end and print Eliza's answers.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

t.test("npm run demo prints an answer for every call kind and protocol", async (t) => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/eliza/demo.ts"], { cwd: root });
  for (const protocol of ["connect", "grpc", "grpc-web"]) {
    const section = stdout.split(`--- ${protocol}\n`)[1]?.split("\n\n")[0] ?? "";
    t.match(section, /unary: +How long have you felt curious\?/, `${protocol} unary`);
    t.equal(section.match(/server streaming: /g)?.length, 3, `${protocol} server streaming`);
    t.match(section, /client streaming: +So you told me 2 things/, `${protocol} client streaming`);
    t.equal(section.match(/bidi: /g)?.length, 3, `${protocol} bidi`);
  }
});

t.test("the example client's flags pick the call kinds and the protocol", async (t) => {
  const { createElizaServer } = await import("../examples/eliza/server.js");
  const app = await createElizaServer({ logger: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  for (const protocol of ["connect", "grpc", "grpc-web"]) {
    const { stdout } = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "examples/eliza/client.ts",
        "--unary",
        "--bidi",
        "--protocol",
        protocol,
        "--port",
        String(port),
      ],
      { cwd: root },
    );
    t.match(stdout, /^unary: +How long have you felt curious\?$/m, `${protocol}: --unary`);
    t.equal(stdout.match(/^bidi: /gm)?.length, 3, `${protocol}: --bidi`);
    t.notMatch(stdout, /server streaming|client streaming/, `${protocol}: only the kinds asked for`);
  }
  await t.rejects(
    run(process.execPath, ["--import", "tsx", "examples/eliza/client.ts", "--protocol", "soap"], { cwd: root }),
    { code: 2 },
    "an unknown protocol exits 2",
  );
});
