import * as https from "node:https";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { createGrpcJsClient, grpcServerStream, grpcUnary } from "../helpers/grpc-js-client.js";
import { startServer } from "../helpers/server.js";
import { selfSigned } from "../helpers/tls.js";

t.test("TLS with ALPN: gRPC over h2, Connect and gRPC-Web over HTTP/1.1, one port", async (t) => {
  const { key, cert } = selfSigned();
  const seen: string[] = [];
  const s = await startServer({
    http2: true,
    fastify: { https: { allowHTTP1: true, key, cert } } as never,
    setup(app) {
      app.addHook("onRequest", async (req) => {
        seen.push(`${req.raw.httpVersion} ${req.headers["content-type"]}`);
      });
    },
  });
  t.teardown(s.close);
  const baseUrl = `https://127.0.0.1:${s.port}`;

  t.test("grpc-js over h2 with createSsl(ca)", async (t) => {
    // Connect to 127.0.0.1 but name the server "localhost" in SNI: an IP
    // address as SNI server name is not allowed (RFC 6066, 3).
    const client = createGrpcJsClient(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(cert), {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.default_authority": "localhost",
    });
    t.teardown(() => client.close());
    const r = await grpcUnary(client, { text: "secure" });
    t.equal(r.status.code, grpc.status.OK, r.status.details);
    t.equal(r.messages[0]?.text, "secure");
    const stream = await grpcServerStream(client, { text: "s", count: 3 });
    t.same(
      stream.messages.map((m) => m.index),
      [0, 1, 2],
    );
    const err = await grpcUnary(client, { text: "error:not_found:tls" });
    t.equal(err.status.code, grpc.status.NOT_FOUND);
    t.ok(seen.includes("2.0 application/grpc"), "the gRPC calls arrived over HTTP/2");
  });

  t.test("connect-node gRPC transport over h2", async (t) => {
    const sessionManager = new Http2SessionManager(baseUrl, undefined, { ca: cert });
    t.teardown(() => sessionManager.abort());
    const client = createClient(TestService, createGrpcTransport({ baseUrl, sessionManager }));
    const r = await client.unary({ text: "grpc h2 tls" });
    t.equal(r.text, "grpc h2 tls");
  });

  t.test("Connect over HTTP/1.1, chosen by ALPN", async (t) => {
    const client = createClient(
      TestService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: cert } }),
    );
    const r = await client.unary({ text: "connect h1 tls" });
    t.equal(r.text, "connect h1 tls");
    const stream: number[] = [];
    for await (const m of client.serverStream({ text: "s", count: 2 })) stream.push(m.index);
    t.same(stream, [0, 1]);
    t.ok(seen.includes("1.1 application/proto"), "the Connect call arrived over HTTP/1.1");
  });

  t.test("gRPC-Web over HTTP/1.1", async (t) => {
    const client = createClient(
      TestService,
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: cert } }),
    );
    const r = await client.unary({ text: "grpc-web h1 tls" });
    t.equal(r.text, "grpc-web h1 tls");
    const indexes: number[] = [];
    for await (const m of client.serverStream({ text: "s", count: 2 })) indexes.push(m.index);
    t.same(indexes, [0, 1]);
    t.ok(
      seen.some((v) => v.startsWith("1.1 application/grpc-web")),
      "the gRPC-Web calls arrived over HTTP/1.1",
    );
  });

  t.test("gRPC over HTTP/1.1 on the TLS port is HTTP 505", async (t) => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port: s.port,
          method: "POST",
          path: "/fcr.test.v1.TestService/Unary",
          headers: { "content-type": "application/grpc" },
          ca: cert,
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    t.equal(status, 505);
  });
});
