// Type tests of the client API: compiled by `npm test` (tsc --noEmit), never run.
// Every `@ts-expect-error` line must fail to compile; if it ever compiles, tsc
// reports the directive as unused and the test fails.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "fastify-connectrpc";
import {
  type CallOptions,
  type Client,
  type ClientInterceptor,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "fastify-connectrpc/client";
import {
  ElizaService,
  type IntroduceClientResponse,
  SayRequestSchema,
  type SayResponse,
} from "../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";

const addHeader: ClientInterceptor = (next) => async (req) => {
  req.header.set("x-user", "a");
  const res = await next(req);
  void res.header.get("x-server");
  return res;
};

const transport = createGrpcTransport({ baseUrl: "http://127.0.0.1:8080", interceptors: [addHeader] });
createConnectTransport({ baseUrl: "http://127.0.0.1:8080", httpVersion: "1.1", useHttpGet: true });
createGrpcWebTransport({ baseUrl: "https://example.com", tls: { ca: "..." }, sendCompression: "gzip" });
// @ts-expect-error httpVersion is "1.1" or "2"
createConnectTransport({ baseUrl: "http://127.0.0.1:8080", httpVersion: "3" });
// @ts-expect-error useHttpGet is a Connect option
createGrpcTransport({ baseUrl: "http://127.0.0.1:8080", useHttpGet: true });

const eliza: Client<typeof ElizaService> = createClient(ElizaService, transport);
const signal = new AbortController().signal;

// Unary: an init object or a message in, the response message out.
const said: SayResponse = await eliza.say({ sentence: "hi" }, { headers: { "x-user": "a" }, timeoutMs: 2000, signal });
await eliza.say(create(SayRequestSchema, { sentence: "hi" }));
void said.sentence;
// @ts-expect-error unknown request field
await eliza.say({ sentense: "hi" });
// @ts-expect-error the response has no such field
void said.sentense;
// @ts-expect-error no such method
void eliza.shout;

// Server streaming: an async iterable of responses.
for await (const r of eliza.introduceServer({ name: "Ada" })) {
  const s: string = r.sentence;
  void s;
}
// @ts-expect-error a server-streaming call is not a promise of one response
const notOne: SayResponse = await eliza.introduceServer({ name: "Ada" });
void notOne;

// Client streaming: an (async) iterable of requests in, one response out.
async function* sentences() {
  yield { sentence: "I write code." };
}
const summary: IntroduceClientResponse = await eliza.introduceClient(sentences());
await eliza.introduceClient([{ sentence: "a" }, { sentence: "b" }]);
void summary;
// @ts-expect-error client streaming takes an iterable of requests, not one
await eliza.introduceClient({ sentence: "a" });

// Bidi streaming.
for await (const r of eliza.converse(sentences())) void r.sentence;

// Call options: callbacks, and a handler's context for deadline propagation.
const options: CallOptions = {
  onHeader: (h: Headers) => void h.get("x"),
  onTrailer: (t: Headers) => void t.get("x"),
};
await eliza.say({ sentence: "hi" }, options);
declare const ctx: HandlerContext;
await eliza.say({ sentence: "hi" }, { context: ctx });
// @ts-expect-error timeoutMs is a number
await eliza.say({ sentence: "hi" }, { timeoutMs: "1s" });

try {
  await eliza.say({ sentence: "hi" });
} catch (e) {
  if (e instanceof ConnectError) void [e.code, e.rawMessage, e.metadata.get("x"), e.details];
}
