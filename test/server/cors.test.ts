// @fastify/cors in front of the plugin, with the header lists the library exports:
// preflights are answered, and the hijacked RPC responses keep the CORS headers hooks set.
import http2 from "node:http2";
import cors from "@fastify/cors";
import t from "tap";
import { corsAllowedHeaders, corsAllowedMethods, corsExposedHeaders } from "../../lib/index.js";
import { startServer } from "../helpers/server.js";

const ORIGIN = "http://app.example";

for (const h2 of [false, true]) {
  t.test(`CORS over ${h2 ? "h2c" : "HTTP/1.1"}`, async (t) => {
    const s = await startServer({
      http2: h2,
      setup: async (app) => {
        await app.register(cors, {
          origin: [ORIGIN],
          methods: [...corsAllowedMethods],
          allowedHeaders: [...corsAllowedHeaders, "X-Echo-Header"],
          exposedHeaders: [...corsExposedHeaders, "X-Echo-Header"],
        });
      },
    });
    t.teardown(() => s.close());
    const request = async (method: string, headers: Record<string, string>, requestBody?: string) => {
      if (!h2) {
        const res = await fetch(`${s.baseUrl}/fcr.test.v1.TestService/Unary`, { method, headers, body: requestBody });
        return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
      }
      const session = http2.connect(s.baseUrl);
      try {
        return await new Promise<{ status: number; headers: Record<string, string>; body: string }>(
          (resolve, reject) => {
            const st = session.request({ ":method": method, ":path": "/fcr.test.v1.TestService/Unary", ...headers });
            let head: Record<string, string> = {};
            let body = "";
            st.on("response", (h) => {
              head = h as Record<string, string>;
            });
            st.on("data", (d) => {
              body += d;
            });
            st.on("end", () => resolve({ status: Number(head[":status"]), headers: head, body }));
            st.on("error", reject);
            st.end(requestBody);
          },
        );
      } finally {
        session.close();
      }
    };

    const pre = await request("OPTIONS", {
      origin: ORIGIN,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version,x-grpc-web",
    });
    t.equal(pre.status, 204, "the preflight is answered by @fastify/cors");
    t.equal(pre.headers["access-control-allow-origin"], ORIGIN);
    t.match(pre.headers["access-control-allow-methods"], /POST/);
    t.match(pre.headers["access-control-allow-headers"], /Connect-Protocol-Version/);

    const res = await request(
      "POST",
      { origin: ORIGIN, "content-type": "application/json", "x-echo-header": "hi" },
      JSON.stringify({ text: "cors" }),
    );
    t.equal(res.status, 200);
    t.same(JSON.parse(res.body), { text: "cors" }, "the RPC itself is served");
    t.equal(res.headers["access-control-allow-origin"], ORIGIN, "the hijacked response keeps the hook's CORS header");
    t.match(res.headers["access-control-expose-headers"], /Grpc-Status/);
    t.equal(res.headers["x-echo-header"], "hi", "the handler's own headers are still there");
    t.equal(res.headers["content-type"], "application/json", "protocol headers are not overridden");

    const other = await request("POST", { origin: "http://evil.example", "content-type": "application/json" }, "{}");
    t.equal(other.headers["access-control-allow-origin"], undefined, "an origin not allowed gets no CORS header");
  });
}
