// The client against a hostile server, part 2: how the server behaves on the
// connection. Responses that never come, trailers that never come, endless
// streams, RST_STREAM and GOAWAY at every point of a call, a TCP reset in the
// middle of a message, and TLS failures. Every call must end with a clear
// ConnectError within its deadline, nothing may crash the process (tap fails
// a test on any uncaught 'error'), and nothing is left open afterwards.
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import t, { type Test } from "tap";
import {
  Code,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection, within } from "../helpers/client-calls.js";
import { answerEcho, startEchoH2Server } from "../helpers/echo-h2-server.js";
import { echoBytes, envelope } from "../helpers/raw-http.js";
import { activeResources, heapAfterGc, leftOver, socketsTo } from "../helpers/resources.js";
import { caSigned, selfSigned } from "../helpers/tls.js";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR } =
  http2.constants;
const DEADLINE_MS = 400;
/** How late past its deadline a call may end: timers on a shared 2-core machine. */
const SLACK_MS = 1500;

const h2 = await startEchoH2Server();
let h1Handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end();
const h1Server = http.createServer((req, res) => h1Handler(req, res));
h1Server.listen(0, "127.0.0.1");
await once(h1Server, "listening");
const h1Url = `http://127.0.0.1:${(h1Server.address() as AddressInfo).port}`;
const baseline = activeResources();
const heapBefore = heapAfterGc();

interface Target {
  name: string;
  transport: Transport;
  /** The response content-type of this protocol. */
  contentType: string;
}
const h2Targets: Target[] = [
  { name: "gRPC", transport: createGrpcTransport({ baseUrl: h2.url }), contentType: "application/grpc+proto" },
  {
    name: "Connect h2c",
    transport: createConnectTransport({ baseUrl: h2.url, httpVersion: "2" }),
    contentType: "application/connect+proto",
  },
  {
    name: "gRPC-Web h2c",
    transport: createGrpcWebTransport({ baseUrl: h2.url, httpVersion: "2" }),
    contentType: "application/grpc-web+proto",
  },
];
const h1Targets: Target[] = [
  {
    name: "Connect HTTP/1.1",
    transport: createConnectTransport({ baseUrl: h1Url }),
    contentType: "application/connect+proto",
  },
  {
    name: "gRPC-Web HTTP/1.1",
    transport: createGrpcWebTransport({ baseUrl: h1Url }),
    contentType: "application/grpc-web+proto",
  },
];
const allTargets = [...h2Targets, ...h1Targets];

/** One echo response message, enveloped. */
const message = envelope(0, echoBytes({ text: "m" }));

/** A call of each kind that must fail: the errors, and how long each took. */
async function failingCalls(target: Target, timeoutMs = DEADLINE_MS) {
  const client = createClient(TestService, target.transport);
  const limit = timeoutMs + SLACK_MS;
  const out: { kind: string; code: Code; message: string; ms: number }[] = [];
  const time = async (kind: string, run: () => Promise<{ code: Code; message: string }>) => {
    const started = Date.now();
    const e = await within(run(), limit, `${target.name} ${kind}`);
    out.push({ kind, code: e.code, message: e.message, ms: Date.now() - started });
  };
  await time("unary", () => rejection(client.unary({}, { timeoutMs })));
  const stream = async () => {
    const r = await collect(client.serverStream({}, { timeoutMs }));
    if (!r.error) throw new Error("the server stream succeeded");
    return r.error;
  };
  await time("server stream", stream);
  return out;
}

function checkDeadline(t: Test, results: Awaited<ReturnType<typeof failingCalls>>, name: string) {
  for (const r of results) {
    t.equal(r.code, Code.DeadlineExceeded, `${name} ${r.kind}: ${r.message}`);
    t.ok(r.ms >= DEADLINE_MS - 50 && r.ms < DEADLINE_MS + SLACK_MS, `${name} ${r.kind} ended after ${r.ms} ms`);
  }
}

t.test("a response that never comes ends at the deadline", async (t) => {
  h2.policy = () => {};
  h1Handler = () => {};
  for (const target of allTargets) checkDeadline(t, await failingCalls(target), target.name);
});

t.test("a head whose body and trailers never come ends at the deadline", async (t) => {
  for (const target of h2Targets) {
    h2.policy = (stream) => {
      stream.respond({ ":status": 200, "content-type": target.contentType });
      stream.write(message);
    };
    checkDeadline(t, await failingCalls(target), target.name);
  }
  for (const target of h1Targets) {
    h1Handler = (_req, res) => {
      res.writeHead(200, { "content-type": target.contentType });
      res.write(message);
    };
    checkDeadline(t, await failingCalls(target), target.name);
  }
});

