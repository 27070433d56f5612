// Unary calls over bare node:http, for the correctness checks and the raw
// client of the client benchmark: no RPC library in between.
import * as http from "node:http";
import type { UnaryRequest } from "../scenarios.js";
import type { RawResponse } from "./h2-calls.js";

/** POSTs one request with a whole body through `agent` (false: a connection of its own). */
export function postH1(port: number, req: UnaryRequest, agent: http.Agent | false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: req.path,
        headers: { ...req.headers, "content-length": req.body.length },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}
