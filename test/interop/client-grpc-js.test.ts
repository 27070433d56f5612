// Our gRPC client against the reference Node gRPC server: a @grpc/grpc-js
// Server on 127.0.0.1 (insecure, h2c), called through createGrpcTransport.
// Every call kind, a full-duplex ping-pong, gzip requests (checked on the
// wire), errors with grpc-status-details-bin, custom and -bin metadata,
// deadlines the server sees, and cancellation the server sees.
import t, { type Test } from "tap";
import {
  Code,
  type ConnectError,
  createClient,
  createGrpcTransport,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type TransportOptions,
} from "../../lib/client/index.js";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, pingPong, rejection, within } from "../helpers/client-calls.js";
import { type GrpcJsServer, startGrpcJsServer } from "../helpers/grpc-js-server.js";
import { hex, PAYLOAD, type Req } from "../helpers/peer.js";

/** How long the server may take to notice a cancel or deadline. Generous; a pass is fast. */
const ABORT_WAIT_MS = 2000;

async function setup(
  t: Test,
  opts: Parameters<typeof startGrpcJsServer>[0] = {},
  transportOptions: Partial<TransportOptions> = {},
) {
  const server: GrpcJsServer = await startGrpcJsServer(opts);
  t.teardown(server.close);
  const transport = createGrpcTransport({ baseUrl: server.baseUrl, ...transportOptions });
  t.teardown(() => transport.close());
  return { server, transport, client: createClient(TestService, transport) };
}

function checkError(t: Test, err: ConnectError | undefined, code: Code, codeName: string, message: string) {
  t.ok(err, "the call failed");
  if (!err) return;
  t.equal(err.code, code, "code");
  t.equal(err.rawMessage, message, "message (grpc-message)");
  t.same(
    err.details.map((d) => ("type" in d ? d.type : d.desc.typeName)),
    ["fcr.test.v1.ErrorInfo"],
    "one detail from grpc-status-details-bin",
  );
  t.same(
    err.findDetails(ErrorInfoSchema).map((d) => ({ reason: d.reason, fields: d.fields })),
    [{ reason: "on-purpose", fields: { codeName } }],
    "the ErrorInfo detail decodes",
  );
  t.equal(err.metadata.get("x-error-meta"), "yes", "error metadata arrives");
  t.equal(err.metadata.get("grpc-status"), null, "status fields are not metadata");
  t.equal(err.metadata.get("grpc-status-details-bin"), null);
}