t.test("an endless stream: the consumer stops, or the deadline ends it, and the server sees it end", async (t) => {
  for (const target of [...h2Targets, ...h1Targets]) {
    let ended = 0;
    const endless = (write: (b: Buffer) => boolean, gone: () => boolean, onGone: (f: () => void) => void) => {
      onGone(() => ended++);
      const tick = () => {
        if (gone()) return;
        write(message);
        setTimeout(tick, 1);
      };
      tick();
    };
    h2.policy = (stream) => {
      stream.respond({ ":status": 200, "content-type": target.contentType });
      endless(
        (b) => stream.write(b),
        () => stream.destroyed,
        (f) => stream.once("close", f),
      );
    };
    h1Handler = (_req, res) => {
      res.writeHead(200, { "content-type": target.contentType });
      endless(
        (b) => res.write(b),
        () => res.destroyed,
        (f) => res.once("close", f),
      );
    };
    const client = createClient(TestService, target.transport);
    let n = 0;
    for await (const _ of client.serverStream({})) if (++n === 20) break;
    t.equal(n, 20, `${target.name}: the consumer read 20 messages and stopped`);
    const r = await within(
      collect(client.serverStream({}, { timeoutMs: DEADLINE_MS })),
      DEADLINE_MS + SLACK_MS,
      "deadline",
    );
    t.equal(r.error?.code, Code.DeadlineExceeded, `${target.name}: the endless stream ends at its deadline`);
    t.ok(r.messages.length > 0, `${target.name}: ${r.messages.length} messages before the deadline`);
    const waited = Date.now();
    while (ended < 2 && Date.now() - waited < 2000) await new Promise((res) => setTimeout(res, 10));
    t.equal(ended, 2, `${target.name}: the server saw both streams end`);
  }
  h2.policy = (_s, _seen, answer) => answer();
});

/** The points of a call at which the server cuts it, each a function of the stream. */
const cutPoints: Record<string, (stream: http2.ServerHttp2Stream, contentType: string, cut: () => void) => void> = {
  "before the head": (_s, _c, cut) => cut(),
  "after the head": (s, contentType, cut) => {
    s.respond({ ":status": 200, "content-type": contentType });
    setTimeout(cut, 10);
  },
  "in the middle of a message": (s, contentType, cut) => {
    s.respond({ ":status": 200, "content-type": contentType });
    s.write(message.subarray(0, 4), () => setTimeout(cut, 10));
  },
  "after a whole message": (s, contentType, cut) => {
    s.respond({ ":status": 200, "content-type": contentType });
    s.write(message, () => setTimeout(cut, 10));
  },
};

/**
 * RST_STREAM with `code` and no END_STREAM before it: Node's close(code) ends
 * a writable stream first, so the peer would see a whole (if short) response.
 */
function resetWithoutEnd(stream: http2.ServerHttp2Stream, code: number): void {
  stream.end = (() => stream) as typeof stream.end;
  stream.close(code);
}

const resets: [string, number, Code][] = [
  ["CANCEL", NGHTTP2_CANCEL, Code.Canceled],
  ["INTERNAL_ERROR", NGHTTP2_INTERNAL_ERROR, Code.Internal],
  ["ENHANCE_YOUR_CALM", NGHTTP2_ENHANCE_YOUR_CALM, Code.ResourceExhausted],
];

for (const [point, act] of Object.entries(cutPoints)) {
  t.test(`RST_STREAM ${point} is the reset code's error`, async (t) => {
    for (const target of h2Targets) {
      for (const [name, rst, code] of resets) {
        h2.policy = (stream) => act(stream, target.contentType, () => resetWithoutEnd(stream, rst));
        for (const r of await failingCalls(target, 5000)) {
          t.ok(r.ms < 2000, `${target.name} ${r.kind}: ended after ${r.ms} ms`);
          t.equal(r.code, code, `${target.name} ${r.kind} ${name}: ${r.message}`);
        }
      }
    }
  });

  t.test(`GOAWAY(PROTOCOL_ERROR) ${point} is unavailable`, async (t) => {
    for (const target of h2Targets) {
      h2.policy = (stream) => act(stream, target.contentType, () => stream.session?.goaway(NGHTTP2_PROTOCOL_ERROR));
      for (const r of await failingCalls(target, 5000)) {
        t.ok(r.ms < 2000, `${target.name} ${r.kind}: ended after ${r.ms} ms`);
        t.equal(r.code, Code.Unavailable, `${target.name} ${r.kind}: ${r.message}`);
      }
    }
  });

  t.test(`a TCP reset ${point} is unavailable`, async (t) => {
    for (const target of h2Targets) {
      h2.policy = (stream) =>
        act(stream, target.contentType, () =>
          h2.sockets[h2.sessions.indexOf(stream.session as never)]?.resetAndDestroy(),
        );
      for (const r of await failingCalls(target, 5000)) {
        t.ok(r.ms < 2000, `${target.name} ${r.kind}: ended after ${r.ms} ms`);
        t.equal(r.code, Code.Unavailable, `${target.name} ${r.kind}: ${r.message}`);
      }
    }
  });
}

