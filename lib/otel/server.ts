import { type Context, context, SpanKind, trace } from "@opentelemetry/api";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import { CallContext, type HandlerContext } from "../server/context.js";
import type { AnyFn, Interceptor, StreamRequest, UnaryRequest } from "../server/interceptor.js";
import { CallTelemetry } from "./call.js";
import { incomingHeadersGetter } from "./carrier.js";
import { type OtelInterceptorOptions, resolveTelemetry } from "./options.js";
import { bindContext } from "./parent.js";
import { rpcSystem, spanName } from "./semconv.js";
import { ServerAttributes } from "./server-attributes.js";
import { observeRequests, observeResponses } from "./stream.js";

/**
 * Why the call was aborted (deadline, cancel, shutdown), if it was. Read
 * when the call ends rather than listened for: an abort listener needs the
 * context's AbortController, which costs more per call than the rest of the
 * span's bookkeeping (bench/RESULTS.md); a handler that ignores the abort
 * ends its span when it returns.
 */
function abortReason(hc: HandlerContext): unknown {
  return hc instanceof CallContext && hc.aborted ? hc.signal.reason : undefined;
}

/** Why a response stream's reader stopped early: the call's abort, else a cancel. */
function stopReason(hc: HandlerContext): unknown {
  return abortReason(hc) ?? new ConnectError("the response stream was closed early", Code.Canceled);
}

/**
 * Traces and measures every call the server handles: one SERVER span per
 * call named `package.Service/Method`, a child of the HTTP span when one is
 * active (`@fastify/otel`), else of the trace context in the request headers.
 * A stream's span ends when the stream does; a unary call's when its
 * handler returns (with the deadline's or the cancel's code when the call
 * was aborted meanwhile). The handler runs with the span
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
    // The server's own call measures messages as it decodes and encodes them: no second encoding here.
    const own = hc instanceof CallContext ? hc : undefined;
    const call = new CallTelemetry(t, span, "server", rpcSystem(hc.protocol), req.method, metric, own);
    if (own && call.wantsEncodedSizes) own.responseObserver = call;
    let observed = req;
    if (req.stream) observed = { ...req, message: observeRequests(req.message, call) };
    else call.request(req.message);
    try {
      const res = await context.with(spanContext, next, undefined, observed);
      if (!res.stream) {
        call.response(res.message);
        // A handler that finished after the deadline or the client's cancel: the client got that, not this.
        call.end(abortReason(hc));
        return res;
      }
      return { ...res, message: observeResponses(res.message, call, spanContext, () => stopReason(hc)) };
    } catch (e) {
      call.end(e);
      throw e;
    }
  }
}
