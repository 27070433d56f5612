// Type tests of fastify-connectrpc/otel: compiled by `npm test` (tsc --noEmit), never run.
// Every `@ts-expect-error` line must fail to compile.
import { propagation, trace } from "@opentelemetry/api";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import Fastify from "fastify";
import { fastifyConnectRpc, type Interceptor } from "fastify-connectrpc";
import { type ClientInterceptor, createGrpcTransport } from "fastify-connectrpc/client";
import { type OtelInterceptorOptions, otelClientInterceptor, otelServerInterceptor } from "fastify-connectrpc/otel";

// No options: the global providers.
const server: Interceptor = otelServerInterceptor();
const client: ClientInterceptor = otelClientInterceptor();
await Fastify().register(fastifyConnectRpc, { routes() {}, interceptors: [server] });
createGrpcTransport({ baseUrl: "http://127.0.0.1:8080", interceptors: [client] });

// Every option, with the SDK's classes and the API's objects.
const options: OtelInterceptorOptions = {
  tracerProvider: new BasicTracerProvider(),
  meterProvider: { getMeter: (name) => ({ name }) as never },
  propagator: { inject() {}, extract: (ctx) => ctx, fields: () => [] },
  messageEvents: true,
};
otelServerInterceptor(options);
otelClientInterceptor({ tracerProvider: trace.getTracerProvider() });

// The API's global propagation object works as a propagator.
otelClientInterceptor({ propagator: propagation });
// @ts-expect-error a propagator has inject, extract and fields
otelClientInterceptor({ propagator: { inject() {} } });
// @ts-expect-error messageEvents is a boolean
otelServerInterceptor({ messageEvents: "yes" });
// @ts-expect-error unknown option
otelServerInterceptor({ tracer: trace.getTracer("x") });
// @ts-expect-error the server interceptor does not fit a transport
createGrpcTransport({ baseUrl: "http://127.0.0.1:8080", interceptors: [otelServerInterceptor()] });
