// `--otel-console`: the OpenTelemetry SDK set up to print every span to the
// console, and the library's server interceptor using it.
import { context, propagation } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Interceptor } from "../../lib/index.js";
import { otelServerInterceptor } from "../../lib/otel/index.js";

/** Sets up tracing to the console; returns the interceptor to register. */
export function consoleTracing(): Interceptor {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())],
  });
  return otelServerInterceptor({ tracerProvider });
}
