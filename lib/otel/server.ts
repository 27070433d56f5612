import { type Attributes, context, SpanKind, trace } from "@opentelemetry/api";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { HandlerContext } from "../server/context.js";
import type { Interceptor, StreamRequest, UnaryRequest } from "../server/router.js";
import { CallTelemetry } from "./call.js";
import { incomingHeadersGetter } from "./carrier.js";
import { type OtelInterceptorOptions, resolveTelemetry } from "./options.js";
import { bindContext } from "./parent.js";
import {
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_PEER_ADDRESS,
  ATTR_PEER_PORT,
  ATTR_PROTOCOL_NAME,
  ATTR_PROTOCOL_VERSION,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  type RpcSystem,
  rpcSystem,
  spanName,
} from "./semconv.js";
import { observeRequests, observeResponses } from "./stream.js";

/** Attributes of the call that the metrics carry too: low cardinality, nothing the client picks. */
function metricAttributes(req: UnaryRequest | StreamRequest, system: RpcSystem, httpVersion: string): Attributes {
  return {
    [ATTR_RPC_SYSTEM]: system,
    [ATTR_RPC_SERVICE]: req.service.typeName,
    [ATTR_RPC_METHOD]: req.method.name,
    [ATTR_PROTOCOL_NAME]: "http",
    [ATTR_PROTOCOL_VERSION]: httpVersion,
  };
}

function spanAttributes(ctx: HandlerContext, metric: Attributes): Attributes {
  const request = ctx.request;
  const socket = request.socket;
  const attrs: Attributes = { ...metric, [ATTR_NETWORK_TRANSPORT]: "tcp" };
  // Fastify reads these from the Host header (HTTP/1.1) or :authority (HTTP/2).
  if (request.hostname) attrs[ATTR_SERVER_ADDRESS] = request.hostname;
  const port = request.port ?? socket?.localPort;
  if (port) attrs[ATTR_SERVER_PORT] = port;
  if (socket?.remoteAddress) {
    attrs[ATTR_PEER_ADDRESS] = socket.remoteAddress;
    if (socket.remotePort) attrs[ATTR_PEER_PORT] = socket.remotePort;
  }
  if (socket?.remoteFamily) attrs[ATTR_NETWORK_TYPE] = socket.remoteFamily.toLowerCase();
  return attrs;
}

/** Node says "2.0" for HTTP/2; the conventions write "2". */
function httpVersionOf(ctx: HandlerContext): string {
  const v = ctx.request.raw.httpVersion;
  return v === "2.0" ? "2" : v;
}

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
  return (next) => async (req) => {
    const hc = req.context;
    const active = context.active();
    const parent = trace.getSpan(active)
      ? active
      : t.propagator.extract(active, hc.request.headers, incomingHeadersGetter);
    const system = rpcSystem(hc.protocol);
    const metric = metricAttributes(req, system, httpVersionOf(hc));
    const span = t.tracer.startSpan(
      spanName(req.service.typeName, req.method.name),
      { kind: SpanKind.SERVER, attributes: spanAttributes(hc, metric) },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    bindContext(hc, spanContext);
    if (!span.isRecording() && !t.instruments) return context.with(spanContext, next, undefined, req);
    const call = new CallTelemetry(t, span, "server", system, req.method, metric);
    const signal = req.signal;
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
  };
}
