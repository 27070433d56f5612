// The example server's --otel-console flag prints a span for every call.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import t from "tap";
import { ElizaService } from "../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";
import { createClient, createGrpcTransport } from "../../lib/client/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

t.test("examples/eliza/server.ts --otel-console prints the SERVER span of a call", async (t) => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "examples/eliza/server.ts", "--port", "0", "--otel-console"],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  t.teardown(() => {
    child.kill();
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d;
  });
  /** Waits until the output so far matches. */
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 400; i++) {
      const m = re.exec(out);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in the output: ${out}`);
  };
  const [, port] = await waitFor(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/);
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  t.teardown(() => transport.close());
  await createClient(ElizaService, transport).say({ sentence: "hi" });
  await waitFor(/name: 'connectrpc\.eliza\.v1\.ElizaService\/Say'/);
  t.match(out, /kind: 1/, "a SERVER span");
  t.match(out, /'rpc\.system': 'grpc'/, "with the RPC attributes");
});
