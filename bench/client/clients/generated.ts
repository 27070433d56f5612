// A BenchClient over a typed client from createClient, which ours and
// connect-es both make with the same shape (and which the bench's generated
// descriptor types).
import type { EchoRequest, EchoResponse } from "../../gen/fcr/bench/v1/bench_pb.js";
import { Mailbox } from "../mailbox.js";
import { type BenchClient, nextPayload } from "./bench-client.js";

/** The bench service's methods as createClient types them (ours and @connectrpc/connect alike). */
export interface TypedBenchClient {
  echo(req: EchoRequest): Promise<EchoResponse>;
  stream(req: EchoRequest): AsyncIterable<EchoResponse>;
  pingPong(requests: AsyncIterable<EchoRequest>): AsyncIterable<EchoResponse>;
}

export function fromTypedClient(client: TypedBenchClient, close: () => void): BenchClient {
  return {
    async echo(req) {
      return (await client.echo(req)).payload;
    },
    async stream(req, onReply) {
      for await (const reply of client.stream(req)) onReply(reply.payload);
    },
    pingPong() {
      const requests = new Mailbox<EchoRequest>();
      const replies = client.pingPong(requests)[Symbol.asyncIterator]();
      return {
        roundTrip(req) {
          requests.push(req);
          return nextPayload(replies);
        },
        async finish() {
          requests.end();
          while (!(await replies.next()).done) {}
        },
      };
    },
    close,
  };
}
