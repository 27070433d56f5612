// The README's health and reflection example, run: the statuses it sets are what Health/Check answers.
import Fastify from "fastify";
import {
  Code,
  type ConnectRouter,
  createGrpcHealth,
  createInjectTransport,
  fastifyConnectRpc,
} from "fastify-connectrpc";
import { createClient } from "fastify-connectrpc/client";
import t from "tap";
import { Health, HealthCheckResponse_ServingStatus } from "../../lib/services/gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../lib/services/gen/grpc/reflection/v1/reflection_pb.js";
import { ElizaService } from "./gen/connectrpc/eliza/v1/eliza_pb.js";

const app = Fastify();
const routes = (router: ConnectRouter) => {
  router.service(ElizaService, { say: (req) => ({ sentence: req.sentence }) });
};
// #region health
const health = createGrpcHealth(); // or `grpcHealth: true` for a default one
await app.register(fastifyConnectRpc, { routes, grpcHealth: health, grpcReflection: true });
health.setStatus("connectrpc.eliza.v1.ElizaService", "NOT_SERVING"); // "" is the whole server
// #endregion health

t.test("the README's health example sets what Health/Check answers", async (t) => {
  t.teardown(() => app.close());
  const client = createClient(Health, createInjectTransport(app));
  const { NOT_SERVING, SERVING } = HealthCheckResponse_ServingStatus;
  t.equal((await client.check({ service: "connectrpc.eliza.v1.ElizaService" })).status, NOT_SERVING);
  t.equal((await client.check({ service: "" })).status, SERVING, "the whole server still serves");
  await t.rejects(client.check({ service: "other.Service" }), { code: Code.NotFound });
  const reflection = createClient(ServerReflection, createInjectTransport(app));
  const names: string[] = [];
  for await (const res of reflection.serverReflectionInfo([{ messageRequest: { case: "listServices", value: "" } }])) {
    if (res.messageResponse.case === "listServicesResponse")
      names.push(...res.messageResponse.value.service.map((s) => s.name));
  }
  t.same(names, [
    "connectrpc.eliza.v1.ElizaService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
  ]);
});
