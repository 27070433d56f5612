// Our client against the real peer server: @connectrpc/connect-node's
// connectNodeAdapter (Connect, gRPC and gRPC-Web on one handler) on node:http
// (HTTP/1.1) and node:http2 (h2c). For each protocol and HTTP version: every
// call kind, proto and JSON, gzip both ways (counted on the server), errors
// with details and metadata, -bin metadata, deadlines, cancellation, and
// Connect GET.
import t, { type Test } from "tap";
import {
  Code,
  type ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type ProtocolName,
  type Transport,
  type TransportOptions,
} from "../../lib/client/index.js";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, pingPong, rejection, within } from "../helpers/client-calls.js";
import { countingConnectGzip, startConnectNodeServer } from "../helpers/connect-es-test-service.js";
import { hex, PAYLOAD, type Req } from "../helpers/peer.js";

/** How long the server may take to notice a cancel or deadline. Generous; a pass is fast. */
const ABORT_WAIT_MS = 2000;

function transportFor(protocol: ProtocolName, opts: TransportOptions): Transport {
  switch (protocol) {
    case "connect":
      return createConnectTransport(opts);
    case "grpc":
      return createGrpcTransport(opts);
    case "grpc-web":
      return createGrpcWebTransport(opts);
  }
}

function checkError(t: Test, err: ConnectError | undefined, code: Code, codeName: string, message: string) {
  t.ok(err, "the call failed");
  if (!err) return;
  t.equal(err.code, code, "code");
  t.equal(err.rawMessage, message, "rawMessage");
  t.same(
    err.findDetails(ErrorInfoSchema).map((d) => ({ reason: d.reason, fields: d.fields })),
    [{ reason: "on-purpose", fields: { codeName } }],
    "the ErrorInfo detail decodes",
  );
  t.equal(err.metadata.get("x-error-meta"), "yes", "error metadata arrives");
}

