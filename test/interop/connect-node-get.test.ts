// Connect GET with the real peer: connect-node's useHttpGet sends
// side-effect-free methods (Echo is NO_SIDE_EFFECTS) as GET with the message
// in the query; the plugin must serve them, and POST must keep working.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import t from "tap";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { startServer } from "../helpers/server.js";

const PAYLOAD = Uint8Array.from({ length: 600 }, (_, i) => (i * 13) % 256);

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

for (const http2 of [false, true]) {
  t.test(http2 ? "h2c" : "HTTP/1.1", async (t) => {
    const seen: { method: string; url: string }[] = [];
    const s = await startServer({
      http2,
      plugin: { compressMinBytes: 16 },
      setup(app) {
        app.addHook("onRequest", async (request) => {
          seen.push({ method: request.method, url: request.url });
        });
      },
    });
    t.teardown(s.close);
    const last = () => seen[seen.length - 1];
    const transport = (binary: boolean, opts: { get?: boolean; gzip?: boolean } = {}) =>
      createConnectTransport({
        baseUrl: s.baseUrl,
        httpVersion: http2 ? "2" : "1.1",
        useBinaryFormat: binary,
        useHttpGet: opts.get ?? true,
        ...(opts.gzip
          ? { sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 16 }
          : {}),
      });

    for (const binary of [true, false]) {
      const encoding = binary ? "proto" : "json";
      t.test(`${encoding}: Echo goes as GET and round-trips`, async (t) => {
        const client = createClient(TestService, transport(binary));
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
        t.equal(last().method, "GET", "the peer used GET");
        t.match(last().url, new RegExp(`[?&]encoding=${encoding}(&|$)`), "encoding in the query");
        t.match(last().url, /[?&]message=/, "message in the query");
        t.equal(r.text, "get ✓ &=?/+");
        t.equal(hex(r.payload), hex(PAYLOAD), "payload bytes round-trip");
        t.equal(header?.get("x-echo-header"), "h");
        t.equal(trailer?.get("x-echo-trailer"), "tr");
      });

      t.test(`${encoding}: GET with a gzipped message in the query`, async (t) => {
        const client = createClient(TestService, transport(binary, { gzip: true }));
        let header: Headers | undefined;
        const r = await client.echo({ text: "zip", payload: PAYLOAD }, { onHeader: (h) => (header = h) });
        t.equal(last().method, "GET");
        t.match(last().url, /[?&]compression=gzip(&|$)/, "the peer compressed the query message");
        t.equal(r.text, "zip");
        t.equal(hex(r.payload), hex(PAYLOAD));
        t.match(last().url, /[?&]base64=1(&|$)/, "a compressed query message is base64");
        // connect-node drops Accept-Encoding from GET requests, so the server
        // must not compress the response.
        t.equal(header?.get("content-encoding") ?? null, null, "no Accept-Encoding, so no compressed response");
      });

      t.test(`${encoding}: GET with an empty message`, async (t) => {
        const client = createClient(TestService, transport(binary));
        const r = await client.echo({});
        t.equal(last().method, "GET");
        t.equal(r.text, "");
      });

      t.test(`${encoding}: an error over GET keeps code, details and metadata`, async (t) => {
        const client = createClient(TestService, transport(binary));
        let err: ConnectError | undefined;
        try {
          await client.echo({ text: "error:not_found:gone" });
        } catch (e) {
          err = ConnectError.from(e);
        }
        t.equal(last().method, "GET");
        t.equal(err?.code, Code.NotFound);
        t.equal(err?.rawMessage, "gone");
        t.same(
          err?.findDetails(ErrorInfoSchema).map((d) => d.reason),
          ["on-purpose"],
        );
        t.equal(err?.metadata.get("x-error-meta"), "yes");
      });

      t.test(`${encoding}: Echo over POST still works`, async (t) => {
        const client = createClient(TestService, transport(binary, { get: false }));
        const r = await client.echo({ text: "post", payload: PAYLOAD });
        t.equal(last().method, "POST");
        t.equal(r.text, "post");
        t.equal(hex(r.payload), hex(PAYLOAD));
      });

      t.test(`${encoding}: Unary (not side-effect free) stays POST even with useHttpGet`, async (t) => {
        const client = createClient(TestService, transport(binary));
        const r = await client.unary({ text: "u" });
        t.equal(last().method, "POST");
        t.equal(r.text, "u");
      });
    }
  });
}
