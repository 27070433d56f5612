// onePortServerFactory bounds every connection it accepts, as node:http and
// Fastify bound theirs (issue 16): a connection that never shows its protocol
// is destroyed after prefaceTimeout, and the Fastify options that Fastify
// skips for a serverFactory (connectionTimeout, keepAliveTimeout,
// http2SessionTimeout) are applied to both inner servers.

import * as http2 from "node:http2";
import * as net from "node:net";
import Fastify, { type FastifyServerOptions } from "fastify";
import t, { type Test } from "tap";
import { type OnePortServerOptions, onePortServerFactory } from "../../lib/index.js";
import { h1, h2 } from "../helpers/raw-http.js";

/** Fastify declares http2SessionTimeout only for its own HTTP/2 servers; at run time it passes it to any serverFactory. */
type Limits = FastifyServerOptions & { http2SessionTimeout?: number };

async function app(t: Test, fastify: Limits, onePort: OnePortServerOptions = {}) {
  const a = Fastify({ ...fastify, serverFactory: onePortServerFactory(onePort) });
  a.get("/ping", async () => "pong");
  await a.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => a.close());
  const address = a.server.address();
  return typeof address === "object" && address ? address.port : 0;
}

/** Connects, writes `bytes` (if any), and resolves with how long the server took to close the socket. */
function timeUntilClosed(port: number, bytes?: string, giveUpMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, "127.0.0.1", () => {
      if (bytes !== undefined) socket.write(bytes);
    });
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
    socket.resume();
  });
}

t.test("a connection that sends nothing is destroyed after prefaceTimeout", async (t) => {
  const port = await app(t, {}, { prefaceTimeout: 300 });
  const ms = await timeUntilClosed(port);
  t.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms (prefaceTimeout 300)`);
});

t.test("a connection that sends part of the HTTP/2 preface is destroyed after prefaceTimeout", async (t) => {
  const port = await app(t, {}, { prefaceTimeout: 300 });
  const ms = await timeUntilClosed(port, "PRI * HTTP/2.0\r\n");
  t.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms (prefaceTimeout 300)`);
});

t.test("prefaceTimeout defaults to the HTTP/1.1 side's headersTimeout", async (t) => {
  const port = await app(t, {}, { http1: { headersTimeout: 400, requestTimeout: 1000 } });
  const ms = await timeUntilClosed(port);
  t.ok(ms >= 350 && ms < 2500, `closed after ${ms} ms (headersTimeout 400)`);
});

t.test("app.close() does not wait for a connection that has not sent its first bytes", async (t) => {
  const a = Fastify({ serverFactory: onePortServerFactory() });
  await a.listen({ host: "127.0.0.1", port: 0 });
  const address = a.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const closed = timeUntilClosed(port);
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await a.close();
  t.ok(Date.now() - started < 1000, `app.close() took ${Date.now() - started} ms`);
  t.ok((await closed) < 2000, "the silent connection was destroyed");
});

t.test("Fastify's http2SessionTimeout closes an idle h2c session with GOAWAY", async (t) => {
  const port = await app(t, { http2SessionTimeout: 300 });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const started = Date.now();
  const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
  const closed = new Promise<number>((resolve) => session.once("close", () => resolve(Date.now() - started)));
  const giveUp = setTimeout(() => session.destroy(), 5000);
  t.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR, "GOAWAY NO_ERROR");
  const ms = await closed;
  clearTimeout(giveUp);
  t.ok(ms >= 250 && ms < 2000, `session closed after ${ms} ms (http2SessionTimeout 300)`);
});

// As with Fastify({ http2: true }), Node applies the server timeout to each
// session, and http2SessionTimeout (when not 0) replaces it.
t.test("Fastify's connectionTimeout bounds an inactive h2c session when http2SessionTimeout is 0", async (t) => {
  const port = await app(t, { connectionTimeout: 300, http2SessionTimeout: 0 });
  const ms = await timeUntilClosed(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  t.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms (connectionTimeout 300)`);
});

t.test("Fastify's connectionTimeout bounds socket inactivity on the HTTP/1.1 side", async (t) => {
  const port = await app(t, { connectionTimeout: 300 });
  // An unfinished request head: only headersTimeout (60 s) would close it otherwise.
  const ms = await timeUntilClosed(port, "GET /ping HTTP/1.1\r\n");
  t.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms (connectionTimeout 300)`);
});

t.test("Fastify's keepAliveTimeout closes an idle HTTP/1.1 keep-alive connection", async (t) => {
  const port = await app(t, { keepAliveTimeout: 300 });
  const ms = await timeUntilClosed(port, "GET /ping HTTP/1.1\r\nhost: x\r\n\r\n");
  // Node closes a keep-alive socket up to 1 s after keepAliveTimeout (its
  // keepAliveTimeoutBuffer); its own default is 5 s, Fastify's 72 s.
  t.ok(ms >= 250 && ms < 2500, `closed ${ms} ms after the request (keepAliveTimeout 300)`);
});

t.test("HTTP/1.1 and h2c calls still work with short timeouts", async (t) => {
  const port = await app(
    t,
    { connectionTimeout: 500, keepAliveTimeout: 500, http2SessionTimeout: 500 },
    { prefaceTimeout: 500 },
  );
  const r1 = await h1(port, { method: "GET", path: "/ping" });
  t.equal(r1.status, 200);
  t.equal(r1.body.toString(), "pong", "HTTP/1.1");
  const r2 = await h2(port, { method: "GET", path: "/ping" });
  t.equal(r2.status, 200);
  t.equal(r2.body.toString(), "pong", "h2c");
});