for (const httpVersion of ["1.1", "2"] as const) {
  t.test(`connect-node over ${httpVersion === "2" ? "h2c" : "HTTP/1.1"}`, async (t) => {
    const { compression, counts } = countingConnectGzip();
    const server = await startConnectNodeServer({
      http2: httpVersion === "2",
      adapter: { acceptCompression: [compression], compressMinBytes: 16 },
    });
    t.teardown(server.close);
    const lastRequest = () => server.requests[server.requests.length - 1];

    const protocols: ProtocolName[] = httpVersion === "2" ? ["connect", "grpc-web", "grpc"] : ["connect", "grpc-web"];
    for (const protocol of protocols) {
      for (const binary of [true, false]) {
        for (const gzip of [false, true]) {
          const name = `${protocol} ${binary ? "proto" : "json"} ${gzip ? "gzip" : "identity"}`;
          t.test(name, async (t) => {
            const transport = transportFor(protocol, {
              baseUrl: server.baseUrl,
              httpVersion,
              useBinaryFormat: binary,
              ...(gzip ? { sendCompression: "gzip", compressMinBytes: 0 } : { acceptCompression: [] }),
            });
            t.teardown(() => transport.close());
            t.equal(transport.protocol, protocol);
            const client = createClient(TestService, transport);

            /** The header naming the compression of response messages, by protocol and call kind. */
            const encodingHeader = (stream: boolean) =>
              protocol === "connect" ? (stream ? "connect-content-encoding" : "content-encoding") : "grpc-encoding";
            /** The request header naming the compression of request messages. */
            const requestEncodingHeader = (stream: boolean) =>
              protocol === "connect" ? (stream ? "connect-content-encoding" : "content-encoding") : "grpc-encoding";

            /** After a call: did the server see the protocol, and did gzip run both ways? */
            const checkCall = (
              t: Test,
              method: string,
              before: { compress: number; decompress: number },
              header: Headers | undefined,
              stream: boolean,
            ) => {
              t.equal(server.log.last?.method, method, "the handler ran");
              t.equal(server.log.last?.protocol, protocol, `the server saw ${protocol}`);
              t.equal(lastRequest().httpVersion, httpVersion === "2" ? "2.0" : "1.1", "HTTP version");
              const requestEncoding = lastRequest().headers[requestEncodingHeader(stream)];
              if (gzip) {
                t.equal(requestEncoding, "gzip", "the request declared gzip");
                t.ok(counts.decompress > before.decompress, "the server decompressed the request");
                t.ok(counts.compress > before.compress, "the server compressed the response");
                t.equal(header?.get(encodingHeader(stream)), "gzip", "the response declared gzip");
              } else {
                t.not(requestEncoding, "gzip", "the request is not compressed");
                t.equal(counts.decompress, before.decompress, "nothing decompressed");
                t.equal(counts.compress, before.compress, "nothing compressed");
                t.not(header?.get(encodingHeader(stream)) ?? null, "gzip", "the response is not compressed");
              }
            };

            t.test("unary", async (t) => {
              const before = { ...counts };
              let header: Headers | undefined;
              const r = await client.unary({ text: "héllo ✓", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
              t.equal(r.text, "héllo ✓");
              t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
              t.equal(lastRequest().method, "POST");
              checkCall(t, "unary", before, header, false);
            });

            t.test("unary with an empty message", async (t) => {
              const r = await client.unary({});
              t.equal(r.text, "");
              t.equal(r.payload.byteLength, 0);
            });

            t.test("echo (a NO_SIDE_EFFECTS method) goes as POST without useHttpGet", async (t) => {
              const before = { ...counts };
              let header: Headers | undefined;
              const r = await client.echo({ text: "e", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
              t.equal(r.text, "e");
              t.equal(hex(r.payload), hex(PAYLOAD));
              t.equal(lastRequest().method, "POST");
              checkCall(t, "echo", before, header, false);
            });

            t.test("server streaming", async (t) => {
              const before = { ...counts };
              let header: Headers | undefined;
              const { messages, error } = await collect(
                client.serverStream({ text: "s", count: 4, payload: PAYLOAD }, { onHeader: (h) => (header = h) }),
              );
              t.equal(error, undefined);
              t.same(
                messages.map((m) => [m.text, m.index, hex(m.payload)]),
                [0, 1, 2, 3].map((i) => ["s", i, hex(PAYLOAD)]),
              );
              checkCall(t, "serverStream", before, header, true);
            });

            t.test("server streaming with zero messages", async (t) => {
              const { messages, error } = await collect(client.serverStream({ text: "none", count: 0 }));
              t.equal(error, undefined);
              t.same(messages, []);
            });

            t.test("client streaming", async (t) => {
              const before = { ...counts };
              let header: Headers | undefined;
              const r = await client.clientStream(
                [{ text: "a", payload: PAYLOAD }, { text: "b", payload: PAYLOAD }, { text: "c" }],
                { onHeader: (h) => (header = h) },
              );
              t.equal(r.text, "a,b,c");
              t.equal(r.index, 3);
              // The reply has no payload: too small for the server to compress, so check the request side only.
              t.equal(server.log.last?.method, "clientStream");
              t.equal(server.log.last?.protocol, protocol);
              if (gzip) t.ok(counts.decompress >= before.decompress + 3, "each request message arrived gzipped");
              else t.equal(counts.decompress, before.decompress, "nothing decompressed");
              t.ok(header, "response header reported");
            });

            t.test("client streaming with zero messages", async (t) => {
              const r = await client.clientStream([]);
              t.equal(r.text, "");
              t.equal(r.index, 0);
            });

            if (httpVersion === "1.1") {
              t.test("connect-node refuses bidi over HTTP/1.1 (505): the call fails with unknown", async (t) => {
                const { messages, error } = await collect(client.bidi([{ text: "x" }]));
                t.same(messages, []);
                t.equal(error?.code, Code.Unknown, "an HTTP status without a gRPC/Connect code maps to unknown");
                t.equal(error?.rawMessage, "HTTP 505");
                t.equal(server.log.last?.method, "clientStream", "no handler ran");
              });
            }

            if (httpVersion === "2") {
              // connect-node serves bidi over HTTP/2 only.
              t.test("bidi streaming", async (t) => {
                const before = { ...counts };
                let header: Headers | undefined;
                const { messages, error } = await collect(
                  client.bidi(
                    [{ text: "x", payload: PAYLOAD }, { text: "y", payload: PAYLOAD.subarray(1) }, { text: "z" }],
                    { onHeader: (h) => (header = h) },
                  ),
                );
                t.equal(error, undefined);
                t.same(
                  messages.map((m) => [m.text, m.index, hex(m.payload)]),
                  [
                    ["x", 0, hex(PAYLOAD)],
                    ["y", 1, hex(PAYLOAD.subarray(1))],
                    ["z", 2, ""],
                  ],
                );
                checkCall(t, "bidi", before, header, true);
              });

              t.test("bidi is full-duplex: each request goes out after the previous reply", async (t) => {
                const events: string[] = [];
                const { requests, release } = pingPong<Req>([{ text: "p0" }, { text: "p1" }, { text: "p2" }]);
                async function* logged(): AsyncIterable<Req> {
                  for await (const r of requests) {
                    events.push(`send ${r.text}`);
                    yield r;
                  }
                }
                // A half-duplex client would wait for all requests first and stall to the deadline.
                for await (const m of client.bidi(logged(), { timeoutMs: 5000 })) {
                  events.push(`recv ${m.text}/${m.index}`);
                  release();
                }
                t.same(events, ["send p0", "recv p0/0", "send p1", "recv p1/1", "send p2", "recv p2/2"]);
              });
            }

            t.test("errors with code, message, details and metadata", async (t) => {
              t.test("unary", async (t) => {
                const err = await rejection(client.unary({ text: "error:not_found:no such thing" }));
                checkError(t, err, Code.NotFound, "not_found", "no such thing");
              });
              t.test("unary, message with colons, percent and unicode", async (t) => {
                const err = await rejection(client.unary({ text: "error:failed_precondition:a:b % ✓ ü" }));
                checkError(t, err, Code.FailedPrecondition, "failed_precondition", "a:b % ✓ ü");
              });
              t.test("server streaming, after some messages", async (t) => {
                const { messages, error } = await collect(
                  client.serverStream({ text: "error:permission_denied:late", count: 2, payload: PAYLOAD }),
                );
                t.equal(messages.length, 2, "the messages before the error arrive");
                for (const m of messages) t.equal(hex(m.payload), hex(PAYLOAD));
                checkError(t, error, Code.PermissionDenied, "permission_denied", "late");
              });
              t.test("server streaming, before any message", async (t) => {
                const { messages, error } = await collect(client.serverStream({ text: "error:unavailable:early" }));
                t.same(messages, []);
                checkError(t, error, Code.Unavailable, "unavailable", "early");
              });
              t.test("client streaming", async (t) => {
                const err = await rejection(
                  client.clientStream([{ text: "ok" }, { text: "error:resource_exhausted:too many" }]),
                );
                checkError(t, err, Code.ResourceExhausted, "resource_exhausted", "too many");
              });
              if (httpVersion === "2") {
                t.test("bidi, after a message", async (t) => {
                  const { messages, error } = await collect(
                    client.bidi([{ text: "first" }, { text: "error:aborted:second" }]),
                  );
                  t.same(
                    messages.map((m) => m.text),
                    ["first"],
                  );
                  checkError(t, error, Code.Aborted, "aborted", "second");
                });
              }
            });

            t.test("metadata: headers, trailers and -bin round-trip", async (t) => {
              const bin = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f, 0x3d]);
              const headers = {
                "x-echo-header": "header value",
                "x-echo-trailer": "trailer value",
                "x-echo-bin": encodeBinaryHeader(bin),
              };
              const check = (t: Test, method: string, header: Headers | undefined, trailer: Headers | undefined) => {
                t.equal(server.log.last?.method, method);
                t.equal(server.log.last?.requestHeader.get("x-echo-header"), "header value", "the server got it");
                t.equal(hex(server.log.last?.echoBin ?? new Uint8Array()), hex(bin), "the server decoded the -bin");
                t.equal(header?.get("x-echo-header"), "header value", "response header");
                t.equal(trailer?.get("x-echo-trailer"), "trailer value", "response trailer");
                const got = trailer?.get("x-echo-bin");
                t.ok(got, "binary trailer present");
                if (got) t.equal(hex(decodeBinaryHeader(got)), hex(bin), "binary trailer bytes round-trip");
                t.equal(header?.get("x-echo-trailer") ?? null, null, "trailers are not headers");
                t.equal(trailer?.get("x-echo-header") ?? null, null, "headers are not trailers");
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
                await client.unary({ text: "h" }, o.options);
                check(t, "unary", o.seen.header, o.seen.trailer);
              });
              t.test("server streaming", async (t) => {
                const o = observe();
                const { error } = await collect(client.serverStream({ text: "h", count: 2 }, o.options));
                t.equal(error, undefined);
                check(t, "serverStream", o.seen.header, o.seen.trailer);
              });
              t.test("server streaming with zero messages", async (t) => {
                const o = observe();
                await collect(client.serverStream({ text: "h", count: 0 }, o.options));
                check(t, "serverStream", o.seen.header, o.seen.trailer);
              });
              t.test("client streaming", async (t) => {
                const o = observe();
                await client.clientStream([{ text: "h" }], o.options);
                check(t, "clientStream", o.seen.header, o.seen.trailer);
              });
              if (httpVersion === "2") {
                t.test("bidi", async (t) => {
                  const o = observe();
                  await collect(client.bidi([{ text: "h" }, { text: "i" }], o.options));
                  check(t, "bidi", o.seen.header, o.seen.trailer);
                });
              }
              t.test("on a unary error: echoed trailers are in the error metadata", async (t) => {
                const o = observe();
                const err = await rejection(client.unary({ text: "error:not_found:x" }, o.options));
                t.equal(err.code, Code.NotFound);
                t.equal(err.metadata.get("x-echo-trailer"), "trailer value");
                const got = err.metadata.get("x-echo-bin");
                t.equal(hex(decodeBinaryHeader(got ?? "")), hex(bin), "-bin trailer in the error metadata");
                t.equal(err.metadata.get("x-error-meta"), "yes");
                t.equal(o.seen.trailer?.get("x-error-meta"), "yes", "onTrailer sees the error metadata");
                t.equal(o.seen.header?.get("x-echo-header"), "header value", "onHeader is called on failure");
              });
              t.test("on a stream error: header arrives, trailers in the error metadata", async (t) => {
                const o = observe();
                const { messages, error } = await collect(
                  client.serverStream({ text: "error:not_found:x", count: 1 }, o.options),
                );
                t.equal(messages.length, 1);
                t.equal(o.seen.header?.get("x-echo-header"), "header value");
                t.equal(error?.code, Code.NotFound);
                t.equal(error?.metadata.get("x-echo-trailer"), "trailer value");
                const got = error?.metadata.get("x-echo-bin");
                t.equal(hex(decodeBinaryHeader(got ?? "")), hex(bin), "-bin trailer in the error metadata");
                t.equal(error?.metadata.get("x-error-meta"), "yes");
                t.equal(o.seen.trailer?.get("x-echo-trailer"), "trailer value", "onTrailer called on failure");
              });
            });

            // Timing-based tests once per protocol and HTTP version: the codec and compression don't change them.
            if (!binary || gzip) return;

            t.test("a unary error keeps the response headers in its metadata, as connect-es does", async (t) => {
              // connect-node sends the handler's headers in a HEADERS frame of their own, then the status
              // in the trailers (not a trailers-only response). onHeader gets them; the error metadata
              // should too, as on the Connect protocol path (unaryError merges header and trailer) and in
              // connect-es's clients (validateTrailer appends the header to the error's metadata).
              let header: Headers | undefined;
              const err = await rejection(
                client.unary(
                  { text: "error:not_found:x" },
                  { headers: { "x-echo-header": "hv" }, onHeader: (h) => (header = h) },
                ),
              );
              t.equal(err.code, Code.NotFound);
              t.equal(err.metadata.get("x-error-meta"), "yes");
              t.equal(header?.get("x-echo-header"), "hv", "onHeader gets the response header of a failed call");
              t.equal(err.metadata.get("x-echo-header"), "hv", "the response header is in the error metadata");
            });

            t.test("large messages both ways, and readMaxBytes", async (t) => {
              const big = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31) % 251);
              const r = await client.unary({ text: "big", payload: big });
              t.equal(r.payload.byteLength, big.byteLength);
              t.ok(Buffer.from(r.payload).equals(Buffer.from(big)), "3 MiB round-trip intact");
              const { messages, error } = await collect(client.serverStream({ count: 3, payload: big }));
              t.equal(error, undefined);
              t.same(
                messages.map((m) => m.payload.byteLength),
                [big.byteLength, big.byteLength, big.byteLength],
              );
              const cs = await client.clientStream([{ payload: big }, { payload: big }]);
              t.equal(cs.index, 2);
              // The default readMaxBytes is 4 MiB: a larger response fails, and the client stays usable.
              const err = await rejection(client.unary({ payload: new Uint8Array(5 * 1024 * 1024) }));
              t.equal(err.code, Code.ResourceExhausted);
              t.match(err.rawMessage, /readMaxBytes/);
              t.equal((await client.unary({ text: "after" })).text, "after");
            });

            t.test("timeoutMs 0 fails at once with deadline_exceeded, without a request", async (t) => {
              const n = server.requests.length;
              const err = await rejection(client.unary({ text: "never" }, { timeoutMs: 0 }));
              t.equal(err.code, Code.DeadlineExceeded);
              t.equal(server.requests.length, n, "nothing reached the server");
            });

            t.test("deadlines", async (t) => {
              t.test("the server handler sees the timeout", async (t) => {
                const r = await client.unary({ text: "in time" }, { timeoutMs: 5000 });
                t.equal(r.text, "in time");
                const seen = server.log.last?.timeoutMs;
                t.type(seen, "number", "ctx.timeoutMs() is set");
                t.ok(seen !== undefined && seen > 3000 && seen <= 5000, `ctx.timeoutMs() ${seen} is about 5000`);
                const h = lastRequest().headers[protocol === "connect" ? "connect-timeout-ms" : "grpc-timeout"];
                t.ok(h, "the deadline header was sent");

                const { error } = await collect(client.serverStream({ count: 1 }, { timeoutMs: 4000 }));
                t.equal(error, undefined);
                const s = server.log.last?.timeoutMs;
                t.ok(s !== undefined && s > 2000 && s <= 4000, `streaming: ctx.timeoutMs() ${s} is about 4000`);

                await client.unary({ text: "no deadline" });
                t.equal(server.log.last?.timeoutMs, undefined, "no timeoutMs, no deadline");
              });

              t.test("a slow unary handler fails the call with deadline_exceeded", async (t) => {
                const started = Date.now();
                const call = server.log.next();
                const err = await rejection(client.unary({ text: "slow", delayMs: 5000 }, { timeoutMs: 200 }));
                t.equal(err.code, Code.DeadlineExceeded);
                t.ok(Date.now() - started < 2000, "the call did not wait for the handler");
                await within((await call).aborted, ABORT_WAIT_MS, "the handler's signal aborts");
                t.ok((await call).signal.aborted, "the handler's signal aborted");
              });

              t.test("a slow server stream fails with deadline_exceeded after some messages", async (t) => {
                const started = Date.now();
                const { messages, error } = await collect(
                  client.serverStream({ text: "slow", count: 50, delayMs: 60 }, { timeoutMs: 300 }),
                );
                t.equal(error?.code, Code.DeadlineExceeded);
                t.ok(messages.length >= 1 && messages.length < 50, `cut short after ${messages.length} messages`);
                t.ok(Date.now() - started < 2000, "promptly");
              });

              if (httpVersion === "2") {
                t.test("a slow bidi fails with deadline_exceeded", async (t) => {
                  const call = server.log.next();
                  const { error } = await collect(client.bidi([{ text: "slow", delayMs: 5000 }], { timeoutMs: 200 }));
                  t.equal(error?.code, Code.DeadlineExceeded);
                  await within((await call).aborted, ABORT_WAIT_MS, "the handler's signal aborts");
                });
              }
            });

            t.test("cancellation", async (t) => {
              t.test("aborting mid server-stream cancels the call and the server handler", async (t) => {
                const ac = new AbortController();
                const call = server.log.next();
                const received: number[] = [];
                let error: unknown;
                try {
                  for await (const m of client.serverStream(
                    { text: "c", count: 200, delayMs: 20 },
                    { signal: ac.signal },
                  )) {
                    received.push(m.index);
                    if (received.length === 2) ac.abort();
                  }
                } catch (e) {
                  error = e;
                }
                t.equal((error as ConnectError | undefined)?.code, Code.Canceled, "the call fails with canceled");
                t.same(received, [0, 1], "no message after the abort");
                const reason = await within((await call).aborted, ABORT_WAIT_MS, "the handler's signal aborts");
                t.ok((await call).signal.aborted, "ctx.signal aborted on the server");
                t.ok(reason !== undefined, "with a reason");
              });

              t.test("aborting a unary call while the handler runs", async (t) => {
                const ac = new AbortController();
                const call = server.log.next();
                const p = rejection(client.unary({ text: "wait", delayMs: 5000 }, { signal: ac.signal }));
                const rec = await call;
                ac.abort();
                const err = await p;
                t.equal(err.code, Code.Canceled);
                await within(rec.aborted, ABORT_WAIT_MS, "the handler's signal aborts");
                t.ok(rec.signal.aborted);
              });

              t.test("an already-aborted signal fails at once, without a request", async (t) => {
                const n = server.requests.length;
                const err = await rejection(client.unary({ text: "never" }, { signal: AbortSignal.abort() }));
                t.equal(err.code, Code.Canceled);
                t.equal(server.requests.length, n, "nothing reached the server");
              });

              t.test("breaking out of a stream loop cancels the server handler", async (t) => {
                const call = server.log.next();
                for await (const m of client.serverStream({ text: "b", count: 200, delayMs: 20 })) {
                  if (m.index === 1) break;
                }
                const rec = await call;
                await within(rec.aborted, ABORT_WAIT_MS, "the handler's signal aborts");
                t.ok(rec.signal.aborted);
              });
            });
          });
        }
      }
    }

    t.test("a base URL with a path prefix", async (t) => {
      const prefixed = await startConnectNodeServer({
        http2: httpVersion === "2",
        adapter: { requestPathPrefix: "/api/v1" },
      });
      t.teardown(prefixed.close);
      for (const protocol of protocols) {
        t.test(protocol, async (t) => {
          const transport = transportFor(protocol, { baseUrl: `${prefixed.baseUrl}/api/v1/`, httpVersion });
          t.teardown(() => transport.close());
          const client = createClient(TestService, transport);
          t.equal((await client.unary({ text: "p" })).text, "p");
          t.equal(prefixed.requests[prefixed.requests.length - 1].url, "/api/v1/fcr.test.v1.TestService/Unary");
          const { messages } = await collect(client.serverStream({ text: "p", count: 2 }));
          t.equal(messages.length, 2);

          const bare = transportFor(protocol, { baseUrl: prefixed.baseUrl, httpVersion });
          t.teardown(() => bare.close());
          const err = await rejection(createClient(TestService, bare).unary({ text: "p" }));
          t.equal(err.code, Code.Unimplemented, "without the prefix: HTTP 404, unimplemented");
        });
      }
    });

    t.test("Connect GET", async (t) => {
      for (const binary of [true, false]) {
        const encoding = binary ? "proto" : "json";
        for (const gzip of [false, true]) {
          t.test(`${encoding} ${gzip ? "gzip" : "identity"}`, async (t) => {
            const transport = createConnectTransport({
              baseUrl: server.baseUrl,
              httpVersion,
              useBinaryFormat: binary,
              useHttpGet: true,
              ...(gzip ? { sendCompression: "gzip", compressMinBytes: 0 } : {}),
            });
            t.teardown(() => transport.close());
            const client = createClient(TestService, transport);

            const before = { ...counts };
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            const r = await client.echo(
              { text: "get ✓ &=?/+", payload: PAYLOAD },
              {
                headers: { "x-echo-header": "h", "x-echo-trailer": "tr" },
                onHeader: (h) => (header = h),
                onTrailer: (tr) => (trailer = tr),
              },
            );
            const req = lastRequest();
            t.equal(req.method, "GET", "the server got a GET");
            t.equal(server.log.last?.requestMethod, "GET", "connect-node served it as GET");
            t.equal(server.log.last?.method, "echo");
            t.match(req.url, /^\/fcr\.test\.v1\.TestService\/Echo\?/);
            t.match(req.url, new RegExp(`[?&]encoding=${encoding}(&|$)`), "encoding in the query");
            t.match(req.url, /[?&]connect=v1(&|$)/, "connect=v1 in the query");
            t.match(req.url, /[?&]message=/, "message in the query");
            t.equal(req.headers["content-type"], undefined, "no content-type on a GET");
            t.equal(r.text, "get ✓ &=?/+");
            t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
            t.equal(header?.get("x-echo-header"), "h");
            t.equal(trailer?.get("x-echo-trailer"), "tr");
            if (gzip) {
              t.match(req.url, /[?&]compression=gzip(&|$)/, "the query message is gzipped");
              t.match(req.url, /[?&]base64=1(&|$)/, "and base64");
              t.ok(counts.decompress > before.decompress, "the server decompressed the query message");
            } else {
              t.notMatch(req.url, /[?&]compression=/);
              t.equal(counts.decompress, before.decompress);
            }
            t.ok(counts.compress > before.compress, "the response was compressed (accept-encoding sent)");
            t.equal(header?.get("content-encoding"), "gzip");

            const empty = await client.echo({});
            t.equal(lastRequest().method, "GET");
            t.equal(empty.text, "");

            const err = await rejection(client.echo({ text: "error:not_found:via get" }));
            t.equal(lastRequest().method, "GET");
            checkError(t, err, Code.NotFound, "not_found", "via get");

            const u = await client.unary({ text: "post" });
            t.equal(u.text, "post");
            t.equal(lastRequest().method, "POST", "a method with side effects still goes as POST");
            t.equal(server.log.last?.requestMethod, "POST");
          });
        }
      }
    });
  });
}
