// How the client frames a request body over HTTP/1.1: a unary call's body is
// known whole, so it goes with Content-Length in the write that ends it (as
// connect-go and a plain Node client send it), not in chunked encoding; a
// streaming call's body is chunked. A plain node:http server records what
// arrives.
import t from "tap";
import {
  type Client,
  createClient,
  createConnectTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { answerServersFor, type Exchange } from "../helpers/answer-servers.js";

const { peer, keep } = await answerServersFor(t);

function clientOf(transport: Transport): Client<typeof TestService> {
  return createClient(TestService, keep(transport));
}

/** The next request the HTTP/1.1 server reads, answered with a bare 500 (the call's outcome is not the point). */
function nextRequest(): Promise<Exchange> {
  return new Promise((resolve) => {
    peer.answer = (x) => {
      resolve(x);
      x.send({ status: 500 });
    };
  });
}

const text = "a request body known whole";
const clients = {
  connect: clientOf(createConnectTransport({ baseUrl: peer.h1Url })),
  "connect JSON": clientOf(createConnectTransport({ baseUrl: peer.h1Url, useBinaryFormat: false })),
  "gRPC-Web": clientOf(createGrpcWebTransport({ baseUrl: peer.h1Url })),
};

for (const [name, client] of Object.entries(clients)) {
  t.test(`${name} unary over HTTP/1.1: Content-Length, not chunked`, async (t) => {
    const seen = nextRequest();
    await client.unary({ text }).catch(() => {});
    const x = await seen;
    t.equal(x.headers["transfer-encoding"], undefined, "no transfer-encoding");
    t.equal(x.headers["content-length"], String(x.body.byteLength), "content-length is the body's length");
    t.ok(x.body.toString("latin1").includes(text), "the body is the request message");
  });
}

t.test("connect client streaming over HTTP/1.1: chunked, since the body is not known whole", async (t) => {
  const seen = nextRequest();
  async function* requests() {
    yield { text: "one" };
    yield { text: "two" };
  }
  await clients.connect.clientStream(requests()).catch(() => {});
  const x = await seen;
  t.equal(x.headers["transfer-encoding"], "chunked");
  t.equal(x.headers["content-length"], undefined);
  t.ok(x.body.toString("latin1").includes("two"), "both messages arrive");
});
