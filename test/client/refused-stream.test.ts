// RFC 9113, section 8.7: a stream refused with RST_STREAM REFUSED_STREAM, or
// above the last-stream-id of a GOAWAY, was never processed, so the client
// sends it again on a new connection (as grpc-go does), at most
// REFUSED_STREAM_RETRIES times, and only then fails with unavailable. Unary
// and server-streaming calls are retried (their one request message is held);
// client and bidi streams are not (their iterable cannot be read again).
import * as http2 from "node:http2";
import t, { type Test } from "tap";
import {
  Code,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "../../lib/client/index.js";
import { REFUSED_STREAM_RETRIES } from "../../lib/client/refused-retry.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, rejection, within } from "../helpers/client-calls.js";
import { type EchoH2Server, startEchoH2Server } from "../helpers/echo-h2-server.js";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants;

async function setup(t: Test) {
  const server = await startEchoH2Server();
  t.teardown(() => server.close());
  const transports = {
    grpc: createGrpcTransport({ baseUrl: server.url }),
    connect: createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
    "grpc-web": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2" }),
  };
  for (const tr of Object.values(transports)) t.teardown(() => tr.close());
  return { server, transports };
}

/** Refuses the first `n` streams with RST_STREAM REFUSED_STREAM and answers the rest. */
function refuseFirst(server: EchoH2Server, n: number): void {
  let refused = 0;
  server.policy = (stream, _seen, answer) => {
    if (refused++ < n) stream.close(NGHTTP2_REFUSED_STREAM);
    else answer();
  };
}

/**
 * Answers the first stream, then sends GOAWAY naming it the last processed to
 * the next `n` streams on session 0 (as nginx does after http2_max_requests).
 * Node's goaway() turns a last-stream-id of 0 into the last one it processed,
 * so the refused call needs a stream before it.
 */
function goawayAfterFirst(server: EchoH2Server, n: number): void {
  let refused = 0;
  server.policy = (stream, seen, answer) => {
    if (seen.session === 0 && seen.id > 1 && refused++ < n) stream.session?.goaway(NGHTTP2_NO_ERROR, 1);
    else answer();
  };
}

for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
  t.test(`${protocol}: a unary call refused with REFUSED_STREAM succeeds on a new connection`, async (t) => {
    const { server, transports } = await setup(t);
    refuseFirst(server, 1);
    const client = createClient(TestService, transports[protocol]);
    const res = await within(client.unary({ text: "again" }), 5000, "the retried call");
    t.equal(res.text, "again", "the retry's answer");
    t.equal(server.streams.length, 2, "the server saw the call twice");
    t.not(server.streams[1]?.session, server.streams[0]?.session, "the retry came on a new session");
  });

  t.test(`${protocol}: a unary call above a GOAWAY's last-stream-id succeeds on a new connection`, async (t) => {
    const { server, transports } = await setup(t);
    goawayAfterFirst(server, 1);
    const client = createClient(TestService, transports[protocol]);
    await client.unary({ text: "first" });
    const res = await within(client.unary({ text: "after goaway" }), 5000, "the retried call");
    t.equal(res.text, "after goaway");
    t.equal(server.streams.length, 3, "the server saw the second call twice");
    t.same(
      server.streams.map((s) => s.session),
      [0, 0, 1],
      "the retry came on a new session",
    );
  });

  t.test(`${protocol}: a server stream refused before any response is retried`, async (t) => {
    const { server, transports } = await setup(t);
    refuseFirst(server, 1);
    const client = createClient(TestService, transports[protocol]);
    const { messages, error } = await within(collect(client.serverStream({ text: "s", count: 3 })), 5000, "stream");
    t.equal(error, undefined);
    t.same(
      messages.map((m) => m.index),
      [0, 1, 2],
      "all three messages from the retry",
    );
    t.equal(server.streams.length, 2);
  });

  t.test(
    `${protocol}: a server that refuses every stream fails the call with unavailable after the bound`,
    async (t) => {
      const { server, transports } = await setup(t);
      refuseFirst(server, Number.POSITIVE_INFINITY);
      const client = createClient(TestService, transports[protocol]);
      const err = await within(rejection(client.unary({ text: "never" })), 5000, "the refused call");
      t.equal(err.code, Code.Unavailable, "unavailable");
      t.match(err.message, /refused the stream unprocessed 3 times/, `the message says why: ${err.message}`);
      t.equal(server.streams.length, REFUSED_STREAM_RETRIES + 1, "one call and REFUSED_STREAM_RETRIES retries");
      t.equal(new Set(server.streams.map((s) => s.session)).size, REFUSED_STREAM_RETRIES + 1, "each on a new session");
    },
  );
}

t.test("a client stream refused is not retried: its iterable has been read", async (t) => {
  const { server, transports } = await setup(t);
  refuseFirst(server, 1);
  const client = createClient(TestService, transports.grpc);
  const err = await within(rejection(client.clientStream([{ text: "a" }, { text: "b" }])), 5000, "the call");
  t.equal(err.code, Code.Unavailable, `unavailable: ${err.message}`);
  t.equal(server.streams.length, 1, "sent once");
});

t.test("a bidi stream refused is not retried", async (t) => {
  const { server, transports } = await setup(t);
  refuseFirst(server, 1);
  const client = createClient(TestService, transports.grpc);
  const { error } = await within(collect(client.bidi([{ text: "a" }])), 5000, "the call");
  t.equal(error?.code, Code.Unavailable, `unavailable: ${error?.message}`);
  t.equal(server.streams.length, 1, "sent once");
});

t.test("GOAWAY with streams in flight on a pooled session: processed ones finish, the rest are retried", async (t) => {
  const { server, transports } = await setup(t);
  const client = createClient(TestService, transports.grpc);
  await client.unary({ text: "warm up" }); // one pooled session, stream 1
  const held: (() => void)[] = [];
  server.policy = (stream, seen, answer) => {
    if (seen.session !== 0) return answer();
    held.push(answer);
    // The fifth stream on the session: GOAWAY naming the first two in flight as processed.
    if (held.length === 5) {
      const firstInFlight = server.streams.find((s) => s.session === 0 && s.id > 1)?.id ?? 3;
      stream.session?.goaway(NGHTTP2_NO_ERROR, firstInFlight + 2);
      for (const a of held.slice(0, 2)) a();
    }
  };
  const calls = Array.from({ length: 5 }, (_, i) => client.unary({ text: `call ${i}` }));
  const results = await within(Promise.all(calls), 5000, "the five calls");
  t.same(
    results.map((r) => r.text),
    ["call 0", "call 1", "call 2", "call 3", "call 4"],
    "every call succeeded",
  );
  const first = server.streams.filter((s) => s.session === 0).length;
  t.equal(first, 6, "the warm-up and five calls reached the first session");
  t.equal(
    server.streams.filter((s) => s.session === 1).length,
    3,
    "the three unprocessed ones were retried on one new session",
  );
  t.equal(server.sessions.length, 2, "no more sessions than needed");
});
