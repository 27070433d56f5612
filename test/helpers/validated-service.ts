import type { ServiceImpl } from "../../lib/index.js";
import type { ValidatedRequest, ValidatedService } from "../gen/fcr/test/v1/validated_pb.js";

/**
 * ValidatedService, recording what its handlers saw: `calls` counts handler
 * invocations, `seen` the request messages they read. Each reply's text is
 * the request's name, or empty (an invalid response) when its `reply` is "empty".
 */
export function validatedServiceImpl() {
  const record = { calls: 0, seen: [] as string[] };
  const text = (r: ValidatedRequest) => (r.reply === "empty" ? "" : r.name);
  const impl: ServiceImpl<typeof ValidatedService> = {
    unary(req) {
      record.calls++;
      record.seen.push(req.name);
      return { text: text(req) };
    },
    async *serverStream(req) {
      record.calls++;
      record.seen.push(req.name);
      for (let i = 0; i < req.count; i++) yield { text: text(req) };
    },
    async clientStream(reqs) {
      record.calls++;
      const names: string[] = [];
      for await (const r of reqs) {
        record.seen.push(r.name);
        names.push(r.name);
      }
      return { text: names.join(",") };
    },
    async *bidi(reqs) {
      record.calls++;
      for await (const r of reqs) {
        record.seen.push(r.name);
        yield { text: text(r) };
      }
    },
  };
  return { impl, record };
}
