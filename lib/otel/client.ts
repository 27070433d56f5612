import type { DescMethod } from "@bufbuild/protobuf";
import { type Attributes, type Context, context, SpanKind, trace } from "@opentelemetry/api";
import type { ClientAnyFn, ClientInterceptor, ClientStreamRequest, ClientUnaryRequest } from "../client/interceptor.js";
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

type Request = ClientUnaryRequest | ClientStreamRequest;

/**
 * The attributes of a transport's calls, built once per method, server and
 * HTTP version: a transport calls one server, so every call would otherwise
 * parse the same URL and rebuild the same objects.
 */
class ClientAttributes {
  private readonly byMethod = new Map<DescMethod, Map<string, { metric: Attributes; span: Attributes }>>();

  of(req: Request): { metric: Attributes; span: Attributes } {
    const pathStart = req.url.indexOf("/", req.url.indexOf("//") + 2);
    const origin = pathStart < 0 ? req.url : req.url.slice(0, pathStart);
    let byKey = this.byMethod.get(req.method);
    if (!byKey) {
      byKey = new Map();
      this.byMethod.set(req.method, byKey);
    }
    const key = `${req.protocol} ${req.httpVersion} ${origin}`;
    let attrs = byKey.get(key);
    if (!attrs) {
      const u = new URL(origin);
      const metric: Attributes = {
        [ATTR_RPC_SYSTEM]: rpcSystem(req.protocol),
        [ATTR_RPC_SERVICE]: req.service.typeName,
        [ATTR_RPC_METHOD]: req.method.name,
        // Without IPv6 brackets, and the port even when it is the scheme's default.
        [ATTR_SERVER_ADDRESS]: u.hostname.replace(/^\[(.*)\]$/, "$1"),
        [ATTR_SERVER_PORT]: Number(u.port || (u.protocol === "https:" ? 443 : 80)),
        [ATTR_PROTOCOL_NAME]: "http",
      };
      // Unknown until ALPN picked it; the conventions say not to set a version that is not known.
      if (req.httpVersion) metric[ATTR_PROTOCOL_VERSION] = req.httpVersion;
      attrs = { metric, span: { ...metric, [ATTR_NETWORK_TRANSPORT]: "tcp" } };
      if (byKey.size >= 64) byKey.clear();
      byKey.set(key, attrs);
    }
    return attrs;
  }
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
  const attributes = new ClientAttributes();
  return (next) => (req) => {
    const parent = boundContext(req.context) ?? context.active();
    if (!t.instruments && !t.tracing()) {
      // Nothing records: pass on the trace context there is, as the API's no-op span would.
      t.propagator.inject(parent, req.header, headersSetter);
      return next(req);
    }
    return traced(next, req, parent);
  };

  async function traced(next: ClientAnyFn, req: Request, parent: Context) {
    const { metric, span: spanAttributes } = attributes.of(req);
    const span = t.tracer.startSpan(
      spanName(req.service.typeName, req.method.name),
      { kind: SpanKind.CLIENT, attributes: spanAttributes },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    t.propagator.inject(spanContext, req.header, headersSetter);
    const call = new CallTelemetry(t, span, "client", rpcSystem(req.protocol), req.method, metric);
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
  }
}
