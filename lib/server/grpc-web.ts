import type { OutgoingHttpHeaders } from "node:http";
import { Code } from "../protocol/code.js";
import { encodeEnvelope, FLAG_TRAILERS } from "../protocol/envelope.js";
import { ConnectError } from "../protocol/error.js";
import type { ServerCall } from "./call.js";
import { grpcFamilyWire, type StatusWriter, serveGrpcFamily } from "./grpc.js";
import type { ResponseAdapter } from "./response.js";

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

const writeTrailersFrame: StatusWriter = (call, out, status) => {
  const frame = trailersFrame(status);
  const body = out.body ? Buffer.concat([out.body, frame]) : frame;
  if (!out.headSent) {
    // The whole unary response is known: a content-length spares HTTP/1.1 the chunked framing.
    out.headSent = true;
    call.adapter.head(200, { ...out.head(), "content-length": body.byteLength });
  }
  call.adapter.end(body);
};

/** Wraps a response so that each chunk goes out base64-encoded (grpc-web-text). */
class Base64Response implements ResponseAdapter {
  constructor(private readonly inner: ResponseAdapter) {}
  get httpVersion() {
    return this.inner.httpVersion;
  }
  readonly supportsTrailers = false;
  get headSent() {
    return this.inner.headSent;
  }
  get closed() {
    return this.inner.closed;
  }
  head(status: number, headers: OutgoingHttpHeaders, opts?: { endStream?: boolean }) {
    this.inner.head(status, headers, opts);
  }
  write(chunk: Uint8Array) {
    return this.inner.write(Buffer.from(toBase64(chunk)));
  }
  end(chunk?: Uint8Array) {
    this.inner.end(chunk ? Buffer.from(toBase64(chunk)) : undefined);
  }
  destroy() {
    this.inner.destroy();
  }
  onAbort(fn: () => void) {
    this.inner.onAbort(fn);
  }
}

function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/**
 * Decodes a base64 body that arrives in arbitrary chunks. Each base64 group
 * of four characters is decoded on its own, so padded segments may follow
 * each other (a client may encode every frame separately).
 */
export class Base64Decoder {
  private pending = "";

  chunk = (b: Buffer): Buffer => {
    const text = this.pending + b.toString("latin1").replace(/\s+/g, "");
    const whole = text.length - (text.length % 4);
    this.pending = text.slice(whole);
    return this.decode(text.slice(0, whole));
  };

  flush = (): void => {
    if (this.pending.length > 0) {
      throw new ConnectError(`invalid base64 body: ${this.pending.length} trailing characters`, Code.InvalidArgument);
    }
  };

  private decode(text: string): Buffer {
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
  proto: grpcFamilyWire("application/grpc-web+proto", false, writeTrailersFrame),
  json: grpcFamilyWire("application/grpc-web+json", false, writeTrailersFrame),
  textProto: grpcFamilyWire("application/grpc-web-text+proto", false, writeTrailersFrame),
  textJson: grpcFamilyWire("application/grpc-web-text+json", false, writeTrailersFrame),
};

/** The response adapter for grpc-web-text: every chunk goes out base64-encoded. */
export function base64Response(adapter: ResponseAdapter): ResponseAdapter {
  return new Base64Response(adapter);
}

/**
 * Serves a gRPC-Web call over HTTP/1.1 or HTTP/2. For the text variant the
 * call's adapter must come from `base64Response`.
 */
export function serveGrpcWeb(call: ServerCall, text: boolean): Promise<void> {
  const json = call.codec.input.name === "json";
  if (!text) return serveGrpcFamily(call, json ? wires.json : wires.proto);
  return serveGrpcFamily(call, json ? wires.textJson : wires.textProto, new Base64Decoder());
}
