// The README's "Testing your service": tap tests that call the service through app.inject(), with no port.
// Run it alone with `npx tap examples/quickstart/eliza.test.ts`.
// #region testing
import Fastify from "fastify";
import { Code, createInjectTransport, fastifyConnectRpc } from "fastify-connectrpc";
import { createClient } from "fastify-connectrpc/client";
import t from "tap";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

// Your app, built the same way for production and for tests.
async function buildApp() {
  const app = Fastify();
  // An auth hook: RPC routes go through it like any other route.
  app.addHook("onRequest", async (request, reply) => {
    if (request.headers.authorization !== "Bearer test-token") {
      await reply.code(401).send({ error: "unauthorized" }); // clients see `unauthenticated`
      return reply;
    }
  });
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(ElizaService, {
        say: (req) => ({ sentence: `You said: ${req.sentence}` }),
        async *introduceServer(req) {
          yield { sentence: `Hi ${req.name}.` };
          yield { sentence: "I'm Eliza." };
        },
      });
    },
  });
  return app;
}

t.test("Eliza answers over Connect and gRPC-Web, without a port", async (t) => {
  const app = await buildApp();
  t.teardown(() => app.close());
  const headers = { authorization: "Bearer test-token" };
  for (const transport of [createInjectTransport(app), createInjectTransport(app, { protocol: "grpc-web" })]) {
    const eliza = createClient(ElizaService, transport);
    t.equal((await eliza.say({ sentence: "hi" }, { headers })).sentence, "You said: hi");
    const intro: string[] = [];
    for await (const res of eliza.introduceServer({ name: "Ada" }, { headers })) intro.push(res.sentence);
    t.same(intro, ["Hi Ada.", "I'm Eliza."]);
  }
  t.equal(app.server.listening, false, "no port was opened");
});

t.test("the auth hook turns away a caller without a token", async (t) => {
  const app = await buildApp();
  t.teardown(() => app.close());
  const eliza = createClient(ElizaService, createInjectTransport(app));
  await t.rejects(eliza.say({ sentence: "hi" }), { code: Code.Unauthenticated });
});
// #endregion testing
