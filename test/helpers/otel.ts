// A real OpenTelemetry SDK (2.x line, Node 20) recording into memory, for the otel tests.
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { OtelInterceptorOptions } from "../../lib/otel/index.js";

/** A reader that collects when asked: the in-memory reader of the metrics SDK's own tests. */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Registers the AsyncLocalStorage context manager, as the SDK's NodeSDK does. */
export function useAsyncContext(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

export interface TestTelemetry {
  options: Required<Pick<OtelInterceptorOptions, "tracerProvider" | "meterProvider" | "propagator">>;
  exporter: InMemorySpanExporter;
  tracerProvider: BasicTracerProvider;
  /** Finished spans, once there are at least `n` (polling, since a server span may end after the client's). */
  spans(n: number): Promise<ReadableSpan[]>;
  /** The data points of one histogram. */
  histogram(name: string): Promise<DataPoint<Histogram>[]>;
  shutdown(): Promise<void>;
}

export function createTestTelemetry(): TestTelemetry {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  return {
    options: { tracerProvider, meterProvider, propagator },
    exporter,
    tracerProvider,
    async spans(n) {
      for (let i = 0; i < 200; i++) {
        const spans = exporter.getFinishedSpans();
        if (spans.length >= n) return spans;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`expected ${n} finished spans, have ${exporter.getFinishedSpans().length}`);
    },
    async histogram(name) {
      const { resourceMetrics } = await reader.collect();
      const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const metric = all.find((m) => m.descriptor.name === name);
      return (metric?.dataPoints ?? []) as DataPoint<Histogram>[];
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** The one span with this name and kind (1 = SERVER, 2 = CLIENT). */
export function spanOf(spans: ReadableSpan[], name: string, kind: number): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${name} span of kind ${kind}, found ${found.length}`);
  return found[0];
}
