import { type Context, context, SpanKind, trace } from "@opentelemetry/api";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { AnyFn, Interceptor, StreamRequest, UnaryRequest } from "../server/router.js";
import { CallTelemetry } from "./call.js";
import { incomingHeadersGetter } from "./carrier.js";
import { type OtelInterceptorOptions, resolveTelemetry } from "./options.js";
import { bindContext } from "./parent.js";
import { rpcSystem, spanName } from "./semconv.js";
import { ServerAttributes } from "./server-attributes.js";
import { observeRequests, observeResponses } from "./stream.js";

/** Why a response stream's reader stopped early: the call's abort, else a cancel. */
function stopReason(signal: AbortSignal): unknown {
  return signal.aborted ? signal.reason : new ConnectError("the response stream was closed early", Code.Canceled);
}

/**
 * Traces and measures every call the server handles: one SERVER span per
 * call named `package.Service/Method`, a child of the HTTP span when one is
 * active (`@fastify/otel`), else of the trace context in the request headers.
 * A stream's span ends when the stream does. The handler runs with the span
 * active, so client calls made with `{ context: ctx }` are its children.
 * Attributes, span status and metrics follow the OpenTelemetry semantic
 * conventions v1.37.0 for RPC.
 */
export function otelServerInterceptor(options?: OtelInterceptorOptions): Interceptor {
  const t = resolveTelemetry(options, "server");
  const attributes = new ServerAttributes();
  return (next) => (req) => {
    const hc = req.context;
    const active = context.active();
    const parent = trace.getSpan(active)
      ? active
      : t.propagator.extract(active, hc.request.headers, incomingHeadersGetter);
    if (!t.instruments && !t.tracing()) {
      // Nothing records (the API without an SDK): only carry the caller's trace
      // context on to the handler's calls, as the API's no-op span would.
      if (parent !== active) bindContext(hc, parent);
      return context.with(parent, next, undefined, req);
    }
    return traced(next, req, parent);
  };

  async function traced(next: AnyFn, req: UnaryRequest | StreamRequest, parent: Context) {
    const hc = req.context;
    const metric = attributes.metricAttributes(hc);
    const span = t.tracer.startSpan(
      spanName(req.service.typeName, req.method.name),
      { kind: SpanKind.SERVER, attributes: attributes.spanAttributes(hc, metric) },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    bindContext(hc, spanContext);
    const call = new CallTelemetry(t, span, "server", rpcSystem(hc.protocol), req.method, metric);
    const signal = req.signal;
    // A deadline or a client that went away ends the span, even while the handler runs on.
    const onAbort = () => call.end(signal.reason);
    signal.addEventListener("abort", onAbort);
    call.onEnd = () => signal.removeEventListener("abort", onAbort);
    let observed = req;
    if (req.stream) observed = { ...req, message: observeRequests(req.message, call) };
    else call.request(req.message);
    try {
      const res = await context.with(spanContext, next, undefined, observed);
      if (!res.stream) {
        call.response(res.message);
        call.end(undefined);
        return res;
      }
      return { ...res, message: observeResponses(res.message, call, spanContext, () => stopReason(signal)) };
    } catch (e) {
      call.end(e);
      throw e;
    }
  }
}
