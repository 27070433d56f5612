// The rows of the results table: what is sent, over what, and which load
// generator sends it. Unary scenarios carry the exact request (path, headers,
// body) that both the correctness check and the load generator send.
import { PATHS, requestBinary, requestJson } from "./service.js";
import { envelope } from "./wire.js";

export type Protocol = "grpc" | "connect-proto" | "connect-json" | "grpc-web";

export type Load =
  /** h2load: `clients` connections, `streams` concurrent streams on each. */
  | { tool: "h2load"; clients: number; streams: number }
  /** wrk: `connections` keep-alive HTTP/1.1 connections. */
  | { tool: "wrk"; connections: number }
  /** bench/load/stream-client.ts: `concurrency` calls at a time on each of `connections` HTTP/2 connections. */
  | { tool: "stream"; connections: number; concurrency: number; count: number }
  | { tool: "bidi"; connections: number; concurrency: number };

export interface Scenario {
  /** Short name, for --only. */
  id: string;
  title: string;
  protocol: Protocol;
  http: "h1" | "h2";
  payloadSize: number;
  load: Load;
  /** What the throughput counts. */
  unit: "req/s" | "msg/s" | "round trips/s";
}

const KIB = 1024;

export const SCENARIOS: Scenario[] = [
  {
    id: "grpc-c1",
    title: "gRPC unary, h2c, 50 streams on 1 connection",
    protocol: "grpc",
    http: "h2",
    payloadSize: 100,
    load: { tool: "h2load", clients: 1, streams: 50 },
    unit: "req/s",
  },
  {
    id: "grpc-c10",
    title: "gRPC unary, h2c, 50 streams over 10 connections",
    protocol: "grpc",
    http: "h2",
    payloadSize: 100,
    load: { tool: "h2load", clients: 10, streams: 5 },
    unit: "req/s",
  },
  {
    id: "connect-proto-h1",
    title: "Connect unary proto, HTTP/1.1, 50 connections",
    protocol: "connect-proto",
    http: "h1",
    payloadSize: 100,
    load: { tool: "wrk", connections: 50 },
    unit: "req/s",
  },
  {
    id: "connect-proto-h2",
    title: "Connect unary proto, h2c, 50 streams on 1 connection",
    protocol: "connect-proto",
    http: "h2",
    payloadSize: 100,
    load: { tool: "h2load", clients: 1, streams: 50 },
    unit: "req/s",
  },
  {
    id: "connect-json-h1",
    title: "Connect unary JSON, HTTP/1.1, 50 connections",
    protocol: "connect-json",
    http: "h1",
    payloadSize: 100,
    load: { tool: "wrk", connections: 50 },
    unit: "req/s",
  },
  {
    id: "grpc-web-h1",
    title: "gRPC-Web unary, HTTP/1.1, 50 connections",
    protocol: "grpc-web",
    http: "h1",
    payloadSize: 100,
    load: { tool: "wrk", connections: 50 },
    unit: "req/s",
  },
  {
    id: "grpc-64k",
    title: "gRPC unary, 64 KiB payload, h2c, 50 streams over 10 connections",
    protocol: "grpc",
    http: "h2",
    payloadSize: 64 * KIB,
    load: { tool: "h2load", clients: 10, streams: 5 },
    unit: "req/s",
  },
  {
    id: "grpc-stream",
    title: "gRPC server stream, 10,000 messages per call, 2 calls at a time",
    protocol: "grpc",
    http: "h2",
    payloadSize: 100,
    load: { tool: "stream", connections: 1, concurrency: 2, count: 10_000 },
    unit: "msg/s",
  },
  {
    id: "grpc-bidi",
    title: "gRPC bidi ping-pong, 50 streams over 10 connections",
    protocol: "grpc",
    http: "h2",
    payloadSize: 100,
    load: { tool: "bidi", connections: 10, concurrency: 5 },
    unit: "round trips/s",
  },
];

/** One unary request exactly as it goes on the wire. */
export interface UnaryRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The request of a unary scenario. Streaming scenarios build theirs in the stream client. */
export function unaryRequest(s: Scenario): UnaryRequest {
  const proto = requestBinary(s.payloadSize);
  switch (s.protocol) {
    case "grpc":
      return {
        path: PATHS.echo,
        headers: { "content-type": "application/grpc+proto", te: "trailers" },
        body: envelope(proto),
      };
    case "grpc-web":
      return {
        path: PATHS.echo,
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: envelope(proto),
      };
    case "connect-proto":
      return {
        path: PATHS.echo,
        headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
        body: Buffer.from(proto),
      };
    case "connect-json":
      return {
        path: PATHS.echo,
        headers: { "content-type": "application/json", "connect-protocol-version": "1" },
        body: Buffer.from(requestJson(s.payloadSize)),
      };
  }
}
