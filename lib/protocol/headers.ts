import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/**
 * Encodes a binary value for a `-bin` header: base64 without padding, as the
 * gRPC spec asks senders to emit (PROTOCOL-HTTP2.md, "Custom-Metadata").
 */
export function encodeBinaryHeader(value: Uint8Array | string): string {
  const bytes =
    typeof value === "string" ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return bytes.toString("base64").replace(/=+$/, "");
}

/** Decodes a `-bin` header value; padded, unpadded and URL-safe base64 are all accepted. */
export function decodeBinaryHeader(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "base64"));
}

/**
 * Headers a handler must not set: the protocols own them. Connection-specific
 * headers are also dropped, since HTTP/2 forbids them (RFC 9113, 8.2.2).
 */
const reserved = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
]);

/** Whether a handler-set header name is owned by the protocol and left out on the wire. */
export function isReservedHeader(name: string): boolean {
  return reserved.has(name);
}

/**
 * Copies user metadata into an outgoing header record, optionally with a
 * prefix (Connect unary trailers travel as `trailer-` headers). Reserved
 * headers are skipped; values of a repeated name become an array.
 */
export function appendHeaders(into: OutgoingHttpHeaders, from: Headers, prefix = ""): void {
  from.forEach((value, name) => {
    if (reserved.has(name)) return;
    const key = prefix + name;
    const prev = into[key];
    if (prev === undefined) into[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else into[key] = [String(prev), value];
  });
}

/** Builds a Headers object from Node's incoming headers, without HTTP/2 pseudo-headers. */
export function headersFromIncoming(raw: IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const name in raw) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const v = raw[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) h.append(name, item);
    else h.append(name, v);
  }
  return h;
}

/** Anything the Headers constructor accepts. */
export type HeadersInit = ConstructorParameters<typeof Headers>[0];
