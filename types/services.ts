// Type tests of health, reflection and the inject transport: compiled by `npm test` (tsc --noEmit), never run.
// Every `@ts-expect-error` line must fail to compile; if it ever compiles, tsc
// reports the directive as unused and the test fails.
import Fastify from "fastify";
import {
  createGrpcHealth,
  createInjectTransport,
  fastifyConnectRpc,
  type GrpcHealth,
  type InjectTransportOptions,
  type ServingStatus,
  type Transport,
} from "fastify-connectrpc";
import { createClient } from "fastify-connectrpc/client";
import { ElizaService, type SayResponse } from "../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";

const app = Fastify();
const routes = () => {};

// The API as the issue and README show it.
const health: GrpcHealth = createGrpcHealth();
await app.register(fastifyConnectRpc, { routes, grpcHealth: health, grpcReflection: true });
await app.register(fastifyConnectRpc, { routes, grpcHealth: true });
await app.register(fastifyConnectRpc, { routes, grpcHealth: false, grpcReflection: false });
health.setStatus("connectrpc.eliza.v1.ElizaService", "NOT_SERVING");
health.setStatus("", "SERVING");
health.setStatus("", "UNKNOWN");
const status: ServingStatus | undefined = health.getStatus("");
void status;

// @ts-expect-error SERVICE_UNKNOWN is only sent by Watch; nobody sets it
health.setStatus("", "SERVICE_UNKNOWN");
// @ts-expect-error statuses are names, not numbers
health.setStatus("", 1);
// @ts-expect-error grpcHealth takes a createGrpcHealth() object or a boolean
await app.register(fastifyConnectRpc, { routes, grpcHealth: { setStatus() {} } });
// @ts-expect-error grpcReflection is a boolean
await app.register(fastifyConnectRpc, { routes, grpcReflection: "yes" });

const eliza = createClient(ElizaService, createInjectTransport(app));
const said: Promise<SayResponse> = eliza.say({ sentence: "hi" });
void said;
const json: Transport = createInjectTransport(app, { protocol: "connect", useBinaryFormat: false });
const web: Transport = createInjectTransport(app, { protocol: "grpc-web", basePath: "/api", interceptors: [] });
const get: InjectTransportOptions = { useHttpGet: true, sendCompression: "gzip", readMaxBytes: 1024 };
void json;
void web;
void get;

// @ts-expect-error gRPC needs HTTP/2 trailers, which inject cannot carry
createInjectTransport(app, { protocol: "grpc" });
// @ts-expect-error no network options: inject opens no connection
createInjectTransport(app, { baseUrl: "http://127.0.0.1:8080" });
// @ts-expect-error the app comes first
createInjectTransport({ protocol: "connect" });
