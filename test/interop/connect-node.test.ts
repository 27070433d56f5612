// Interop with the real peer: @connectrpc/connect-node calls the plugin on a
// listening port, over HTTP/1.1 and h2c, with proto and JSON, with and without
// gzip. Every call kind, errors, headers and trailers.
import { Code, type ConnectError, createClient, decodeBinaryHeader, encodeBinaryHeader } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
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
    "the ErrorInfo detail round-trips",
  );
  t.equal(err.metadata.get("x-error-meta"), "yes", "error metadata round-trips");
}

function checkInternal(t: Test, err: ConnectError | undefined) {
  t.ok(err, "the call failed");
  if (!err) return;
  t.equal(err.code, Code.Internal);
  t.equal(err.rawMessage, "internal error");
  t.notMatch(err.message, /secret internal detail/, "the thrown message stays on the server");
  t.notMatch(err.message, /\n\s+at /, "no stack trace");
  t.same(err.details, [], "no details");
  for (const [k, v] of err.metadata) {
    t.notMatch(v, /secret internal detail|\bat .*\.ts:\d+/, `metadata ${k} leaks nothing`);
  }
}

for (const http2 of [false, true]) {
  for (const binary of [true, false]) {
    for (const compress of [false, true]) {
      const name = `${http2 ? "h2c" : "HTTP/1.1"} ${binary ? "proto" : "json"} ${compress ? "gzip" : "identity"}`;
      t.test(name, async (t) => {
        const { compression, counts } = countingGzip();
        const s = await startServer({ http2, plugin: { compressMinBytes: 16, acceptCompression: [compression] } });
        t.teardown(s.close);
        const client = createClient(
          TestService,
          createConnectTransport({
            baseUrl: s.baseUrl,
            httpVersion: http2 ? "2" : "1.1",
            useBinaryFormat: binary,
            ...(compress
              ? { sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 16 }
              : { acceptCompression: [] }),
          }),
        );

        /** After a call with a large request and response: did gzip run both ways on the server? */
        const checkCompression = (t: Test, before: typeof counts, header: Headers | undefined, name: string) => {
          if (compress) {
            t.ok(counts.decompress > before.decompress, "the server decompressed the request");
            t.ok(counts.compress > before.compress, "the server compressed the response");
            t.equal(header?.get(name), "gzip", `${name} says gzip`);
          } else {
            t.equal(counts.decompress, 0, "nothing decompressed");
            t.equal(counts.compress, 0, "nothing compressed");
            t.equal(header?.get(name) ?? null, null, `no ${name}`);
          }
        };

        t.test("unary", async (t) => {
          const before = { ...counts };
          let header: Headers | undefined;
          const r = await client.unary({ text: "héllo ✓", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
          t.equal(r.text, "héllo ✓");
          t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
          checkCompression(t, before, header, "content-encoding");
        });

        t.test("unary with an empty message", async (t) => {
          const r = await client.unary({});
          t.equal(r.text, "");
          t.equal(r.payload.byteLength, 0);
        });

        t.test("server streaming", async (t) => {
          const before = { ...counts };
          let header: Headers | undefined;
          const { messages, error } = await collect(
            client.serverStream({ text: "s", count: 4, payload: PAYLOAD }, { onHeader: (h) => (header = h) }),
          );
          t.equal(error, undefined);
          t.same(
            messages.map((m) => m.index),
            [0, 1, 2, 3],
          );
          for (const m of messages) {
            t.equal(m.text, "s");
            t.equal(hex(m.payload), hex(PAYLOAD), `payload of message ${m.index}`);
          }
          checkCompression(t, before, header, "connect-content-encoding");
        });

        t.test("server streaming with zero messages", async (t) => {
          const { messages, error } = await collect(client.serverStream({ text: "none", count: 0 }));
          t.equal(error, undefined);
          t.same(messages, []);
        });

        t.test("client streaming", async (t) => {
          const before = { ...counts };
          const r = await client.clientStream(
            requests({ text: "a", payload: PAYLOAD }, { text: "b", payload: PAYLOAD }, { text: "c" }),
          );
          t.equal(r.text, "a,b,c");
          t.equal(r.index, 3);
          if (compress) t.ok(counts.decompress >= before.decompress + 2, "each large request message was gzipped");
        });

        t.test("client streaming with zero messages", async (t) => {
          const r = await client.clientStream(requests());
          t.equal(r.text, "");
          t.equal(r.index, 0);
        });

        t.test("bidi streaming (half-duplex over HTTP/1.1)", async (t) => {
          const before = { ...counts };
          let header: Headers | undefined;
          const { messages, error } = await collect(
            client.bidi(
              requests({ text: "x", payload: PAYLOAD }, { text: "y", payload: PAYLOAD.subarray(1) }, { text: "z" }),
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
          checkCompression(t, before, header, "connect-content-encoding");
        });

        if (http2) {
          t.test("bidi streaming is full-duplex over HTTP/2", async (t) => {
            // Each request is sent only after the previous response arrived.
            let release: (() => void) | undefined;
            const seen: number[] = [];
            async function* pingPong(): AsyncIterable<Req> {
              for (let i = 0; i < 3; i++) {
                const next = new Promise<void>((r) => (release = r));
                yield { text: `p${i}` };
                await next;
              }
            }
            for await (const m of client.bidi(pingPong())) {
              seen.push(m.index);
              release?.();
            }
            t.same(seen, [0, 1, 2]);
          });
        }

        t.test("errors with details and metadata", async (t) => {
          t.test("unary", async (t) => {
            const err = await rejection(client.unary({ text: "error:not_found:no such thing" }));
            checkErrorDetail(t, err, Code.NotFound, "not_found", "no such thing");
          });
          t.test("unary, message with colons and unicode", async (t) => {
            const err = await rejection(client.unary({ text: "error:failed_precondition:a:b ✓ ü" }));
            checkErrorDetail(t, err, Code.FailedPrecondition, "failed_precondition", "a:b ✓ ü");
          });
          t.test("server streaming, after some messages", async (t) => {
            const { messages, error } = await collect(
              client.serverStream({ text: "error:permission_denied:late", count: 2, payload: PAYLOAD }),
            );
            t.equal(messages.length, 2, "the messages before the error arrive");
            for (const m of messages) t.equal(hex(m.payload), hex(PAYLOAD));
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
        });

        t.test('a plain Error is "internal error" without the secret', async (t) => {
          t.test("unary", async (t) => {
            checkInternal(t, await rejection(client.unary({ text: "error:throw" })));
          });
          t.test("server streaming", async (t) => {
            const { messages, error } = await collect(client.serverStream({ text: "error:throw", count: 1 }));
            t.equal(messages.length, 1);
            checkInternal(t, error);
          });
          t.test("client streaming", async (t) => {
            checkInternal(t, await rejection(client.clientStream(requests({ text: "error:throw" }))));
          });
          t.test("bidi", async (t) => {
            const { error } = await collect(client.bidi(requests({ text: "error:throw" })));
            checkInternal(t, error);
          });
        });

        t.test("custom headers and trailers round-trip", async (t) => {
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
          t.test("unary", async (t) => {
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            await client.unary(
              { text: "h" },
              { headers, onHeader: (h) => (header = h), onTrailer: (tr) => (trailer = tr) },
            );
            check(t, header, trailer);
          });
          t.test("server streaming", async (t) => {
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            await collect(
              client.serverStream(
                { text: "h", count: 2 },
                { headers, onHeader: (h) => (header = h), onTrailer: (tr) => (trailer = tr) },
              ),
            );
            check(t, header, trailer);
          });
          t.test("server streaming with zero messages", async (t) => {
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            await collect(
              client.serverStream(
                { text: "h", count: 0 },
                { headers, onHeader: (h) => (header = h), onTrailer: (tr) => (trailer = tr) },
              ),
            );
            check(t, header, trailer);
          });
          t.test("client streaming", async (t) => {
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            await client.clientStream(requests({ text: "h" }), {
              headers,
              onHeader: (h) => (header = h),
              onTrailer: (tr) => (trailer = tr),
            });
            check(t, header, trailer);
          });
          t.test("bidi", async (t) => {
            let header: Headers | undefined;
            let trailer: Headers | undefined;
            await collect(
              client.bidi(requests({ text: "h" }, { text: "i" }), {
                headers,
                onHeader: (h) => (header = h),
                onTrailer: (tr) => (trailer = tr),
              }),
            );
            check(t, header, trailer);
          });
          t.test("on an error, unary: headers and trailers reach the client as error metadata", async (t) => {
            const err = await rejection(client.unary({ text: "error:not_found:x" }, { headers }));
            t.equal(err.metadata.get("x-echo-header"), "header value");
            t.equal(err.metadata.get("x-echo-trailer"), "trailer value");
            t.equal(err.metadata.get("x-error-meta"), "yes");
          });
          t.test("on an error, server streaming: header arrives, trailer in error metadata", async (t) => {
            let header: Headers | undefined;
            const { error } = await collect(
              client.serverStream({ text: "error:not_found:x", count: 1 }, { headers, onHeader: (h) => (header = h) }),
            );
            t.equal(header?.get("x-echo-header"), "header value");
            t.equal(error?.metadata.get("x-echo-trailer"), "trailer value");
            t.equal(error?.metadata.get("x-error-meta"), "yes");
          });
        });
      });
    }
  }
}