t.test("every call kind", async (t) => {
  const { client, server, transport } = await setup(t);
  t.equal(transport.protocol, "grpc");

  t.test("unary", async (t) => {
    const r = await client.unary({ text: "héllo ✓", payload: PAYLOAD });
    t.equal(r.text, "héllo ✓");
    t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
    t.equal(server.log.last?.method, "unary");
    const e = await client.echo({ text: "echo" });
    t.equal(e.text, "echo");
    t.equal(server.log.last?.method, "echo");
    const empty = await client.unary({});
    t.equal(empty.text, "", "an empty message (zero-length envelope) both ways");
    t.equal(empty.payload.byteLength, 0);
  });

  t.test("server streaming", async (t) => {
    let header: Headers | undefined;
    const { messages, error } = await collect(
      client.serverStream({ text: "s", count: 5, payload: PAYLOAD.subarray(0, 10) }, { onHeader: (h) => (header = h) }),
    );
    t.equal(error, undefined);
    t.same(
      messages.map((m) => [m.text, m.index, hex(m.payload)]),
      [0, 1, 2, 3, 4].map((i) => ["s", i, hex(PAYLOAD.subarray(0, 10))]),
    );
    t.equal(header?.get("content-type"), "application/grpc+proto", "grpc-js answered");
    const none = await collect(client.serverStream({ text: "none", count: 0 }));
    t.equal(none.error, undefined, "zero messages end OK");
    t.same(none.messages, []);
  });

  t.test("client streaming", async (t) => {
    const r = await client.clientStream([{ text: "a" }, { text: "b", payload: PAYLOAD }, { text: "c" }]);
    t.equal(r.text, "a,b,c");
    t.equal(r.index, 3);
    const none = await client.clientStream([]);
    t.equal(none.index, 0, "zero request messages");
    t.equal(none.text, "");
  });

  t.test("bidi streaming", async (t) => {
    const { messages, error } = await collect(
      client.bidi([{ text: "x" }, { text: "y", payload: PAYLOAD }, { text: "z" }]),
    );
    t.equal(error, undefined);
    t.same(
      messages.map((m) => [m.text, m.index, hex(m.payload)]),
      [
        ["x", 0, ""],
        ["y", 1, hex(PAYLOAD)],
        ["z", 2, ""],
      ],
    );
  });

  t.test("bidi ping-pong is full-duplex: each request goes out after the previous reply", async (t) => {
    const events: string[] = [];
    const { requests, release } = pingPong<Req>([{ text: "p0" }, { text: "p1" }, { text: "p2" }, { text: "p3" }]);
    async function* logged(): AsyncIterable<Req> {
      for await (const r of requests) {
        events.push(`send ${r.text}`);
        yield r;
      }
    }
    // A half-duplex client would wait for the end of the requests first and stall until the deadline.
    for await (const m of client.bidi(logged(), { timeoutMs: 5000 })) {
      events.push(`recv ${m.text}/${m.index}`);
      release();
    }
    t.same(events, ["send p0", "recv p0/0", "send p1", "recv p1/1", "send p2", "recv p2/2", "send p3", "recv p3/3"]);
  });

  t.test("large messages both ways", async (t) => {
    const big = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31) % 251);
    const r = await client.unary({ text: "big", payload: big });
    t.ok(Buffer.from(r.payload).equals(Buffer.from(big)), "3 MiB round-trip intact");
    const { messages, error } = await collect(client.bidi([{ payload: big }, { payload: big }]));
    t.equal(error, undefined);
    t.same(
      messages.map((m) => m.payload.byteLength),
      [big.byteLength, big.byteLength],
    );
  });

  t.test("calls share one HTTP/2 connection, also concurrently", async (t) => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.unary({ text: `c${i}`, payload: PAYLOAD.subarray(0, i) })),
    );
    t.same(
      results.map((r) => [r.text, r.payload.byteLength]),
      Array.from({ length: 20 }, (_, i) => [`c${i}`, i]),
    );
  });
});

t.test("errors carry code, message, grpc-status-details-bin and metadata", async (t) => {
  const { client } = await setup(t);

  t.test("unary (a trailers-only response)", async (t) => {
    const err = await rejection(client.unary({ text: "error:not_found:no such thing" }));
    checkError(t, err, Code.NotFound, "not_found", "no such thing");
  });
  t.test("unary, message with colons, percent and unicode", async (t) => {
    const err = await rejection(client.unary({ text: "error:failed_precondition:a:b % ✓ ü" }));
    checkError(t, err, Code.FailedPrecondition, "failed_precondition", "a:b % ✓ ü");
  });
  t.test("server streaming, after two messages", async (t) => {
    const { messages, error } = await collect(
      client.serverStream({ text: "error:resource_exhausted:too much", count: 2 }),
    );
    t.equal(messages.length, 2, "the messages before the error arrived");
    checkError(t, error, Code.ResourceExhausted, "resource_exhausted", "too much");
  });
  t.test("server streaming, before any message", async (t) => {
    const { messages, error } = await collect(client.serverStream({ text: "error:unavailable:early" }));
    t.same(messages, []);
    checkError(t, error, Code.Unavailable, "unavailable", "early");
  });
  t.test("client streaming", async (t) => {
    const err = await rejection(client.clientStream([{ text: "ok" }, { text: "error:invalid_argument:bad second" }]));
    checkError(t, err, Code.InvalidArgument, "invalid_argument", "bad second");
  });
  t.test("bidi, after one reply", async (t) => {
    const { messages, error } = await collect(
      client.bidi([{ text: "fine" }, { text: "error:permission_denied:nope" }]),
    );
    t.same(
      messages.map((m) => m.text),
      ["fine"],
    );
    checkError(t, error, Code.PermissionDenied, "permission_denied", "nope");
  });
});

