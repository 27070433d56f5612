import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import t from "tap";
import { TestService } from "./gen/fcr/test/v1/test_pb.js";
import { startServer } from "./helpers/server.js";

t.test("smoke", async (t) => {
  for (const http2 of [false, true]) {
    const s = await startServer({ http2 });
    t.teardown(s.close);
    const client = createClient(
      TestService,
      createConnectTransport({ baseUrl: s.baseUrl, httpVersion: http2 ? "2" : "1.1" }),
    );
    const r = await client.unary({ text: "hi" });
    t.equal(r.text, "hi");
    const out = [];
    for await (const m of client.serverStream({ text: "s", count: 3 })) out.push(m.index);
    t.same(out, [0, 1, 2]);
  }
});
