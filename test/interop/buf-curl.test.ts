// connect-go, as shipped inside `buf curl`, calls our server over all three protocols.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { onePortServerFactory } from "../../lib/index.js";
import { startServer } from "../helpers/server.js";

const run = promisify(execFile);
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const schema = fileURLToPath(new URL("../proto", import.meta.url));

async function bufCurl(protocol: string, url: string, body: object, extra: string[] = []) {
  try {
    const { stdout } = await run(buf, [
      "curl",
      "--protocol",
      protocol,
      "--http2-prior-knowledge",
      "--schema",
      schema,
      "-d",
      JSON.stringify(body),
      ...extra,
      url,
    ]);
    return { ok: true, out: stdout };
  } catch (e) {
    const err = e as { stdout: string; stderr: string };
    return { ok: false, out: err.stdout + err.stderr };
  }
}

t.test("buf curl (connect-go) over connect, grpc and grpcweb", async (t) => {
  const s = await startServer({ fastify: { serverFactory: onePortServerFactory() } });
  t.teardown(s.close);
  const base = `${s.baseUrl}/fcr.test.v1.TestService`;
  for (const protocol of ["connect", "grpc", "grpcweb"]) {
    const unary = await bufCurl(protocol, `${base}/Unary`, { text: "hi" });
    t.ok(unary.ok, `${protocol} unary succeeds`);
    t.same(JSON.parse(unary.out), { text: "hi" }, `${protocol} unary reply`);

    const stream = await bufCurl(protocol, `${base}/ServerStream`, { text: "s", count: 3 });
    t.ok(stream.ok, `${protocol} server stream succeeds`);
    const indexes = stream.out.match(/"index": \d+/g) ?? [];
    t.same(indexes, ['"index": 1', '"index": 2'], `${protocol} server stream replies (index 0 is the default)`);

    const failed = await bufCurl(protocol, `${base}/Unary`, { text: "error:not_found:nope" });
    t.notOk(failed.ok, `${protocol} error fails the call`);
    t.match(failed.out, /"code": "not_found"/, `${protocol} error code`);
    t.match(failed.out, /"message": "nope"/, `${protocol} error message`);
    t.match(failed.out, /"type": "fcr.test.v1.ErrorInfo"/, `${protocol} error detail`);
  }
});
