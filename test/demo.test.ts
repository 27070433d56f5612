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