t.test("metadata: custom and -bin headers and trailers round-trip", async (t) => {
  const { client, server } = await setup(t);
  const bin = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f, 0x3d]);
  const headers = {
    "x-echo-header": "header value",
    "x-echo-trailer": "trailer value",
    "x-echo-bin": encodeBinaryHeader(bin),
  };
  const check = (t: Test, method: string, header: Headers | undefined, trailer: Headers | undefined) => {
    const seen = server.log.last;
    t.equal(seen?.method, method);
    t.same(seen?.metadata.get("x-echo-header"), ["header value"], "the server got the header");
    const got = seen?.metadata.get("x-echo-bin") ?? [];
    t.ok(Buffer.isBuffer(got[0]), "grpc-js decoded the -bin metadata as bytes");
    t.equal(hex(got[0] as Buffer), hex(bin), "the -bin bytes reached the server");
    t.equal(header?.get("x-echo-header"), "header value", "response header");
    t.equal(trailer?.get("x-echo-trailer"), "trailer value", "response trailer");
    const tb = trailer?.get("x-echo-bin");
    t.ok(tb, "binary trailer present");
    if (tb) t.equal(hex(decodeBinaryHeader(tb)), hex(bin), "binary trailer bytes round-trip");
    t.equal(trailer?.get("grpc-status") ?? null, null, "grpc-status is not reported as a trailer");
    t.equal(header?.get("x-echo-trailer") ?? null, null, "trailers are not headers");
  };
  const observe = () => {
    const seen: { header?: Headers; trailer?: Headers } = {};
    return {
      seen,
      options: {
        headers,
        onHeader: (h: Headers) => (seen.header = h),
        onTrailer: (tr: Headers) => (seen.trailer = tr),
      },
    };
  };
  t.test("unary", async (t) => {
    const o = observe();
    await client.unary({ text: "m" }, o.options);
    check(t, "unary", o.seen.header, o.seen.trailer);
  });
  t.test("server streaming", async (t) => {
    const o = observe();
    const { error } = await collect(client.serverStream({ text: "m", count: 2 }, o.options));
    t.equal(error, undefined);
    check(t, "serverStream", o.seen.header, o.seen.trailer);
  });
  t.test("client streaming", async (t) => {
    const o = observe();
    await client.clientStream([{ text: "m" }], o.options);
    check(t, "clientStream", o.seen.header, o.seen.trailer);
  });
  t.test("bidi", async (t) => {
    const o = observe();
    await collect(client.bidi([{ text: "m" }, { text: "n" }], o.options));
    check(t, "bidi", o.seen.header, o.seen.trailer);
  });
  t.test("on a stream error: header arrives, trailers in the error metadata", async (t) => {
    const o = observe();
    const { messages, error } = await collect(client.serverStream({ text: "error:not_found:x", count: 1 }, o.options));
    t.equal(messages.length, 1);
    t.equal(o.seen.header?.get("x-echo-header"), "header value");
    checkError(t, error, Code.NotFound, "not_found", "x");
    t.equal(error?.metadata.get("x-echo-trailer"), "trailer value");
    t.equal(hex(decodeBinaryHeader(error?.metadata.get("x-echo-bin") ?? "")), hex(bin));
    t.equal(o.seen.trailer?.get("x-error-meta"), "yes", "onTrailer called on failure");
  });
  t.test("on a unary error: trailers in the error metadata", async (t) => {
    const o = observe();
    const err = await rejection(client.unary({ text: "error:not_found:x" }, o.options));
    checkError(t, err, Code.NotFound, "not_found", "x");
    t.equal(err.metadata.get("x-echo-trailer"), "trailer value");
    t.equal(o.seen.trailer?.get("x-echo-trailer"), "trailer value", "onTrailer called on failure");
  });
  t.test("a unary error keeps the response headers in its metadata, as connect-es does", async (t) => {
    // grpc-js sends the metadata of sendMetadata() in a HEADERS frame of its own, then the status in the
    // trailers. onHeader gets it; the error metadata should too, as on the Connect protocol path and in
    // connect-es's clients (validateTrailer appends the header to the error's metadata).
    let header: Headers | undefined;
    const err = await rejection(
      client.unary(
        { text: "error:not_found:x" },
        { headers: { "x-echo-header": "hv" }, onHeader: (h) => (header = h) },
      ),
    );
    t.equal(err.code, Code.NotFound);
    t.equal(header?.get("x-echo-header"), "hv", "onHeader gets the response header of a failed call");
    t.equal(err.metadata.get("x-echo-header"), "hv", "the response header is in the error metadata");
  });
  t.test("a trailers-only error: everything is error metadata, the header is empty", async (t) => {
    let header: Headers | undefined;
    const err = await rejection(
      client.unary(
        { text: "error:not_found:x" },
        { headers: { "x-echo-trailer": "tv" }, onHeader: (h) => (header = h) },
      ),
    );
    checkError(t, err, Code.NotFound, "not_found", "x");
    t.equal(err.metadata.get("x-echo-trailer"), "tv");
    t.equal(header?.get("x-echo-trailer") ?? null, null, "trailers are not reported as headers");
  });
});

