import type { Attributes } from "@opentelemetry/api";
import { Code, codeToString } from "../protocol/code.js";
import type { ProtocolName } from "../protocol/content-type.js";

// Names and rules of the OpenTelemetry semantic conventions v1.37.0 for RPC
// (docs/rpc/rpc-spans.md, rpc-metrics.md, grpc.md, connect-rpc.md): the last
// release that names `rpc.system`, `rpc.service` and `rpc.method`, which
// otelconnect-go and @opentelemetry/instrumentation-grpc emit too.

/** `rpc.system`: gRPC-Web is gRPC's wire format over HTTP/1.1 or 2, so it counts as `grpc`. */
export type RpcSystem = "connect_rpc" | "grpc";

export const ATTR_RPC_SYSTEM = "rpc.system";
export const ATTR_RPC_SERVICE = "rpc.service";
export const ATTR_RPC_METHOD = "rpc.method";
export const ATTR_GRPC_STATUS_CODE = "rpc.grpc.status_code";
export const ATTR_CONNECT_ERROR_CODE = "rpc.connect_rpc.error_code";
export const ATTR_SERVER_ADDRESS = "server.address";
export const ATTR_SERVER_PORT = "server.port";
export const ATTR_PEER_ADDRESS = "network.peer.address";
export const ATTR_PEER_PORT = "network.peer.port";
export const ATTR_NETWORK_TRANSPORT = "network.transport";
export const ATTR_NETWORK_TYPE = "network.type";
export const ATTR_PROTOCOL_NAME = "network.protocol.name";
export const ATTR_PROTOCOL_VERSION = "network.protocol.version";

/** The message event (rpc-spans.md, "Events"). */
export const EVENT_MESSAGE = "message";
export const ATTR_MESSAGE_TYPE = "rpc.message.type";
export const ATTR_MESSAGE_ID = "rpc.message.id";
export const ATTR_MESSAGE_UNCOMPRESSED_SIZE = "rpc.message.uncompressed_size";

/** The system a protocol belongs to. */
export function rpcSystem(protocol: ProtocolName): RpcSystem {
  return protocol === "connect" ? "connect_rpc" : "grpc";
}

/** The span name: `package.Service/Method` (rpc-spans.md, "Span name"). */
export function spanName(typeName: string, method: string): string {
  return `${typeName}/${method}`;
}

/**
 * The status code attribute of the system, added to `attrs`: gRPC records
 * the numeric code of every call, 0 included (grpc.md); Connect records the
 * error code only when the call failed (connect-rpc.md), in the convention's
 * spelling (`cancelled`, where Connect writes `canceled`).
 */
export function addStatusCode(attrs: Attributes, system: RpcSystem, code: Code | undefined): void {
  if (system === "grpc") attrs[ATTR_GRPC_STATUS_CODE] = code ?? 0;
  else if (code !== undefined)
    attrs[ATTR_CONNECT_ERROR_CODE] = code === Code.Canceled ? "cancelled" : codeToString(code);
}

/** gRPC codes that are the server's fault (grpc.md, "gRPC Status"). */
const grpcServerErrors = new Set<Code>([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/**
 * Whether a call that ended with `code` sets the span status to Error. gRPC:
 * every error on the client, the server's own faults on the server, other
 * codes leave it unset. Connect: every error, on both sides (connect-rpc.md,
 * "Connect RPC Status").
 */
export function isSpanError(system: RpcSystem, side: "client" | "server", code: Code | undefined): boolean {
  if (code === undefined) return false;
  if (system === "connect_rpc" || side === "client") return true;
  return grpcServerErrors.has(code);
}
