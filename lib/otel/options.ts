import {
  createNoopMeter,
  type Histogram,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  propagation,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { optionError } from "../options.js";

/** Options of `otelServerInterceptor` and `otelClientInterceptor`. */
export interface OtelInterceptorOptions {
  /** Where spans go. Default: the global tracer provider (`trace.setGlobalTracerProvider`, or the SDK's `register()`). */
  tracerProvider?: TracerProvider;
  /** Where metrics go. Default: the global meter provider, as it is when the interceptor is created. */
  meterProvider?: MeterProvider;
  /** Carries the trace context (and baggage) in request headers. Default: the global propagator. */
  propagator?: TextMapPropagator;
  /**
   * Adds a `message` event to the span for every message sent and received,
   * with its id and uncompressed size. Default false: a long stream would
   * otherwise make a span of thousands of events.
   */
  messageEvents?: boolean;
}

/** The histograms of one side (rpc-metrics.md of semantic conventions v1.37.0). */
export interface Instruments {
  readonly duration: Histogram;
  readonly requestSize: Histogram;
  readonly responseSize: Histogram;
  readonly requestsPerRpc: Histogram;
  readonly responsesPerRpc: Histogram;
}

/** The interceptor's resolved options. */
export interface Telemetry {
  readonly tracer: Tracer;
  /** Whether spans may record: false while the global provider is the API's no-op (no SDK registered). */
  tracing(): boolean;
  /** Undefined when no meter provider is set up: nothing is measured then. */
  readonly instruments: Instruments | undefined;
  readonly propagator: Pick<TextMapPropagator, "inject" | "extract">;
  readonly messageEvents: boolean;
}

const SCOPE = "fastify-connectrpc";
const SCOPE_VERSION = "0.1.0";
const noopMeterClass = createNoopMeter().constructor;
const noopTracerProvider = new ProxyTracerProvider().getDelegate();

function checkProvider(o: Record<string, unknown>, name: string, method: string): void {
  const v = o[name];
  if (v === undefined) return;
  if (v === null || typeof v !== "object" || typeof (v as Record<string, unknown>)[method] !== "function") {
    throw optionError(name, `an object with a ${method}() method`, v);
  }
}

/** Checks the options and picks the providers: bad options fail when the interceptor is created. */
export function resolveTelemetry(options: OtelInterceptorOptions | undefined, side: "server" | "client"): Telemetry {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw optionError("options", "an object", options);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  checkProvider(o, "tracerProvider", "getTracer");
  checkProvider(o, "meterProvider", "getMeter");
  checkProvider(o, "propagator", "inject");
  if (o.messageEvents !== undefined && typeof o.messageEvents !== "boolean") {
    throw optionError("messageEvents", "a boolean", o.messageEvents);
  }
  const provider = options?.tracerProvider ?? trace.getTracerProvider();
  const tracer = provider.getTracer(SCOPE, SCOPE_VERSION);
  const meter = (options?.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE, SCOPE_VERSION);
  return {
    tracer,
    // The global provider is a proxy: an SDK registered later starts recording then.
    tracing: provider instanceof ProxyTracerProvider ? () => provider.getDelegate() !== noopTracerProvider : () => true,
    // The metrics API has no proxy provider: a no-op meter stays one, so skip the work of measuring.
    instruments: meter.constructor === noopMeterClass ? undefined : createInstruments(meter, side),
    propagator: options?.propagator ?? propagation,
    messageEvents: options?.messageEvents ?? false,
  };
}

function createInstruments(meter: ReturnType<MeterProvider["getMeter"]>, side: "server" | "client"): Instruments {
  const direction = side === "server" ? "inbound" : "outbound";
  return {
    duration: meter.createHistogram(`rpc.${side}.duration`, {
      description: `Measures the duration of ${direction} RPC.`,
      unit: "ms",
    }),
    requestSize: meter.createHistogram(`rpc.${side}.request.size`, {
      description: "Measures the size of RPC request messages (uncompressed).",
      unit: "By",
    }),
    responseSize: meter.createHistogram(`rpc.${side}.response.size`, {
      description: "Measures the size of RPC response messages (uncompressed).",
      unit: "By",
    }),
    requestsPerRpc: meter.createHistogram(`rpc.${side}.requests_per_rpc`, {
      description: "Measures the number of request messages per RPC.",
      unit: "{count}",
    }),
    responsesPerRpc: meter.createHistogram(`rpc.${side}.responses_per_rpc`, {
      description: "Measures the number of response messages per RPC.",
      unit: "{count}",
    }),
  };
}
