// The drain on app.close(), as a proxy in front of a fleet needs it: the port stops listening first,
// requests still arriving on open connections are served (not Fastify's return503OnClosing 503),
// HTTP/1.1 ones with Connection: close, and HTTP/2 peers get a GOAWAY that refuses no stream
// (RFC 9113, 6.8) before the final one. test/proxy/nginx-fleet.test.ts restarts a fleet behind nginx.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import Fastify from "fastify";
import t from "tap";
import { type ConnectRouter, fastifyConnectRpc, onePortServerFactory } from "../../lib/index.js";
import { EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { echoBytes, h1, SERVICE } from "../helpers/raw-http.js";
import { startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the error code of a new TCP connection, or "connected". */
function connectResult(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

for (const factory of ["node:http", "onePortServerFactory"] as const) {
  t.test(
    `${factory}: during the drain the port is closed and an open keep-alive connection is still served`,
    async (t) => {
      const app =
        factory === "node:http"
          ? Fastify()
          : (Fastify({ serverFactory: onePortServerFactory() }) as unknown as ReturnType<typeof Fastify>);
      await app.register(fastifyConnectRpc, {
        shutdownGraceMs: 3000,
        routes(router: ConnectRouter) {
          router.service(TestService, testServiceImpl);
        },
      });
      await app.listen({ host: "127.0.0.1", port: 0 });
      const port = (app.server.address() as net.AddressInfo).port;
      t.teardown(() => app.close().catch(() => {}));
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      t.teardown(() => agent.destroy());
      const unary = (text: string, delayMs = 0) =>
        h1(port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text, delayMs }), agent });

      // Two pooled connections: one holds a slow call through the drain, the other is idle in the pool.
      await Promise.all([unary("warm a"), unary("warm b")]);
      const slow = unary("slow", 400);
      await sleep(50);
      const closing = app.close();
      await sleep(50);

      t.equal(
        await connectResult(port),
        "ECONNREFUSED",
        "a new connection is refused: the port stopped listening first",
      );
      const during = await unary("during the drain");
      t.equal(during.status, 200, "a request on the idle pooled connection is served, not answered 503");
      t.equal(fromBinary(EchoResponseSchema, during.body).text, "during the drain");
      t.equal(during.headers.connection, "close", "with Connection: close, so the client sends no more on it");
      const slowRes = await slow;
      t.equal(slowRes.status, 200, "the call in flight finished");
      t.equal(slowRes.headers.connection, "keep-alive", "its headers went out before the drain");
      await closing;
    },
  );
}

t.test(
  "HTTP/2: the GOAWAY names the largest stream id (refusing nothing); the session is closed once calls end",
  async (t) => {
    const s = await startServer({ http2: true, plugin: { shutdownGraceMs: 3000 } });
    t.teardown(() => s.close().catch(() => {}));
    const session = http2.connect(s.baseUrl);
    t.teardown(() => session.destroy());
    const goaways: number[] = [];
    session.on("goaway", (_code, lastStreamID) => goaways.push(lastStreamID));
    const closed = new Promise<void>((r) => session.once("close", () => r()));

    const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/Unary`, ...PROTO });
    const chunks: Buffer[] = [];
    let status = 0;
    stream.on("response", (h) => {
      status = Number(h[":status"]);
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((r) => stream.on("end", () => r()));
    stream.end(echoBytes({ text: "in flight", delayMs: 300 }));
    await sleep(50);
    const started = Date.now();
    const closing = s.app.close();
    await ended;
    t.equal(status, 200, "the stream in flight finished");
    t.equal(fromBinary(EchoResponseSchema, Buffer.concat(chunks)).text, "in flight");
    t.equal(
      goaways[0],
      2 ** 31 - 1,
      "the first GOAWAY names stream 2^31-1: a stream the peer is sending is not refused",
    );
    await closing;
    await closed;
    t.ok(Date.now() - started < 1500, "close() ends soon after the call");
  },
);

t.test(
  "HTTP/1.1: an idle keep-alive connection is left shutdownIdleMs for its client to close, then closed",
  async (t) => {
    const s = await startServer({ plugin: { shutdownGraceMs: 3000, shutdownIdleMs: 800 } });
    t.teardown(() => s.close().catch(() => {}));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const res = await h1(s.port, { path: `${SERVICE}/Unary`, headers: PROTO, body: echoBytes({ text: "x" }), agent });
    t.equal(res.status, 200);
    const socket = Object.values(agent.freeSockets)[0]?.[0];
    t.ok(socket, "the connection waits in the client's pool");
    const socketClosed = new Promise<void>((r) => socket?.once("close", () => r()));
    const started = Date.now();
    await s.app.close();
    await socketClosed;
    const ms = Date.now() - started;
    t.ok(ms >= 750 && ms < 2000, `closed after shutdownIdleMs, not at once and not never (${ms} ms)`);
  },
);

t.test("a bad shutdownIdleMs fails register with a message naming it", async (t) => {
  const app = Fastify();
  t.teardown(() => app.close().catch(() => {}));
  await t.rejects(
    (async () => {
      await app.register(fastifyConnectRpc, { shutdownIdleMs: -1, routes() {} });
    })(),
    /shutdownIdleMs/,
  );
});

t.test(
  "HTTP/2: an idle session gets no GOAWAY at first; a stream on it during the drain is served, then it closes",
  async (t) => {
    const s = await startServer({ http2: true, plugin: { shutdownGraceMs: 3000 } });
    t.teardown(() => s.close().catch(() => {}));
    const busy = http2.connect(s.baseUrl);
    const idle = http2.connect(s.baseUrl);
    t.teardown(() => {
      busy.destroy();
      idle.destroy();
    });
    const goaways: number[] = [];
    idle.on("goaway", (_code, lastStreamID) => goaways.push(lastStreamID));
    const idleClosed = new Promise<void>((r) => idle.once("close", () => r()));
    const call = (session: http2.ClientHttp2Session, text: string, delayMs: number) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/Unary`, ...PROTO });
        const chunks: Buffer[] = [];
        let status = 0;
        stream.on("response", (h) => {
          status = Number(h[":status"]);
        });
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => resolve({ status, text: fromBinary(EchoResponseSchema, Buffer.concat(chunks)).text }));
        stream.on("error", reject);
        stream.end(echoBytes({ text, delayMs }));
      });
    await call(idle, "warm", 0); // the session exists and is idle
    const slow = call(busy, "keeps the drain going", 400);
    await sleep(50);
    const closing = s.app.close();
    await sleep(100);
    t.same(goaways, [], "the idle session was sent no GOAWAY when the drain began");
    const during = await call(idle, "during the drain", 0);
    t.same(during, { status: 200, text: "during the drain" }, "a stream on it during the drain is served");
    t.equal(goaways[0], 2 ** 31 - 1, "that stream brought the GOAWAY that refuses nothing");
    await idleClosed;
    t.pass("the session closed once its call ended");
    t.equal((await slow).status, 200);
    await closing;
  },
);
