import type { DescMethod } from "@bufbuild/protobuf";
import type { Attributes } from "@opentelemetry/api";
import type { HandlerContext } from "../server/context.js";
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
  rpcSystem,
} from "./semconv.js";

interface HostName {
  address: string;
  port: number | undefined;
}

/**
 * The attributes of SERVER spans and metrics, built once and reused: per
 * method, protocol and HTTP version for the metrics; per connection for the
 * peer; per Host (or :authority) value for `server.address`/`server.port`.
 * Every call would otherwise rebuild the same objects (a measurable share of
 * the interceptor's cost, see bench/RESULTS.md).
 */
export class ServerAttributes {
  private readonly metric = new Map<DescMethod, Map<string, Attributes>>();
  private readonly connections = new WeakMap<object, Attributes>();
  private readonly hosts = new Map<string, HostName>();
  private readonly spans = new WeakMap<Attributes, Map<Attributes, Map<string, Attributes>>>();

  /** Attributes the metrics carry: low cardinality, nothing a client can vary at will. */
  metricAttributes(ctx: HandlerContext): Attributes {
    const raw = ctx.request.raw.httpVersion;
    const version = raw === "2.0" ? "2" : raw; // Node says "2.0"; the conventions write "2"
    let byKind = this.metric.get(ctx.method);
    if (!byKind) {
      byKind = new Map();
      this.metric.set(ctx.method, byKind);
    }
    const key = `${ctx.protocol} ${version}`;
    let attrs = byKind.get(key);
    if (!attrs) {
      attrs = {
        [ATTR_RPC_SYSTEM]: rpcSystem(ctx.protocol),
        [ATTR_RPC_SERVICE]: ctx.service.typeName,
        [ATTR_RPC_METHOD]: ctx.method.name,
        [ATTR_PROTOCOL_NAME]: "http",
        [ATTR_PROTOCOL_VERSION]: version,
      };
      byKind.set(key, attrs);
    }
    return attrs;
  }

  /**
   * The span's attributes: the metric ones, the peer, and the server's name
   * as the client addressed it. Made once per connection, method and host:
   * the tracer copies them, so one object serves every span alike.
   */
  spanAttributes(ctx: HandlerContext, metric: Attributes): Attributes {
    const connection = this.connection(ctx);
    const hostValue = (ctx.request.headers[":authority"] ?? ctx.request.headers.host ?? "") as string;
    let byMetric = this.spans.get(connection);
    if (!byMetric) {
      byMetric = new Map();
      this.spans.set(connection, byMetric);
    }
    let byHost = byMetric.get(metric);
    if (!byHost) {
      byHost = new Map();
      byMetric.set(metric, byHost);
    }
    let attrs = byHost.get(hostValue);
    if (!attrs) {
      attrs = { ...metric, ...connection };
      const host = this.host(ctx, hostValue);
      if (host) {
        attrs[ATTR_SERVER_ADDRESS] = host.address;
        if (host.port !== undefined) attrs[ATTR_SERVER_PORT] = host.port;
      }
      if (byHost.size >= 16) byHost.clear();
      byHost.set(hostValue, attrs);
    }
    return attrs;
  }

  private connection(ctx: HandlerContext): Attributes {
    // HTTP/2's request.socket is a new proxy per stream: key on the session instead.
    const raw = ctx.request.raw as { stream?: { session?: object }; socket?: object };
    const key = raw.stream?.session ?? raw.socket;
    let attrs = key ? this.connections.get(key) : undefined;
    if (!attrs) {
      const socket = ctx.request.socket;
      attrs = { [ATTR_NETWORK_TRANSPORT]: "tcp" };
      if (socket?.remoteAddress) {
        attrs[ATTR_PEER_ADDRESS] = socket.remoteAddress;
        if (socket.remotePort) attrs[ATTR_PEER_PORT] = socket.remotePort;
      }
      if (socket?.remoteFamily) attrs[ATTR_NETWORK_TYPE] = socket.remoteFamily.toLowerCase();
      if (key) this.connections.set(key, attrs);
    }
    return attrs;
  }

  /** `server.address` and `server.port` from the Host header (HTTP/1.1) or :authority (HTTP/2). */
  private host(ctx: HandlerContext, value: string): HostName | undefined {
    if (!value) return undefined;
    let name = this.hosts.get(value);
    if (!name) {
      // "[::1]:8080", "example.com", "10.0.0.1:80": the port is what follows the last colon after any "]".
      const colon = value.lastIndexOf(":");
      const hasPort = colon > value.lastIndexOf("]");
      const address = (hasPort ? value.slice(0, colon) : value).replace(/^\[(.*)\]$/, "$1");
      const port = hasPort ? Number(value.slice(colon + 1)) : ctx.request.socket?.localPort;
      name = { address, port: Number.isInteger(port) ? port : undefined };
      // A client picks the Host header: bound the cache so that it cannot grow without end.
      if (this.hosts.size >= 256) this.hosts.clear();
      this.hosts.set(value, name);
    }
    return name;
  }
}
