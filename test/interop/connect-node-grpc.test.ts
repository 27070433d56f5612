// Interop with @connectrpc/connect-node speaking gRPC (h2c) and gRPC-Web
// (HTTP/1.1 and h2c) to the plugin: every call kind in proto and JSON, errors
// with details and metadata, custom and -bin headers and trailers, gzip, and a
// full-duplex bidi exchange over gRPC.
import {
  Code,
  type ConnectError,
  createClient,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type Transport,
} from "@connectrpc/connect";
import {
  compressionGzip,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import t, { type Test } from "tap";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { collect, countingGzip, hex, PAYLOAD, type Req, rejection, requests } from "../helpers/peer.js";
import { startServer } from "../helpers/server.js";

function checkErrorDetail(t: Test, err: ConnectError | undefined, code: Code, codeName: string, message: string) {
  t.ok(err, "the call failed");
  if (!err) return;
  t.equal(err.code, code, "code");
  t.equal(err.rawMessage, message, "rawMessage");
  t.same(
    err.findDetails(ErrorInfoSchema).map((d) => ({ reason: d.reason, fields: d.fields })),
    [{ reason: "on-purpose", fields: { codeName } }],
    "the ErrorInfo detail round-trips in grpc-status-details-bin",
  );
  t.equal(err.metadata.get("x-error-meta"), "yes", "error metadata round-trips");
}

type Kind = "grpc" | "grpc-web";

function transportFor(
  t: Test,
  kind: Kind,
  http2: boolean,
  baseUrl: string,
  extra: { useBinaryFormat: boolean; compress: boolean },
): Transport {
  const compression = extra.compress
    ? { sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 16 }
    : { acceptCompression: [] };
  const common = { baseUrl, useBinaryFormat: extra.useBinaryFormat, ...compression };
  if (!http2) return createGrpcWebTransport({ ...common, httpVersion: "1.1" });
  // An own session manager, so teardown can close the HTTP/2 connection at once.
  const sessionManager = new Http2SessionManager(baseUrl);
  t.teardown(() => sessionManager.abort());
  return kind === "grpc"
    ? createGrpcTransport({ ...common, sessionManager })
    : createGrpcWebTransport({ ...common, httpVersion: "2", sessionManager });
}

const variants: { kind: Kind; http2: boolean }[] = [
  { kind: "grpc", http2: true },
  { kind: "grpc-web", http2: false },
  { kind: "grpc-web", http2: true },
];

for (const { kind, http2 } of variants) {
  for (const binary of [true, false]) {
    for (const compress of [false, true]) {
      // gzip once per transport is enough; JSON with gzip adds nothing.
      if (compress && !binary) continue;
      const name = `${kind} ${http2 ? "h2c" : "HTTP/1.1"} ${binary ? "proto" : "json"}${compress ? " gzip" : ""}`;
      t.test(name, async (t) => {
        const { compression, counts } = countingGzip();
        const s = await startServer({ http2, plugin: { compressMinBytes: 16, acceptCompression: [compression] } });
        t.teardown(s.close);
        const client = createClient(
          TestService,
          transportFor(t, kind, http2, s.baseUrl, { useBinaryFormat: binary, compress }),
        );

        t.test("unary", async (t) => {
          let header: Headers | undefined;
          const r = await client.unary({ text: "héllo ✓", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
          t.equal(r.text, "héllo ✓");
          t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
          t.equal(
            header?.get("content-type"),
            `application/${kind}${binary ? (kind === "grpc" ? "" : "+proto") : "+json"}`,
            "the response content-type matches the request's protocol and codec",
          );
          if (compress) {
            t.ok(counts.decompress > 0, "the server decompressed the request");
            t.ok(counts.compress > 0, "the server compressed the response");
            t.equal(header?.get("grpc-encoding"), "gzip");
          } else {
            t.equal(counts.decompress + counts.compress, 0, "nothing compressed");
          }
        });

        t.test("unary with an empty message (a zero-length envelope)", async (t) => {
          const r = await client.unary({});
          t.equal(r.text, "");
          t.equal(r.payload.byteLength, 0);
        });

        t.test("server streaming", async (t) => {
          const { messages, error } = await collect(client.serverStream({ text: "s", count: 4, payload: PAYLOAD }));
          t.equal(error, undefined);
          t.same(
            messages.map((m) => [m.text, m.index, hex(m.payload)]),
            [0, 1, 2, 3].map((i) => ["s", i, hex(PAYLOAD)]),
          );
        });

        t.test("server streaming with zero messages", async (t) => {
          const { messages, error } = await collect(client.serverStream({ text: "none", count: 0 }));
          t.equal(error, undefined);
          t.same(messages, []);
        });

        t.test("client streaming", async (t) => {
          const r = await client.clientStream(requests({ text: "a", payload: PAYLOAD }, { text: "b" }, { text: "c" }));
          t.equal(r.text, "a,b,c");
          t.equal(r.index, 3);
        });

        t.test("bidi streaming", async (t) => {
          const { messages, error } = await collect(
            client.bidi(requests({ text: "x", payload: PAYLOAD }, { text: "y" }, { text: "z" })),
          );
          t.equal(error, undefined);
          t.same(
            messages.map((m) => [m.text, m.index, hex(m.payload)]),
            [
              ["x", 0, hex(PAYLOAD)],
              ["y", 1, ""],
              ["z", 2, ""],
            ],
          );
        });

        if (kind === "grpc") {
          t.test("bidi is full-duplex: each request goes out only after the previous reply", async (t) => {
            // A half-duplex server would wait for the end of the requests and
            // this exchange would stall until the timeout.
            let release: (() => void) | undefined;
            async function* pingPong(): AsyncIterable<Req> {
              for (let i = 0; i < 3; i++) {
                const next = new Promise<void>((r) => (release = r));
                yield { text: `p${i}` };
                await next;
              }
            }
            const seen: string[] = [];
            for await (const m of client.bidi(pingPong(), { timeoutMs: 3000 })) {
              seen.push(m.text);
              release?.();
            }
            t.same(seen, ["p0", "p1", "p2"]);
          });
        }

        t.test("errors with details and metadata", async (t) => {
          t.test("unary", async (t) => {
            const err = await rejection(client.unary({ text: "error:not_found:no such thing" }));
            checkErrorDetail(t, err, Code.NotFound, "not_found", "no such thing");
          });
          t.test("unary, a message with colons, percent and unicode", async (t) => {
            const err = await rejection(client.unary({ text: "error:failed_precondition:a:b 100% ✓ ü" }));
            checkErrorDetail(t, err, Code.FailedPrecondition, "failed_precondition", "a:b 100% ✓ ü");
          });
          t.test("server streaming, after some messages", async (t) => {
            const { messages, error } = await collect(
              client.serverStream({ text: "error:permission_denied:late", count: 2 }),
            );
            t.equal(messages.length, 2, "the messages before the error arrive");
            checkErrorDetail(t, error, Code.PermissionDenied, "permission_denied", "late");
          });
          t.test("server streaming, before any message", async (t) => {
            const { messages, error } = await collect(client.serverStream({ text: "error:unavailable:early" }));
            t.same(messages, []);
            checkErrorDetail(t, error, Code.Unavailable, "unavailable", "early");
          });
          t.test("client streaming", async (t) => {
            const err = await rejection(
              client.clientStream(requests({ text: "ok" }, { text: "error:resource_exhausted:too many" })),
            );
            checkErrorDetail(t, err, Code.ResourceExhausted, "resource_exhausted", "too many");
          });
          t.test("bidi, after a message", async (t) => {
            const { messages, error } = await collect(
              client.bidi(requests({ text: "first" }, { text: "error:aborted:second" })),
            );
            t.same(
              messages.map((m) => m.text),
              ["first"],
            );
            checkErrorDetail(t, error, Code.Aborted, "aborted", "second");
          });
          t.test('a plain Error is "internal error" without the secret', async (t) => {
            const err = await rejection(client.unary({ text: "error:throw" }));
            t.equal(err.code, Code.Internal);
            t.equal(err.rawMessage, "internal error");
            t.same(err.details, []);
          });
          t.test("a deadline shorter than the handler ends deadline_exceeded", async (t) => {
            const err = await rejection(client.unary({ text: "slow", delayMs: 3000 }, { timeoutMs: 100 }));
            t.equal(err.code, Code.DeadlineExceeded);
          });
        });

        t.test("custom headers and trailers round-trip, -bin included", async (t) => {
          const bin = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f]);
          const headers = {
            "x-echo-header": "header value",
            "x-echo-trailer": "trailer value",
            "x-echo-bin": encodeBinaryHeader(bin),
          };
          const check = (t: Test, header: Headers | undefined, trailer: Headers | undefined) => {
            t.equal(header?.get("x-echo-header"), "header value", "response header");
            t.equal(trailer?.get("x-echo-trailer"), "trailer value", "response trailer");
            const got = trailer?.get("x-echo-bin");
            t.ok(got, "binary trailer present");
            if (got) t.equal(hex(decodeBinaryHeader(got)), hex(bin), "binary trailer bytes round-trip");
            t.equal(header?.get("x-echo-trailer") ?? null, null, "trailers are not headers");
          };
          const hooks = () => {
            const got: { header?: Headers; trailer?: Headers } = {};
            return {
              got,
              opts: {
                headers,
                onHeader: (h: Headers) => {
                  got.header = h;
                },
                onTrailer: (tr: Headers) => {
                  got.trailer = tr;
                },
              },
            };
          };
          t.test("unary", async (t) => {
            const { got, opts } = hooks();
            await client.unary({ text: "h" }, opts);
            check(t, got.header, got.trailer);
          });
          t.test("server streaming", async (t) => {
            const { got, opts } = hooks();
            await collect(client.serverStream({ text: "h", count: 2 }, opts));
            check(t, got.header, got.trailer);
          });
          t.test("client streaming", async (t) => {
            const { got, opts } = hooks();
            await client.clientStream(requests({ text: "h" }), opts);
            check(t, got.header, got.trailer);
          });
          t.test("bidi", async (t) => {
            const { got, opts } = hooks();
            await collect(client.bidi(requests({ text: "h" }, { text: "i" }), opts));
            check(t, got.header, got.trailer);
          });
          t.test("on an error: header, trailer and error metadata reach the client", async (t) => {
            const err = await rejection(client.unary({ text: "error:not_found:x" }, { headers }));
            t.equal(err.metadata.get("x-echo-header"), "header value");
            t.equal(err.metadata.get("x-echo-trailer"), "trailer value");
            t.equal(err.metadata.get("x-error-meta"), "yes");
          });
        });
      });
    }
  }
}
