// The README's protovalidate example, run: its lines are checked to be in
// this file (test/readme.test.ts, "excerpt"), and this file checks they work.
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import Fastify from "fastify";
import { Code, ConnectError, fastifyConnectRpc } from "fastify-connectrpc";
import { createClient, createConnectTransport } from "fastify-connectrpc/client";
import { validateInterceptor } from "fastify-connectrpc/validate";
import t from "tap";
import { ValidatedService } from "../gen/fcr/test/v1/validated_pb.js";
import { validatedServiceImpl } from "../helpers/validated-service.js";

const { impl, record } = validatedServiceImpl();
const app = Fastify();
await app.register(fastifyConnectRpc, {
  interceptors: [validateInterceptor()],
  routes: (router) => router.service(ValidatedService, impl),
});
const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
t.teardown(() => app.close());

t.test("the server refuses an invalid request with the violations", async (t) => {
  const transport = createConnectTransport({ baseUrl });
  t.teardown(() => transport.close());
  const client = createClient(ValidatedService, transport);
  try {
    await client.unary({ name: "" });
    t.fail("expected invalid_argument");
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    t.equal(err.code, Code.InvalidArgument);
    const [violations] = err.findDetails(ViolationsSchema);
    t.equal(violations.violations[0].ruleId, "string.min_len");
  }
  t.equal(record.calls, 0, "the handler never ran");
});

t.test("the client refuses it before sending", async (t) => {
  // The same interceptor checks requests on the client, before they are sent.
  const transport = createConnectTransport({ baseUrl, interceptors: [validateInterceptor()] });
  t.teardown(() => transport.close());
  const client = createClient(ValidatedService, transport);
  await t.rejects(client.unary({ name: "" }), { code: Code.InvalidArgument });
});
