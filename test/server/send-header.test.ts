// ctx.sendHeader(): a streaming handler sends its response headers before its first message.
import t from "tap";
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "../../lib/client/index.js";
import { onePortServerFactory } from "../../lib/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { startServer } from "../helpers/server.js";

t.test("headers arrive before the first message when the handler sends them early", async (t) => {
  let release!: () => void;
  let headerSeen!: (h: Headers) => void;
  const s = await startServer({
    // HTTP/1.1 and h2c on one port.
    fastify: { serverFactory: onePortServerFactory() },
    plugin: {
      routes(router) {
        router.service(TestService, {
          async *serverStream(req, ctx) {
            ctx.responseHeader.set("x-early", req.text);
            ctx.sendHeader();
            ctx.responseHeader.set("x-too-late", "1");
            await new Promise<void>((r) => {
              release = r;
            });
            yield { text: "after" };
          },
        });
      },
    },
  });
  t.teardown(() => s.close());
  for (const [name, transport] of [
    ["connect", createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2" })],
    ["grpc", createGrpcTransport({ baseUrl: s.baseUrl })],
    ["grpc-web", createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "2" })],
    ["grpc-web over HTTP/1.1", createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" })],
  ] as const) {
    t.teardown(() => transport.close());
    const client = createClient(TestService, transport);
    const header = new Promise<Headers>((r) => {
      headerSeen = r;
    });
    const messages: string[] = [];
    const done = (async () => {
      for await (const m of client.serverStream({ text: name }, { onHeader: (h) => headerSeen(h) }))
        messages.push(m.text);
    })();
    const h = await header;
    t.equal(h.get("x-early"), name, `${name}: the header arrived while the handler waited`);
    t.equal(h.get("x-too-late"), null, `${name}: headers set after sendHeader are not sent`);
    t.same(messages, [], `${name}: no message yet`);
    release();
    await done;
    t.same(messages, ["after"], `${name}: the stream then completes`);
  }
});
