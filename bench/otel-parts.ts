// What the parts of otelServerInterceptor's work cost with the real SDK, in
// one process and without the network: `npx tsx bench/otel-parts.ts`. CPU
// microseconds per operation (process.cpuUsage over 200,000 runs after a
// warm-up), with the SDK set up as bench/servers/otel-sdk.ts does.
import { create, toBinary } from "@bufbuild/protobuf";
import { context, metrics, SpanKind, trace } from "@opentelemetry/api";
import "./servers/otel-sdk.js";
import { EchoRequestSchema, EchoResponseSchema } from "./gen/fcr/bench/v1/bench_pb.js";

// The SDK as the bench's otel servers register it, reached through the API.
const tracer = trace.getTracer("parts");
const meter = metrics.getMeter("parts");
const histograms = ["a", "b", "c"].map((n) => meter.createHistogram(n));
const metricAttributes = {
  "rpc.system": "grpc",
  "rpc.service": "fcr.bench.v1.BenchService",
  "rpc.method": "Echo",
  "network.protocol.name": "http",
  "network.protocol.version": "2",
  "rpc.grpc.status_code": 0,
};
const spanAttributes = {
  ...metricAttributes,
  "network.transport": "tcp",
  "network.peer.address": "127.0.0.1",
  "network.peer.port": 50000,
  "network.type": "ipv4",
  "server.address": "127.0.0.1",
  "server.port": 8080,
};
const payload = new Uint8Array(100);
const request = create(EchoRequestSchema, { payload });
const remote = trace.wrapSpanContext({
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: "b7ad6b7169203331",
  traceFlags: 1,
});

function measure(name: string, fn: () => void, runs = 200_000): void {
  for (let i = 0; i < 5000; i++) fn();
  const start = process.cpuUsage();
  for (let i = 0; i < runs; i++) fn();
  const used = process.cpuUsage(start);
  console.log(`| ${name} | ${((used.user + used.system) / runs).toFixed(2)} |`);
}

console.log("| part | CPU us per call |");
console.log("| --- | --- |");
measure("SERVER span: start, status attribute, end (BatchSpanProcessor)", () => {
  const span = tracer.startSpan("fcr.bench.v1.BenchService/Echo", {
    kind: SpanKind.SERVER,
    attributes: spanAttributes,
  });
  span.setAttribute("rpc.grpc.status_code", 0);
  span.end();
});
measure("context.with (AsyncLocalStorage)", () => {
  context.with(trace.setSpan(context.active(), remote), () => 1);
});
measure("3 histogram records (duration, request size, response size)", () => {
  for (const h of histograms) h.record(100, metricAttributes);
});
measure("request size (toBinary of the decoded request)", () => {
  toBinary(EchoRequestSchema, request);
});
measure("response size (create + toBinary of a handler's init object)", () => {
  toBinary(EchoResponseSchema, create(EchoResponseSchema, { payload }));
});
measure("AbortController + abort listener (not used: why the abort is read at the end)", () => {
  const c = new AbortController();
  const f = () => {};
  c.signal.addEventListener("abort", f);
  c.signal.removeEventListener("abort", f);
});
