import type { OutgoingHttpHeaders } from "node:http";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, codeFromNumber } from "./code.js";
import { ConnectError, detailToWire, type IncomingDetail } from "./error.js";
import { appendHeaders, decodeBinaryHeader, encodeBinaryHeader } from "./headers.js";
import { percentDecode } from "./percent.js";

// The status of a gRPC or gRPC-Web call: grpc-status, grpc-message and
// grpc-status-details-bin (PROTOCOL-HTTP2.md, "Responses"). Both protocols
// share this; they differ only in how the trailers travel.

const TYPE_URL_PREFIX = "type.googleapis.com/";

/**
 * Percent-encodes grpc-message: bytes of UTF-8 outside 0x20-0x7E, and "%"
 * itself, become %XX (PROTOCOL-HTTP2.md, "Status-Message").
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const b of Buffer.from(message)) {
    out +=
      b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  }
  return out;
}

/** Decodes grpc-message; a malformed escape is kept as it is, as the spec asks. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  return Buffer.from(percentDecode(value)).toString("utf8");
}

/** Encodes google.rpc.Status { code = 1; message = 2; repeated google.protobuf.Any details = 3 }. */
export function encodeStatusDetails(error: ConnectError): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 0).int32(error.code);
  if (error.rawMessage) w.tag(2, 2).string(error.rawMessage);
  for (const d of error.details) {
    const wire = detailToWire(d);
    w.tag(3, 2).fork();
    w.tag(1, 2).string(TYPE_URL_PREFIX + wire.type);
    w.tag(2, 2).bytes(wire.value);
    w.join();
  }
  return w.finish();
}

/** Decodes google.rpc.Status into its code, message and details. */
export function decodeStatusDetails(bytes: Uint8Array): { code: number; message: string; details: IncomingDetail[] } {
  const r = new BinaryReader(bytes);
  let code = 0;
  let message = "";
  const details: IncomingDetail[] = [];
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1 && wireType === 0) code = r.int32();
    else if (field === 2 && wireType === 2) message = r.string();
    else if (field === 3 && wireType === 2) {
      const any = new BinaryReader(r.bytes());
      let typeUrl = "";
      let value: Uint8Array = new Uint8Array(0);
      while (any.pos < any.len) {
        const [f, t] = any.tag();
        if (f === 1 && t === 2) typeUrl = any.string();
        else if (f === 2 && t === 2) value = any.bytes();
        else any.skip(t);
      }
      details.push({ type: typeUrl.slice(typeUrl.lastIndexOf("/") + 1), value });
    } else r.skip(wireType);
  }
  return { code, message, details };
}

/**
 * The status fields plus the handler's trailers and the error's metadata, as
 * one header record: sent as HTTP/2 trailers (gRPC), the trailers frame
 * (gRPC-Web), or the head of a trailers-only response.
 */
export function grpcStatusTrailers(error: ConnectError | undefined, trailer: Headers | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (trailer) appendHeaders(out, trailer);
  if (!error) {
    out["grpc-status"] = "0";
    return out;
  }
  appendHeaders(out, error.metadata);
  out["grpc-status"] = String(error.code);
  if (error.rawMessage) out["grpc-message"] = encodeGrpcMessage(error.rawMessage);
  if (error.details.length > 0) out["grpc-status-details-bin"] = encodeBinaryHeader(encodeStatusDetails(error));
  return out;
}

/**
 * Reads the status of a finished call from its trailers (or trailers-only
 * head). Undefined means OK; a missing or malformed grpc-status is an error,
 * as the spec asks of clients.
 */
export function grpcStatusFromTrailers(
  get: (name: string) => string | null,
  metadata: Headers,
): ConnectError | undefined {
  const status = get("grpc-status");
  if (status === null) return new ConnectError("protocol error: missing grpc-status", Code.Internal, { metadata });
  if (status === "0") return undefined;
  const code = /^\d+$/.test(status) ? codeFromNumber(Number(status)) : undefined;
  const message = decodeGrpcMessage(get("grpc-message") ?? "");
  const bin = get("grpc-status-details-bin");
  let details: IncomingDetail[] = [];
  if (bin !== null) {
    try {
      details = decodeStatusDetails(decodeBinaryHeader(bin)).details;
    } catch {
      // Details that do not decode are dropped; the status still stands.
    }
  }
  if (code === undefined) {
    return new ConnectError(`protocol error: invalid grpc-status "${status}"`, Code.Unknown, { metadata, details });
  }
  return new ConnectError(message, code, { metadata, details });
}
