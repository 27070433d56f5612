// A gRPC client (or Connect with httpVersion "2") pointed at a plain
// HTTP/1.1 Fastify gets a message that says what is likely wrong, not a bare
// "Protocol error"; and the same server still answers over HTTP/1.1.
import t from "tap";
import { Code, createClient, createConnectTransport, createGrpcTransport } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { rejection } from "../helpers/client-calls.js";
import { startServer } from "../helpers/server.js";

t.test("HTTP/2 clients on a plain Fastify() are told it does not speak h2c", async (t) => {
  const s = await startServer(); // Fastify() without http2: true or onePortServerFactory
  t.teardown(s.close);
  const transports = [
    ["grpc", createGrpcTransport({ baseUrl: s.baseUrl })],
    ["connect over h2c", createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2" })],
  ] as const;
  for (const [name, transport] of transports) {
    t.teardown(() => transport.close());
    const err = await rejection(createClient(TestService, transport).unary({ text: "x" }));
    t.equal(err.code, Code.Unavailable, `${name}: unavailable`);
    t.match(
      err.rawMessage,
      `the server at ${s.baseUrl} does not speak HTTP/2 cleartext (h2c); is it a plain Fastify() without http2: true or onePortServerFactory()?`,
      `${name}: says what is likely wrong`,
    );
    t.match(err.rawMessage, /^connection failed: Protocol error/, `${name}: keeps Node's reason`);
  }
  const h1 = createConnectTransport({ baseUrl: s.baseUrl });
  t.teardown(() => h1.close());
  t.equal((await createClient(TestService, h1).unary({ text: "ok" })).text, "ok", "HTTP/1.1 still works");
});

t.test("an h2c server is not affected", async (t) => {
  const s = await startServer({ http2: true });
  t.teardown(s.close);
  const transport = createGrpcTransport({ baseUrl: s.baseUrl });
  t.teardown(() => transport.close());
  t.equal((await createClient(TestService, transport).unary({ text: "ok" })).text, "ok");
});
