// The rows of the client benchmark: one call kind over one protocol and HTTP
// version, with how many calls are in flight at once.
export interface ClientScenario {
  /** Short name, for --only. */
  id: string;
  title: string;
  protocol: "grpc" | "connect";
  http: "h1" | "h2";
  call: "unary" | "stream" | "bidi";
  /** Unary calls in flight at once; over HTTP/1.1 each on a keep-alive connection of its own. */
  concurrency: number;
  /** Messages per server-streaming call. */
  count: number;
  payloadSize: number;
  /** What the throughput counts. */
  unit: "calls/s" | "msg/s" | "round trips/s";
}

const unary = { call: "unary", concurrency: 50, count: 0, payloadSize: 100, unit: "calls/s" } as const;

export const CLIENT_SCENARIOS: ClientScenario[] = [
  {
    id: "grpc-unary",
    title: "gRPC unary, 50 calls in flight on one HTTP/2 connection",
    protocol: "grpc",
    http: "h2",
    ...unary,
  },
  {
    id: "connect-h2",
    title: "Connect unary proto, h2c, 50 calls in flight",
    protocol: "connect",
    http: "h2",
    ...unary,
  },
  {
    id: "connect-h1",
    title: "Connect unary proto, HTTP/1.1, 50 keep-alive connections",
    protocol: "connect",
    http: "h1",
    ...unary,
  },
  {
    id: "grpc-stream",
    title: "gRPC server stream, 10,000 x 100 B messages per call, one call at a time",
    protocol: "grpc",
    http: "h2",
    call: "stream",
    concurrency: 1,
    count: 10_000,
    payloadSize: 100,
    unit: "msg/s",
  },
  {
    id: "grpc-bidi",
    title: "gRPC bidi ping-pong on one stream",
    protocol: "grpc",
    http: "h2",
    call: "bidi",
    concurrency: 1,
    count: 0,
    payloadSize: 100,
    unit: "round trips/s",
  },
];
