// The README's production example (examples/production/server.ts) runs as
// shown: TLS with h2 and HTTP/1.1 on one port (a gRPC call, and curl over
// HTTP/1.1), and SIGTERM closes the app and exits 0.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { ElizaService } from "../examples/quickstart/gen/connectrpc/eliza/v1/eliza_pb.js";
import { createClient, createGrpcTransport } from "../lib/index.js";
import { selfSigned } from "./helpers/tls.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

t.test("TLS with h2 and HTTP/1.1, and SIGTERM wired to app.close()", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fcr-production-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { key, cert } = selfSigned();
  await writeFile(join(dir, "key.pem"), key);
  await writeFile(join(dir, "cert.pem"), cert);
  const child = spawn(process.execPath, ["--import", "tsx", "examples/production/server.ts"], {
    cwd: root,
    env: {
      ...process.env,
      TLS_KEY: join(dir, "key.pem"),
      TLS_CERT: join(dir, "cert.pem"),
      PORT: "0",
      HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let log = "";
  child.stdout.on("data", (d: Buffer) => {
    log += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on("data", () => {
      const m = /Server listening at https:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`the example exited with ${code}: ${log}`)));
  });
  const baseUrl = `https://127.0.0.1:${port}`;

  const transport = createGrpcTransport({ baseUrl, tls: { ca: cert } });
  t.teardown(() => transport.close());
  const res = await createClient(ElizaService, transport).say({ sentence: "hi" });
  t.equal(res.sentence, "You said: hi", "gRPC over h2 with TLS");

  const curl = await run("curl", [
    "-s",
    "--http1.1",
    "--cacert",
    join(dir, "cert.pem"),
    "-H",
    "content-type: application/json",
    "-d",
    '{"sentence":"hi"}',
    `${baseUrl}/connectrpc.eliza.v1.ElizaService/Say`,
  ]);
  t.same(JSON.parse(curl.stdout), { sentence: "You said: hi" }, "Connect JSON over HTTP/1.1 with TLS");

  transport.close();
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  t.equal(code, 0, "SIGTERM: the process closes the app and exits 0");
  t.match(log, /"msg":"SIGTERM: closing"/, "through the SIGTERM handler");
});
