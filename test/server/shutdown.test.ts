// Graceful shutdown on app.close(): calls in flight may finish within
// shutdownGraceMs; whatever still runs then is aborted with unavailable.
import * as http from "node:http";
import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import { Code, ConnectError } from "../../lib/index.js";
import { EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { echoBytes, endStreamOf, envelope, h1, h2, type RawResponse, SERVICE } from "../helpers/raw-http.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";

const PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" };
const STREAM_PROTO = { "content-type": "application/connect+proto", "connect-protocol-version": "1" };

async function server(t: Test, opts: Parameters<typeof startServer>[0]): Promise<StartedServer> {
  const s = await startServer(opts);
  // close() is idempotent enough for a second call; the tests close on purpose.
  t.teardown(() => s.close().catch(() => {}));
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const http2Mode of [false, true]) {
  const label = http2Mode ? "HTTP/2" : "HTTP/1.1";

  t.test(`${label}: app.close() lets an in-flight unary call finish`, async (t) => {
    const s = await server(t, { http2: http2Mode, plugin: { shutdownGraceMs: 2000 } });
    const send = http2Mode ? h2 : h1;
    const pending = send(s.port, {
      path: `${SERVICE}/Unary`,
      headers: PROTO,
      body: echoBytes({ text: "finish me", delayMs: 150 }),
    });
    await sleep(40);
    const started = Date.now();
    const closing = s.app.close();
    const res = await pending;
    t.equal(res.status, 200, "the client gets the response");
    t.equal(fromBinary(EchoResponseSchema, res.body).text, "finish me");
    await closing;
    t.ok(Date.now() - started < 1500, "close() returns once the call is done, well before the grace period ends");
  });

  t.test(`${label}: a stream still running after shutdownGraceMs is aborted with unavailable`, async (t) => {
    let abortReason: unknown;
    const s = await server(t, {
      http2: http2Mode,
      plugin: {
        shutdownGraceMs: 100,
        routes(router) {
          router.service(TestService, {
            ...testServiceImpl,
            async *serverStream(req, ctx) {
              ctx.signal.addEventListener("abort", () => {
                abortReason = ctx.signal.reason;
              });
              for (let i = 0; !ctx.signal.aborted; i++) {
                yield { text: req.text, index: i };
                await sleep(10);
              }
            },
          });
        },
      },
    });
    const { response, firstData } = openStream(s.port, http2Mode, envelope(0, echoBytes({ text: "long" })));
    await firstData;
    const started = Date.now();
    const closing = s.app.close();
    const res = await response;
    const elapsed = Date.now() - started;
    t.equal(res.status, 200);
    const { messages, end, endFlags } = endStreamOf(res.body);
    t.ok(messages.length > 1, `messages kept flowing during the grace period (${messages.length})`);
    t.equal(endFlags, 0x02, "the stream ends with an end-of-stream message");
    t.equal(end.error?.code, "unavailable", "whose error is unavailable");
    t.ok(elapsed >= 90, `the grace period was honoured (${elapsed} ms)`);
    t.ok(abortReason instanceof ConnectError, "the handler's signal was aborted with a ConnectError");
    t.equal((abortReason as ConnectError | undefined)?.code, Code.Unavailable);
    await closing;
    t.ok(Date.now() - started < 2000, "close() completes soon after the grace period");
  });

  t.test(`${label}: a stream that ends within shutdownGraceMs ends normally`, async (t) => {
    const s = await server(t, { http2: http2Mode, plugin: { shutdownGraceMs: 2000 } });
    const { response, firstData } = openStream(
      s.port,
      http2Mode,
      envelope(0, echoBytes({ text: "short", count: 5, delayMs: 20 })),
    );
    await firstData;
    const closing = s.app.close();
    const res = await response;
    const { messages, end } = endStreamOf(res.body);
    t.equal(messages.length, 5);
    t.same(end, {}, "no error");
    await closing;
  });
}

/** Opens a ServerStream call; resolves `firstData` when the first bytes arrive. */
function openStream(
  port: number,
  useHttp2: boolean,
  body: Buffer,
): { response: Promise<RawResponse>; firstData: Promise<void> } {
  let onFirst!: () => void;
  const firstData = new Promise<void>((r) => {
    onFirst = r;
  });
  const chunks: Buffer[] = [];
  const response = new Promise<RawResponse>((resolve, reject) => {
    if (useHttp2) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", reject);
      const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/ServerStream`, ...STREAM_PROTO });
      let headers: http.IncomingHttpHeaders = {};
      stream.on("response", (h) => {
        headers = h as http.IncomingHttpHeaders;
      });
      stream.on("data", (c: Buffer) => {
        chunks.push(c);
        onFirst();
      });
      stream.on("end", () => {
        session.close();
        resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) });
      });
      stream.on("error", reject);
      stream.end(body);
      return;
    }
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", path: `${SERVICE}/ServerStream`, headers: STREAM_PROTO, agent: false },
      (res) => {
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          onFirst();
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
  return { response, firstData };
}
