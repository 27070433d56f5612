import type { OutgoingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import { encodeEnvelope, FLAG_TRAILERS } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import type { ServerCall } from "./call.js";
import type { BodyTransform, ResponseEnd } from "./envelope-call.js";
import { grpcFamilyWire, serveGrpcFamily } from "./grpc.js";

// gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md): gRPC's framing over HTTP/1.1 or
// HTTP/2, with the status as a last body frame (flag 0x80) of lower-case
// "key: value\r\n" lines instead of HTTP trailers. The -text variants
// base64-encode the whole body in both directions.

/** The trailers frame: lower-case keys, one "key: value" line each. */
function trailersFrame(status: OutgoingHttpHeaders): Buffer {
  let text = "";
  for (const [k, v] of Object.entries(status)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) text += `${k.toLowerCase()}: ${item}\r\n`;
  }
  return encodeEnvelope(FLAG_TRAILERS, Buffer.from(text));
}

/** gRPC-Web's status: a trailers frame, or a trailers-only head when no message was sent. */
const inTrailersFrame = (status: OutgoingHttpHeaders): ResponseEnd => ({
  frame: trailersFrame(status),
  trailersOnly: status,
});

function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/**
 * The grpc-web-text body: base64 both ways. The request arrives in arbitrary
 * chunks, and each base64 group of four characters is decoded on its own, so
 * padded segments may follow each other (a client may encode every frame
 * separately). Each response write is encoded on its own, likewise.
 */
export class Base64Body implements BodyTransform {
  private pending = "";

  decode = (b: Buffer): Buffer => {
    const text = this.pending + b.toString("latin1").replace(/\s+/g, "");
    const whole = text.length - (text.length % 4);
    this.pending = text.slice(whole);
    return this.decodeGroups(text.slice(0, whole));
  };

  flush = (): void => {
    if (this.pending.length > 0) {
      throw new ConnectError(`invalid base64 body: ${this.pending.length} trailing characters`, Code.InvalidArgument);
    }
  };

  encode = (b: Uint8Array): Uint8Array => Buffer.from(toBase64(b));

  private decodeGroups(text: string): Buffer {
    if (!/^[A-Za-z0-9+/=]*$/.test(text)) {
      throw new ConnectError("invalid base64 body: unexpected characters", Code.InvalidArgument);
    }
    if (!text.includes("=")) return Buffer.from(text, "base64");
    const parts: Buffer[] = [];
    for (let i = 0; i < text.length; i += 4) parts.push(Buffer.from(text.slice(i, i + 4), "base64"));
    return Buffer.concat(parts);
  }
}

const wires = {
  proto: grpcFamilyWire("application/grpc-web+proto", false, inTrailersFrame),
  json: grpcFamilyWire("application/grpc-web+json", false, inTrailersFrame),
  textProto: grpcFamilyWire("application/grpc-web-text+proto", false, inTrailersFrame),
  textJson: grpcFamilyWire("application/grpc-web-text+json", false, inTrailersFrame),
};

/** Serves a gRPC-Web call over HTTP/1.1 or HTTP/2; the text variant is base64 both ways. */
export function serveGrpcWeb(call: ServerCall, text: boolean): void {
  const json = call.codec.input.name === "json";
  if (text) serveGrpcFamily(call, json ? wires.textJson : wires.textProto, new Base64Body());
  else serveGrpcFamily(call, json ? wires.json : wires.proto);
}
