// Run by test/client/request-shape.test.ts in a child process started with
// --allow-natives-syntax: prints whether the request an interceptor gets has
// fast properties (V8's %HasFastProperties), with a plain object literal with
// a getter beside it as the control. Plain JavaScript on the build, so that no
// loader runs in the child.
import { create } from "@bufbuild/protobuf";
import { createClient, createConnectTransport } from "../../dist/client/index.js";
import { Health, HealthCheckRequestSchema } from "../../dist/services/gen/grpc/health/v1/health_pb.js";

const requests = [];
const capture = () => async (req) => {
  requests.push(req);
  throw new Error("captured");
};
// No server: the interceptor answers before any connection is made.
const transport = createConnectTransport({ baseUrl: "http://127.0.0.1:9", interceptors: [capture] });
const health = createClient(Health, transport);
for (let i = 0; i < 2; i++) await health.check(create(HealthCheckRequestSchema, {})).catch(() => {});

const hasFastProperties = new Function("o", "return %HasFastProperties(o)");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
const literal = (value) => ({
  a: 1,
  get signal() {
    return value;
  },
});
const [first, second] = requests;
process.stdout.write(
  `${JSON.stringify({
    request: hasFastProperties(first),
    sameMap: haveSameMap(first, second),
    signal: first.signal instanceof AbortSignal,
    spreadSignal: { ...first }.signal instanceof AbortSignal,
    control: hasFastProperties(literal(1)),
  })}\n`,
);
