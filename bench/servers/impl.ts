// The bench service as both Connect-style routers take it (ours and
// @connectrpc/connect-fastify): one object, so the two run the same handler
// code and differ only in the framework around it.
import type { EchoRequest } from "../gen/fcr/bench/v1/bench_pb.js";

export const benchImpl = {
  async echo(req: EchoRequest) {
    return { payload: req.payload };
  },
  async *stream(req: EchoRequest) {
    for (let i = 0; i < req.count; i++) yield { payload: req.payload };
  },
  async *pingPong(reqs: AsyncIterable<EchoRequest>) {
    for await (const r of reqs) yield { payload: r.payload };
  },
};
