// Testing a service without a port: Fastify's app.inject speaks Connect
// JSON to the plugin's routes (the README's "Testing your service").
import Fastify from "fastify";
import t from "tap";
import { ElizaService } from "../../examples/quickstart/gen/connectrpc/eliza/v1/eliza_pb.js";
import { Code, ConnectError, fastifyConnectRpc } from "../../lib/index.js";

async function buildApp() {
  const app = Fastify();
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(ElizaService, {
        async say(req) {
          if (req.sentence === "") throw new ConnectError("say something", Code.InvalidArgument);
          return { sentence: `You said: ${req.sentence}` };
        },
      });
    },
  });
  return app;
}

t.test("app.inject calls a unary method with Connect JSON, and sees its errors", async (t) => {
  const app = await buildApp();
  t.teardown(() => app.close());
  // #region inject
  const res = await app.inject({
    method: "POST",
    url: "/connectrpc.eliza.v1.ElizaService/Say",
    headers: { "content-type": "application/json" },
    payload: { sentence: "hi" },
  });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { sentence: "You said: hi" });

  const bad = await app.inject({
    method: "POST",
    url: "/connectrpc.eliza.v1.ElizaService/Say",
    headers: { "content-type": "application/json" },
    payload: { sentence: "" },
  });
  t.equal(bad.statusCode, 400); // invalid_argument's HTTP status
  t.same(bad.json(), { code: "invalid_argument", message: "say something" });
  // #endregion inject
});

t.test("app.inject reaches a method left out with unimplemented", async (t) => {
  const app = await buildApp();
  t.teardown(() => app.close());
  const res = await app.inject({
    method: "POST",
    url: "/connectrpc.eliza.v1.ElizaService/Converse",
    headers: { "content-type": "application/connect+json" },
    payload: "",
  });
  t.equal(res.statusCode, 200, "a Connect streaming response");
  t.match(res.rawPayload.subarray(5).toString("utf8"), /"code":"unimplemented"/, "ends with unimplemented");
});
