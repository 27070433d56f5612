// Connect GET and caching: the library sets no Cache-Control of its own; a
// handler that wants GET responses cached sets it through ctx.responseHeader,
// and it arrives on the GET response for every client (connect-node, this
// library's client, curl), and only where the handler set it.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient as createEsClient } from "@connectrpc/connect";
import { createConnectTransport as createEsConnectTransport } from "@connectrpc/connect-node";
import Fastify, { type FastifyInstance } from "fastify";
import t, { type Test } from "tap";
import { ElizaService } from "../../examples/quickstart/gen/connectrpc/eliza/v1/eliza_pb.js";
import { createClient, createConnectTransport, fastifyConnectRpc } from "../../lib/index.js";

const run = promisify(execFile);

async function start(t: Test, setCacheControl: boolean): Promise<string> {
  const app: FastifyInstance = Fastify();
  t.teardown(() => app.close());
  await app.register(fastifyConnectRpc, {
    routes(router) {
      if (!setCacheControl) {
        router.service(ElizaService, { say: async (req) => ({ sentence: `You said: ${req.sentence}` }) });
        return;
      }
      // #region cache-control
      router.service(ElizaService, {
        async say(req, ctx) {
          // Say is NO_SIDE_EFFECTS, so Connect clients may call it with GET; let caches keep those answers.
          if (ctx.requestMethod === "GET") ctx.responseHeader.set("cache-control", "public, max-age=60");
          return { sentence: `You said: ${req.sentence}` };
        },
      });
      // #endregion cache-control
    },
  });
  return app.listen({ host: "127.0.0.1", port: 0 });
}

const getUrl = (baseUrl: string) =>
  `${baseUrl}/connectrpc.eliza.v1.ElizaService/Say?encoding=json&message=${encodeURIComponent('{"sentence":"hi"}')}`;

t.test("a handler's Cache-Control arrives on GET responses, and only there", async (t) => {
  const baseUrl = await start(t, true);
  const curl = await run("curl", ["-s", "-i", getUrl(baseUrl)]);
  t.match(curl.stdout, /^HTTP\/1\.1 200/, "curl GET: 200");
  t.match(curl.stdout, /\r\ncache-control: public, max-age=60\r\n/i, "curl GET: the handler's Cache-Control");

  let esHeader: Headers | undefined;
  const es = createEsClient(ElizaService, createEsConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true }));
  await es.say({ sentence: "hi" }, { onHeader: (h) => (esHeader = h) });
  t.equal(esHeader?.get("cache-control"), "public, max-age=60", "connect-node with useHttpGet");

  const transport = createConnectTransport({ baseUrl, useHttpGet: true });
  t.teardown(() => transport.close());
  let ourHeader: Headers | undefined;
  await createClient(ElizaService, transport).say({ sentence: "hi" }, { onHeader: (h) => (ourHeader = h) });
  t.equal(ourHeader?.get("cache-control"), "public, max-age=60", "this library's client with useHttpGet");

  const post = await run("curl", [
    "-s",
    "-i",
    "-H",
    "content-type: application/json",
    "-d",
    '{"sentence":"hi"}',
    `${baseUrl}/connectrpc.eliza.v1.ElizaService/Say`,
  ]);
  t.match(post.stdout, /^HTTP\/1\.1 200/, "POST: 200");
  t.notMatch(post.stdout, /cache-control/i, "POST: no Cache-Control");
});

t.test("the library sets no Cache-Control of its own on GET responses", async (t) => {
  const baseUrl = await start(t, false);
  const curl = await run("curl", ["-s", "-i", getUrl(baseUrl)]);
  t.match(curl.stdout, /^HTTP\/1\.1 200/);
  t.notMatch(curl.stdout, /cache-control/i, "no Cache-Control unless the handler sets one");
});