t.test("deadlines", async (t) => {
  const { client, server } = await setup(t);

  t.test("the server sees the deadline", async (t) => {
    const before = Date.now();
    const r = await client.unary({ text: "in time" }, { timeoutMs: 5000 });
    t.equal(r.text, "in time");
    // grpc-js gives the deadline as epoch milliseconds (a number), or a Date; Infinity without one.
    const ms = Number(server.log.last?.deadline) - before;
    t.ok(ms > 3000 && ms <= 5100, `call.getDeadline() is about 5 s away (${ms} ms)`);

    const streamBefore = Date.now();
    await collect(client.serverStream({ count: 1 }, { timeoutMs: 3000 }));
    const s = Number(server.log.last?.deadline) - streamBefore;
    t.ok(s > 1000 && s <= 3100, `streaming too (${s} ms)`);

    await client.unary({ text: "none" });
    t.equal(server.log.last?.deadline, Number.POSITIVE_INFINITY, "no timeoutMs, no deadline");
  });

  t.test("a slow unary handler fails the call with deadline_exceeded", async (t) => {
    const started = Date.now();
    const call = server.log.next();
    const err = await rejection(client.unary({ text: "slow", delayMs: 5000 }, { timeoutMs: 200 }));
    t.equal(err.code, Code.DeadlineExceeded);
    t.ok(Date.now() - started < 2000, "the call did not wait for the handler");
    await within((await call).cancelled, ABORT_WAIT_MS, "grpc-js reports the call cancelled");
  });

  t.test("a slow server stream fails with deadline_exceeded after some messages", async (t) => {
    const { messages, error } = await collect(
      client.serverStream({ text: "slow", count: 50, delayMs: 60 }, { timeoutMs: 300 }),
    );
    t.equal(error?.code, Code.DeadlineExceeded);
    t.ok(messages.length >= 1 && messages.length < 50, `cut short after ${messages.length} messages`);
  });

  t.test("a slow bidi fails with deadline_exceeded", async (t) => {
    const call = server.log.next();
    const { error } = await collect(client.bidi([{ text: "slow", delayMs: 5000 }], { timeoutMs: 200 }));
    t.equal(error?.code, Code.DeadlineExceeded);
    await within((await call).cancelled, ABORT_WAIT_MS, "grpc-js reports the call cancelled");
  });
});

t.test("cancellation", async (t) => {
  const { client, server } = await setup(t);

  t.test("aborting mid server-stream: canceled, and the server sees 'cancelled'", async (t) => {
    const ac = new AbortController();
    const call = server.log.next();
    const received: number[] = [];
    let error: unknown;
    try {
      for await (const m of client.serverStream({ text: "c", count: 200, delayMs: 20 }, { signal: ac.signal })) {
        received.push(m.index);
        if (received.length === 2) ac.abort();
      }
    } catch (e) {
      error = e;
    }
    t.equal((error as ConnectError | undefined)?.code, Code.Canceled, "the call fails with canceled");
    t.same(received, [0, 1], "no message after the abort");
    const rec = await call;
    await within(rec.cancelled, ABORT_WAIT_MS, "the server's 'cancelled' event");
    t.ok(rec.isCancelled(), "call.cancelled on the server");
  });

  t.test("aborting a unary call while the handler runs", async (t) => {
    const ac = new AbortController();
    const call = server.log.next();
    const p = rejection(client.unary({ text: "wait", delayMs: 5000 }, { signal: ac.signal }));
    const rec = await call;
    ac.abort();
    const err = await p;
    t.equal(err.code, Code.Canceled);
    await within(rec.cancelled, ABORT_WAIT_MS, "the server's 'cancelled' event");
  });

  t.test("aborting a bidi call", async (t) => {
    const ac = new AbortController();
    const call = server.log.next();
    const { requests, release } = pingPong<Req>([{ text: "a" }, { text: "b" }]);
    const received: string[] = [];
    let error: unknown;
    try {
      for await (const m of client.bidi(requests, { signal: ac.signal })) {
        received.push(m.text);
        ac.abort();
        release();
      }
    } catch (e) {
      error = e;
    }
    t.equal((error as ConnectError | undefined)?.code, Code.Canceled);
    t.same(received, ["a"]);
    await within((await call).cancelled, ABORT_WAIT_MS, "the server's 'cancelled' event");
  });

  t.test("breaking out of a stream loop cancels the server call", async (t) => {
    const call = server.log.next();
    const received: number[] = [];
    for await (const m of client.serverStream({ text: "b", count: 200, delayMs: 20 })) {
      received.push(m.index);
      if (m.index === 1) break;
    }
    t.same(received, [0, 1]);
    const rec = await call;
    await within(rec.cancelled, ABORT_WAIT_MS, "the server's 'cancelled' event");
    t.ok(rec.isCancelled(), "call.cancelled on the server");
  });

  t.test("the connection still works after cancels", async (t) => {
    const r = await client.unary({ text: "after" });
    t.equal(r.text, "after");
  });
});

