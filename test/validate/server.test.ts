// validateInterceptor on the server: a request that breaks its buf.validate
// rules fails with invalid_argument and a buf.validate.Violations detail
// before the handler runs (each message of a stream as it arrives), over
// Connect, gRPC and gRPC-Web, decoded by connect-node's client and by ours.

import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { createClient as createPeerClient, Code as PeerCode, ConnectError as PeerError } from "@connectrpc/connect";
import {
  createConnectTransport as peerConnect,
  createGrpcTransport as peerGrpc,
  createGrpcWebTransport as peerGrpcWeb,
} from "@connectrpc/connect-node";
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

async function serve(t: Test, options?: Parameters<typeof validateInterceptor>[0]) {
  const { impl, record } = validatedServiceImpl();
  const app = Fastify({ http2: true });
  await app.register(fastifyConnectRpc, {
    interceptors: [validateInterceptor(options)],
    routes: (router) => router.service(ValidatedService, impl),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { baseUrl: `http://127.0.0.1:${port}`, record };
}

/** A call's error as code, violations (rule id and field path) and message, whichever client threw it. */
function outcome(e: unknown) {
  if (!(e instanceof PeerError || e instanceof ConnectError)) throw e;
  const [violations] = e.findDetails(ViolationsSchema);
  return {
    code: e.code as number,
    rules: violations?.violations.map((v) => `${v.field?.elements.map((f) => f.fieldName).join(".")}: ${v.ruleId}`),
    message: e.rawMessage,
  };
}

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return outcome(e);
  }
  throw new Error("expected the call to fail");
}

async function* gen<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const m of it) out.push(m);
  return out;
}

const clients = [
  {
    name: "connect-node Connect",
    make: (u: string) => createPeerClient(ValidatedService, peerConnect({ baseUrl: u, httpVersion: "2" })),
  },
  { name: "connect-node gRPC", make: (u: string) => createPeerClient(ValidatedService, peerGrpc({ baseUrl: u })) },
  {
    name: "connect-node gRPC-Web",
    make: (u: string) => createPeerClient(ValidatedService, peerGrpcWeb({ baseUrl: u, httpVersion: "2" })),
  },
  {
    name: "our Connect",
    make: (u: string) => createClient(ValidatedService, createConnectTransport({ baseUrl: u, httpVersion: "2" })),
  },
  { name: "our gRPC", make: (u: string) => createClient(ValidatedService, createGrpcTransport({ baseUrl: u })) },
  {
    name: "our gRPC-Web",
    make: (u: string) => createClient(ValidatedService, createGrpcWebTransport({ baseUrl: u, httpVersion: "2" })),
  },
];

const tooShort = { code: Code.InvalidArgument, rules: ["name: string.min_len"] };

for (const c of clients) {
  t.test(`${c.name}: every call kind`, async (t) => {
    const { baseUrl, record } = await serve(t);
    const client = c.make(baseUrl) as ReturnType<typeof createClient<typeof ValidatedService>>;

    t.equal((await client.unary({ name: "ok" })).text, "ok", "unary: a valid request is served");
    t.same((await drain(client.serverStream({ name: "ok", count: 2 }))).length, 2, "server stream: valid");
    t.equal((await client.clientStream(gen([{ name: "a" }, { name: "b" }]))).text, "a,b", "client stream: valid");
    t.same(
      (await drain(client.bidi(gen([{ name: "a" }, { name: "b" }])))).map((r) => r.text),
      ["a", "b"],
      "bidi: valid",
    );
    const served = record.calls;

    t.match(await failure(client.unary({ name: "" })), tooShort, "unary: invalid_argument with the violation");
    t.match(await failure(drain(client.serverStream({ name: "ok", count: 9 }))), {
      code: Code.InvalidArgument,
      rules: ["count: int32.gte_lte"],
    });
    t.equal(record.calls, served, "the handlers of invalid single requests never ran");

    record.seen.length = 0;
    t.match(
      await failure(client.clientStream(gen([{ name: "a" }, { name: "" }, { name: "c" }]))),
      tooShort,
      "client stream",
    );
    t.same(record.seen, ["a"], "client stream: the handler saw the valid message only");
    record.seen.length = 0;
    t.match(await failure(drain(client.bidi(gen([{ name: "a" }, { name: "far too long a name" }])))), {
      code: Code.InvalidArgument,
      rules: ["name: string.max_len"],
    });
    t.same(record.seen, ["a"], "bidi: the handler saw the valid message only");
  });
}

t.test("the error says what was wrong", async (t) => {
  const { baseUrl } = await serve(t);
  const e = await failure(createPeerClient(ValidatedService, peerGrpc({ baseUrl })).unary({ name: "" }));
  t.equal(e.code, PeerCode.InvalidArgument);
  t.match(e.message, /^invalid request: .*name.*at least 1 characters/);
});

t.test("responses are not validated unless asked", async (t) => {
  const { baseUrl } = await serve(t);
  const client = createClient(ValidatedService, createGrpcTransport({ baseUrl }));
  t.equal((await client.unary({ name: "x", reply: "empty" })).text, "", "an invalid response goes out");
});

t.test("validateResponses: an invalid response fails the call with internal and the violations", async (t) => {
  const { baseUrl } = await serve(t, { validateResponses: true });
  const client = createClient(ValidatedService, createGrpcTransport({ baseUrl }));
  const invalid = { code: Code.Internal, rules: ["text: string.min_len"] };
  t.equal((await client.unary({ name: "fine" })).text, "fine", "a valid response passes");
  t.match(await failure(client.unary({ name: "x", reply: "empty" })), invalid, "unary");
  t.match(await failure(client.clientStream(gen([]))), invalid, "client stream (an empty join)");
  const got: string[] = [];
  const e = await failure(
    (async () => {
      for await (const r of client.bidi(gen([{ name: "a" }, { name: "b", reply: "empty" }]))) got.push(r.text);
    })(),
  );
  t.match(e, invalid, "bidi: the stream fails at the invalid response");
  t.same(got, ["a"], "bidi: the valid response before it arrived");
});

t.test("bad options fail at once", async (t) => {
  t.throws(() => validateInterceptor("x" as never), /option "options" must be an object/);
  t.throws(
    () => validateInterceptor({ validateResponses: 1 as never }),
    /option "validateResponses" must be a boolean/,
  );
  t.throws(
    () => validateInterceptor({ validator: {} as never }),
    /option "validator" must be a protovalidate Validator/,
  );
});
