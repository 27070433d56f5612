// What every benchmarked server serves and every client sends: the bench
// service's paths and the request bodies the scenarios use.
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { BenchService, EchoRequestSchema } from "./gen/fcr/bench/v1/bench_pb.js";

export { EchoRequestSchema, EchoResponseSchema } from "./gen/fcr/bench/v1/bench_pb.js";
export { BenchService };

const PREFIX = `/${BenchService.typeName}`;
export const PATHS = {
  echo: `${PREFIX}/Echo`,
  stream: `${PREFIX}/Stream`,
  pingPong: `${PREFIX}/PingPong`,
} as const;

/**
 * A payload of `size` bytes. Pseudo-random so that it does not compress: no
 * server should be able to win by compressing (none is asked to, but a
 * payload of zeros would hide it if one did).
 */
export function payload(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The request message, binary. */
export function requestBinary(payloadSize: number, count = 0): Uint8Array {
  return toBinary(EchoRequestSchema, create(EchoRequestSchema, { payload: payload(payloadSize), count }));
}

/** The request message, as Connect's JSON codec writes it (bytes in base64). */
export function requestJson(payloadSize: number): string {
  return toJsonString(EchoRequestSchema, create(EchoRequestSchema, { payload: payload(payloadSize) }));
}
