import * as http2 from "node:http2";
import { createClient, createGrpcTransport } from "/work/wt16a/lib/client/index.js";
import { TestService } from "/work/wt16a/test/gen/fcr/test/v1/test_pb.js";
import { startEchoH2Server } from "/work/wt16a/test/helpers/echo-h2-server.js";
const server = await startEchoH2Server();
const action = process.argv[2];
const marks = new Map<http2.ServerHttp2Session, string>();
let n = 0;
server.policy = (s, seen, answer) => {
  if (n++ % 10 !== 5) return answer();
  marks.set(s.session as any, action);
  if (action === "refused") s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  else if (action === "graceful") { s.session!.goaway(0, seen.id); answer(); }
  else if (action === "fatal") s.session!.goaway(http2.constants.NGHTTP2_PROTOCOL_ERROR);
  else if (action === "held") {}
  else if (action === "cancel") { s.end = (() => s) as any; s.close(8); }
};
const tr = createGrpcTransport({ baseUrl: server.url });
const c = createClient(TestService, tr);
let next = 0;
await Promise.all(Array.from({ length: 10 }, async () => { for (let i = next++; i < 500; i = next++) { try { await c.unary({ text: "u" }, { timeoutMs: 300 }); } catch {} } }));
await new Promise((r) => setTimeout(r, 500));
const open = server.sessions.filter((s) => !s.closed && !s.destroyed);
console.log(action, "sessions", server.sessions.length, "open", open.length, open.map((s) => marks.get(s) ?? "-").join(","));
const agent = (tr as any).config.http.sessions.agent;
const all = Object.values(agent.sessions).flat() as any[];
console.log("agent sessions", all.length, "resources", JSON.stringify(process.getActiveResourcesInfo().reduce((m: any, r) => ((m[r] = (m[r] ?? 0) + 1), m), {})));
const sym = (o: any, name: string) => o[Object.getOwnPropertySymbols(o).find((k) => String(k) === `Symbol(${name})`) as any];
const summary = new Map<string, number>();
for (const cs of all) { const k = `closed=${cs.closed} destroyed=${cs.destroyed} gc=${sym(cs, "gracefullyClosing")} streams=${sym(cs, "currentStreamCount")} sockDestroyed=${cs.socket?.destroyed}`; summary.set(k, (summary.get(k) ?? 0) + 1); }
const { execSync } = await import("node:child_process");
console.log("ss client->server", execSync(`ss -tn "( dport = :${server.port} )" | tail -n +2 | awk '{print $1}' | sort | uniq -c`).toString(), "server side", execSync(`ss -tn "( sport = :${server.port} )" | tail -n +2 | awk '{print $1}' | sort | uniq -c`).toString());
console.log("server sockets", JSON.stringify(server.sockets.reduce((m: any, k) => { const x = `${k.destroyed}/${k.readyState}/${k.readableEnded}`; m[x] = (m[x] ?? 0) + 1; return m; }, {})));
console.log(summary, "server sees open connections", server.openConnections());

tr.close(); await server.close();