t.test("HTTP/1.1: a TCP reset in the middle of a message is unavailable", async (t) => {
  for (const target of h1Targets) {
    h1Handler = (_req, res) => {
      res.writeHead(200, { "content-type": target.contentType });
      res.write(message.subarray(0, 4), () => setTimeout(() => res.socket?.resetAndDestroy(), 10));
    };
    for (const r of await failingCalls(target, 5000)) {
      t.ok(r.ms < 2000, `${target.name} ${r.kind}: ended after ${r.ms} ms`);
      t.equal(r.code, Code.Unavailable, `${target.name} ${r.kind}: ${r.message}`);
    }
  }
});

t.test("a graceful GOAWAY that names the stream as processed lets it finish", async (t) => {
  for (const target of h2Targets) {
    h2.policy = (stream, seen, answer) => {
      stream.session?.goaway(NGHTTP2_NO_ERROR, seen.id);
      setTimeout(answer, 10);
    };
    const client = createClient(TestService, target.transport);
    t.equal((await client.unary({ text: "x" }, { timeoutMs: 2000 })).text, "x", `${target.name}: the call finished`);
  }
  h2.policy = (_s, _seen, answer) => answer();
});

t.test(
  "a server that sends GOAWAY and keeps the connection open: the client closes it when its streams are done",
  async (t) => {
    const server = await startEchoH2Server();
    server.policy = (stream, seen, answer) => {
      // GOAWAY naming this stream as processed, then the answer; the server never closes the connection.
      stream.session?.goaway(NGHTTP2_NO_ERROR, seen.id);
      answer();
    };
    const transport = createGrpcTransport({ baseUrl: server.url });
    const client = createClient(TestService, transport);
    for (let i = 0; i < 20; i++) t.equal((await client.unary({ text: `${i}` })).text, `${i}`);
    await new Promise((r) => setTimeout(r, 100));
    const clientSockets = socketsTo(server.port);
    t.equal(server.sessions.length, 20, "each call on a new connection, as GOAWAY asks");
    t.equal(clientSockets, 0, `the client holds ${clientSockets} of the 20 connections the server left open`);
    transport.close();
    await server.close();
  },
);

t.test("TLS failures are unavailable with the reason", async (t) => {
  const cases = [
    { name: "expired", pem: caSigned({ expired: true }), trust: true, reason: /certificate has expired/ },
    {
      name: "wrong host",
      pem: caSigned({ altName: "DNS:other.example" }),
      trust: true,
      reason: /altnames|does not match/i,
    },
    { name: "untrusted", pem: selfSigned(), trust: false, reason: /self[- ]signed/i },
  ];
  for (const c of cases) {
    const pem = c.pem as { key: Buffer; cert: Buffer; ca?: Buffer };
    const server = http2.createSecureServer({ key: pem.key, cert: pem.cert, allowHTTP1: true });
    server.on("stream", (stream, headers) => answerEcho(stream, String(headers["content-type"]), Buffer.alloc(0)));
    server.on("tlsClientError", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tls = c.trust ? { ca: pem.ca } : undefined;
    const transports = [
      createGrpcTransport({ baseUrl, tls }),
      createConnectTransport({ baseUrl, tls, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl, tls }),
    ];
    for (const [i, transport] of transports.entries()) {
      const err = await within(
        rejection(createClient(TestService, transport).unary({}, { timeoutMs: 3000 })),
        4000,
        c.name,
      );
      t.equal(err.code, Code.Unavailable, `${c.name} (${["gRPC", "HTTP/1.1", "ALPN"][i]}): ${err.message}`);
      t.match(err.message, c.reason, "the reason is in the message");
      transport.close();
    }
    await new Promise((r) => server.close(r));
  }
});

t.test("nothing leaks: sockets, sessions and timers are back to the baseline", async (t) => {
  for (const target of allTargets) target.transport.close();
  await h2.close();
  h1Server.closeAllConnections();
  await new Promise((r) => h1Server.close(r));
  t.same(await leftOver(baseline), [], "no active resources above the baseline");
  const growth = heapAfterGc() - heapBefore;
  t.ok(growth < 16 * 1024 * 1024, `heap after gc grew ${(growth / 1048576).toFixed(1)} MiB over the file`);
});