t.test("gzip", async (t) => {
  /** 64 raw bytes of PAYLOAD: present on the wire only if the payload went uncompressed. */
  const needle = Buffer.from(PAYLOAD.subarray(100, 164));

  t.test("identity: the payload is on the wire as it is (the control)", async (t) => {
    const { client, server } = await setup(t, { recordBytes: true }, { acceptCompression: [] });
    const r = await client.unary({ text: "plain", payload: PAYLOAD });
    t.equal(hex(r.payload), hex(PAYLOAD));
    t.ok(server.clientBytes().includes(needle), "raw payload bytes seen on the wire");
  });

  t.test("gzip requests: grpc-js decompresses every call kind", async (t) => {
    const { client, server } = await setup(
      t,
      // grpc-js never compresses responses (its server sends grpc-encoding: identity), whatever this says.
      { recordBytes: true, options: { "grpc.default_compression_algorithm": 2 } },
      { sendCompression: "gzip", compressMinBytes: 0 },
    );
    let header: Headers | undefined;
    const r = await client.unary({ text: "zipped", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
    t.equal(r.text, "zipped");
    t.equal(hex(r.payload), hex(PAYLOAD), "payload round-trips");
    t.notOk(server.clientBytes().includes(needle), "no raw payload bytes on the wire: the request was gzipped");
    t.ok(["identity", "gzip"].includes(header?.get("grpc-encoding") ?? ""), "the response encoding is understood");

    const cs = await client.clientStream([
      { text: "a", payload: PAYLOAD },
      { text: "b", payload: PAYLOAD },
      { text: "c" },
    ]);
    t.equal(cs.text, "a,b,c");

    const { messages, error } = await collect(
      client.bidi([{ text: "x", payload: PAYLOAD }, { text: "y" }, { text: "z", payload: PAYLOAD }]),
    );
    t.equal(error, undefined);
    t.same(
      messages.map((m) => [m.text, m.payload.byteLength]),
      [
        ["x", PAYLOAD.byteLength],
        ["y", 0],
        ["z", PAYLOAD.byteLength],
      ],
    );
    const ss = await collect(client.serverStream({ text: "s", count: 3, payload: PAYLOAD }));
    t.equal(ss.messages.length, 3);
    t.notOk(server.clientBytes().includes(needle), "still no raw payload bytes on the wire");

    const err = await rejection(client.unary({ text: "error:not_found:compressed" }));
    checkError(t, err, Code.NotFound, "not_found", "compressed");
  });
});

t.test("readMaxBytes: a larger response fails with resource_exhausted, the connection stays usable", async (t) => {
  const { client } = await setup(t, {}, { readMaxBytes: 1000 });
  const err = await rejection(client.unary({ text: "too big", payload: PAYLOAD }));
  t.equal(err.code, Code.ResourceExhausted);
  t.match(err.rawMessage, /readMaxBytes 1000/);
  const { messages, error } = await collect(client.serverStream({ text: "s", count: 3, payload: PAYLOAD }));
  t.same(messages, [], "a stream fails at its first large message");
  t.equal(error?.code, Code.ResourceExhausted);
  t.equal((await client.unary({ text: "small" })).text, "small");
});
