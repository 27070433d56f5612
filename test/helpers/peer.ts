// Small helpers shared by the interop tests that drive the plugin from a real
// peer (connect-node over Connect, gRPC and gRPC-Web; grpc-js).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Compression } from "../../lib/index.js";
import { gzip } from "../../lib/protocol/compression.js";
import type { EchoRequestSchema, EchoResponse } from "../gen/fcr/test/v1/test_pb.js";

/** A TestService request, as a connect-node client accepts it. */
export type Req = MessageInitShape<typeof EchoRequestSchema>;

/** 2000 bytes covering every byte value, compressible enough for gzip to matter. */
export const PAYLOAD = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7) % 256);

/** Lower-case hex of some bytes, for comparing binary headers and payloads. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** Wraps one of the library's compressions, counting what the server compresses and decompresses. */
export function counting(inner: Compression) {
  const counts = { compress: 0, decompress: 0 };
  const compression: Compression = {
    name: inner.name,
    compress(data) {
      counts.compress++;
      return inner.compress(data);
    },
    decompress(data, maxBytes) {
      counts.decompress++;
      return inner.decompress(data, maxBytes);
    },
  };
  return { compression, counts };
}

/** The library's gzip, counting what the server compresses and decompresses. */
export function countingGzip() {
  return counting(gzip);
}

/** The ConnectError a call fails with; throws if the call succeeds. */
export async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Drains a response stream: the messages received, and the error it ended with, if any. */
export async function collect(
  it: AsyncIterable<EchoResponse>,
): Promise<{ messages: EchoResponse[]; error?: ConnectError }> {
  const messages: EchoResponse[] = [];
  try {
    for await (const m of it) messages.push(m);
  } catch (e) {
    return { messages, error: ConnectError.from(e) };
  }
  return { messages };
}

/** A request stream yielding the given requests in order. */
export async function* requests(...reqs: Req[]): AsyncIterable<Req> {
  for (const r of reqs) yield r;
}
