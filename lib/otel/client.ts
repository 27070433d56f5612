import { type Attributes, context, SpanKind, trace } from "@opentelemetry/api";
import type { ClientInterceptor, ClientStreamRequest, ClientUnaryRequest } from "../client/call.js";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import { CallTelemetry } from "./call.js";
import { headersSetter } from "./carrier.js";
import { type OtelInterceptorOptions, resolveTelemetry } from "./options.js";
import { boundContext } from "./parent.js";
import {
  ATTR_NETWORK_TRANSPORT,
  ATTR_PROTOCOL_NAME,
  ATTR_PROTOCOL_VERSION,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  rpcSystem,
  spanName,
} from "./semconv.js";
import { observeRequests, observeResponses } from "./stream.js";

interface ServerName {
  address: string;
  port: number;
}

/** Parses `server.address` and `server.port` of a base URL once; a transport calls one server. */
class ServerNames {
  private readonly byOrigin = new Map<string, ServerName>();

  of(url: string): ServerName {
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const origin = pathStart < 0 ? url : url.slice(0, pathStart);
    let name = this.byOrigin.get(origin);
    if (!name) {
      const u = new URL(origin);
      // The conventions want the host without IPv6 brackets, and the port even when it is the default.
      name = {
        address: u.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: Number(u.port || (u.protocol === "https:" ? 443 : 80)),
      };
      if (this.byOrigin.size >= 64) this.byOrigin.clear();
      this.byOrigin.set(origin, name);
    }
    return name;
  }
}

function metricAttributes(req: ClientUnaryRequest | ClientStreamRequest, server: ServerName): Attributes {
  const attrs: Attributes = {
    [ATTR_RPC_SYSTEM]: rpcSystem(req.protocol),
    [ATTR_RPC_SERVICE]: req.service.typeName,
    [ATTR_RPC_METHOD]: req.method.name,
    [ATTR_SERVER_ADDRESS]: server.address,
    [ATTR_SERVER_PORT]: server.port,
    [ATTR_PROTOCOL_NAME]: "http",
  };
  // Unknown until ALPN picked it (the conventions: do not set a version that is not known).
  if (req.httpVersion) attrs[ATTR_PROTOCOL_VERSION] = req.httpVersion;
  return attrs;
}

const stoppedReading = () => new ConnectError("the caller stopped reading the response", Code.Canceled);

/**
 * Traces and measures every call a transport makes: one CLIENT span per
 * call named `package.Service/Method`, a child of the handler's span when the
 * call passes a handler's context (`{ context: ctx }`), else of the active
 * span. The trace context (and baggage) goes out in the request headers
 * through the propagator, over every protocol. A stream's span ends when the
 * response stream does. Attributes, span status and metrics follow the
 * OpenTelemetry semantic conventions v1.37.0 for RPC.
 */
export function otelClientInterceptor(options?: OtelInterceptorOptions): ClientInterceptor {
  const t = resolveTelemetry(options, "client");
  const servers = new ServerNames();
  return (next) => async (req) => {
    const parent = boundContext(req.context) ?? context.active();
    const system = rpcSystem(req.protocol);
    const metric = metricAttributes(req, servers.of(req.url));
    const span = t.tracer.startSpan(
      spanName(req.service.typeName, req.method.name),
      { kind: SpanKind.CLIENT, attributes: { ...metric, [ATTR_NETWORK_TRANSPORT]: "tcp" } },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    t.propagator.inject(spanContext, req.header, headersSetter);
    if (!span.isRecording() && !t.instruments) return context.with(spanContext, next, undefined, req);
    const call = new CallTelemetry(t, span, "client", system, req.method, metric);
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
      return { ...res, message: observeResponses(res.message, call, undefined, stoppedReading) };
    } catch (e) {
      call.end(e);
      throw e;
    }
  };
}
