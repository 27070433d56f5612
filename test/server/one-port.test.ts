// onePortServerFactory: HTTP/1.1 and h2c (prior knowledge) on one cleartext
// port, told apart by the HTTP/2 connection preface. Connect over both, gRPC
// over h2c, and an app's REST route, all on the same port; close is prompt.

import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import Fastify from "fastify";
import t from "tap";
import { fastifyConnectRpc, onePortServerFactory } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { createGrpcJsClient, grpcBidi, grpcUnary } from "../helpers/grpc-js-client.js";
import { echoBytes, envelope, h1, h2, parseEnvelopes, SERVICE } from "../helpers/raw-http.js";
import { testServiceImpl } from "../helpers/test-service.js";

async function onePortApp() {
  const app = Fastify({ serverFactory: onePortServerFactory() });
  const versions: string[] = [];
  app.addHook("onRequest", async (req) => {
    versions.push(`${req.raw.httpVersion} ${req.headers["content-type"] ?? "-"} ${req.url}`);
  });
  app.get("/health", async () => ({ ok: true }));
  await app.register(fastifyConnectRpc, {
    routes(router) {
      router.service(TestService, testServiceImpl);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, versions };
}

t.test("one port serves HTTP/1.1 Connect, h2c gRPC, h2c Connect and REST", async (t) => {
  const { app, port, baseUrl, versions } = await onePortApp();
  let closed = false;
  t.teardown(() => (closed ? undefined : app.close()));

  const h1Client = createClient(TestService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  const r1 = await h1Client.unary({ text: "over http/1.1" });
  t.equal(r1.text, "over http/1.1", "Connect over HTTP/1.1");

  const sessionManager = new Http2SessionManager(baseUrl);
  t.teardown(() => sessionManager.abort());
  const h2Client = createClient(TestService, createConnectTransport({ baseUrl, httpVersion: "2", sessionManager }));
  const r2 = await h2Client.unary({ text: "over h2c" });
  t.equal(r2.text, "over h2c", "Connect over h2c");

  const grpcClient = createGrpcJsClient(`127.0.0.1:${port}`);
  t.teardown(() => grpcClient.close());
  const r3 = await grpcUnary(grpcClient, { text: "grpc over h2c" });
  t.equal(r3.status.code, grpc.status.OK);
  t.equal(r3.messages[0]?.text, "grpc over h2c", "gRPC over h2c");
  const bidi = await grpcBidi(grpcClient, [{ text: "a" }, { text: "b" }]);
  t.same(
    bidi.messages.map((m) => m.text),
    ["a", "b"],
    "gRPC bidi over h2c",
  );

  const health = await fetch(`${baseUrl}/health`);
  t.equal(health.status, 200);
  t.same(await health.json(), { ok: true }, "REST GET on the same port");

  const rawH2 = await h2(port, {
    path: `${SERVICE}/Unary`,
    headers: { "content-type": "application/grpc", te: "trailers" },
    body: envelope(0, echoBytes({ text: "raw" })),
  });
  t.equal(rawH2.trailers?.["grpc-status"], "0", "raw h2c gRPC gets its trailers");
  t.equal(parseEnvelopes(rawH2.body).length, 1);

  const rawH1 = await h1(port, { method: "GET", path: "/health" });
  t.equal(rawH1.status, 200, "raw HTTP/1.1 GET");

  t.ok(
    versions.some((v) => v.startsWith("1.1 application/proto")),
    "a Connect request arrived over HTTP/1.1",
  );
  t.ok(
    versions.some((v) => v.startsWith("2.0 application/proto")),
    "a Connect request arrived over HTTP/2",
  );
  t.ok(
    versions.some((v) => v.startsWith("2.0 application/grpc")),
    "a gRPC request arrived over HTTP/2",
  );

  // Clients still hold an HTTP/1.1 keep-alive connection, an h2c session from
  // connect-node and one from grpc-js: close must not wait for them.
  const started = Date.now();
  await app.close();
  closed = true;
  t.ok(Date.now() - started < 1000, `app.close() took ${Date.now() - started} ms`);
});

t.test("app.close() waits for an in-flight h2c call, then finishes promptly", async (t) => {
  const { app, port } = await onePortApp();
  let closed = false;
  t.teardown(() => (closed ? undefined : app.close()));
  const client = createGrpcJsClient(`127.0.0.1:${port}`);
  t.teardown(() => client.close());
  const call = grpcUnary(client, { text: "slow", delayMs: 200 });
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await app.close();
  closed = true;
  const r = await call;
  t.equal(r.status.code, grpc.status.OK, "the call in flight completed");
  t.ok(Date.now() - started < 1500, `app.close() took ${Date.now() - started} ms`);
});
