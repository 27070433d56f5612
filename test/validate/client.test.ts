// validateInterceptor on the client: the same interceptor checks requests
// before they are sent (each message of a stream before it goes out) and,
// when asked, responses as they arrive, over Connect, gRPC and gRPC-Web.
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import Fastify from "fastify";
import t, { type Test } from "tap";
import {
  Code,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  fastifyConnectRpc,
} from "../../lib/index.js";
import { validateInterceptor } from "../../lib/validate/index.js";
import { ValidatedService } from "../gen/fcr/test/v1/validated_pb.js";
import { validatedServiceImpl } from "../helpers/validated-service.js";

/** A server without validation, counting the HTTP requests that reach it. */
async function serve(t: Test) {
  const { impl, record } = validatedServiceImpl();
  const app = Fastify({ http2: true });
  const http = { requests: 0 };
  app.addHook("onRequest", async () => {
    http.requests++;
  });
  await app.register(fastifyConnectRpc, { routes: (router) => router.service(ValidatedService, impl) });
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { baseUrl: `http://127.0.0.1:${port}`, record, http };
}

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    const [violations] = e.findDetails(ViolationsSchema);
    return { code: e.code, rules: violations?.violations.map((v) => v.ruleId) };
  }
  throw new Error("expected the call to fail");
}

async function* slowly<T>(items: T[]): AsyncIterable<T> {
  for (const item of items) {
    yield item;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const transports = [
  { name: "Connect", make: createConnectTransport },
  { name: "gRPC", make: createGrpcTransport },
  { name: "gRPC-Web", make: createGrpcWebTransport },
] as const;

for (const p of transports) {
  t.test(`${p.name}: invalid requests are refused before they are sent`, async (t) => {
    const { baseUrl, record, http } = await serve(t);
    const transport = p.make({ baseUrl, httpVersion: "2", interceptors: [validateInterceptor()] });
    t.teardown(() => transport.close());
    const client = createClient(ValidatedService, transport);
    t.equal((await client.unary({ name: "ok" })).text, "ok", "a valid request goes out");
    const sent = http.requests;
    t.same(await failure(client.unary({ name: "" })), { code: Code.InvalidArgument, rules: ["string.min_len"] });
    t.same(await failure(client.serverStream({ name: "ok", count: 6 })[Symbol.asyncIterator]().next()), {
      code: Code.InvalidArgument,
      rules: ["int32.gte_lte"],
    });
    t.equal(http.requests, sent, "no request reached the server");
    record.seen.length = 0;
    t.same(await failure(client.clientStream(slowly([{ name: "a" }, { name: "" }]))), {
      code: Code.InvalidArgument,
      rules: ["string.min_len"],
    });
    t.notOk(record.seen.includes(""), "the invalid message of a stream was never sent");
  });

  t.test(`${p.name}: validateResponses checks what the server sends`, async (t) => {
    const { baseUrl } = await serve(t);
    const transport = p.make({
      baseUrl,
      httpVersion: "2",
      interceptors: [validateInterceptor({ validateResponses: true })],
    });
    t.teardown(() => transport.close());
    const client = createClient(ValidatedService, transport);
    t.equal((await client.unary({ name: "ok" })).text, "ok");
    t.same(await failure(client.unary({ name: "x", reply: "empty" })), {
      code: Code.Internal,
      rules: ["string.min_len"],
    });
    const got: string[] = [];
    const e = await failure(
      (async () => {
        for await (const r of client.bidi([{ name: "a" }, { name: "b", reply: "empty" }])) got.push(r.text);
      })(),
    );
    t.same(e, { code: Code.Internal, rules: ["string.min_len"] }, "the stream fails at the invalid response");
    t.same(got, ["a"]);
  });
}
