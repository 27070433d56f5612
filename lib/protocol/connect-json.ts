import { Code, codeFromString, codeToString } from "./code.js";
import { ConnectError, detailToWire, type IncomingDetail } from "./error.js";
import type { HeadersInit } from "./headers.js";

// The JSON shapes of the Connect protocol: the unary error body and the
// end-of-stream message (Connect protocol, "Error Codes" and "Streaming-Response").

interface ErrorJson {
  code: string;
  message?: string;
  details?: { type: string; value: string; debug?: unknown }[];
}

function base64Unpadded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/=+$/, "");
}

/** The error as a JSON object, details as unpadded base64 (the spec's wire form). */
export function errorToJson(error: ConnectError): ErrorJson {
  const json: ErrorJson = { code: codeToString(error.code) };
  if (error.rawMessage.length > 0) json.message = error.rawMessage;
  if (error.details.length > 0) {
    json.details = error.details.map((d) => {
      const wire = detailToWire(d);
      const out: { type: string; value: string; debug?: unknown } = {
        type: wire.type,
        value: base64Unpadded(wire.value),
      };
      if (wire.debug !== undefined) out.debug = wire.debug;
      return out;
    });
  }
  return json;
}

/** The body of a Connect unary error response. */
export function errorToJsonBytes(error: ConnectError): Buffer {
  return Buffer.from(JSON.stringify(errorToJson(error)));
}

/** What an error object does not say itself: its code, and its message when the code is missing too. */
export interface ErrorFallback {
  code: Code;
  message: string;
}

/** An error without a valid code is unknown (Connect protocol, "Error Codes"). */
const UNKNOWN_FALLBACK: ErrorFallback = { code: Code.Unknown, message: "" };

/**
 * Reads an error object. A missing, null or unrecognized code is `fallback.code`
 * (Connect protocol, "Error Codes": clients treat unknown codes as unknown; a
 * unary error falls back to its HTTP status, as connect-go does), and unknown
 * fields are ignored. Undefined when `json` is no object at all.
 */
export function errorFromJson(
  json: unknown,
  metadata?: HeadersInit,
  fallback: ErrorFallback = UNKNOWN_FALLBACK,
): ConnectError | undefined {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  const code = typeof o.code === "string" ? codeFromString(o.code) : undefined;
  const message = typeof o.message === "string" ? o.message : code === undefined ? fallback.message : "";
  const details: IncomingDetail[] = [];
  if (Array.isArray(o.details)) {
    for (const d of o.details) {
      if (d === null || typeof d !== "object") continue;
      const { type, value, debug } = d as Record<string, unknown>;
      if (typeof type !== "string" || typeof value !== "string") continue;
      details.push({ type, value: new Uint8Array(Buffer.from(value, "base64")), debug });
    }
  }
  return new ConnectError(message, code ?? fallback.code, { metadata, details });
}

/** The end-of-stream message of a Connect streaming response. */
export function endStreamToJsonBytes(error: ConnectError | undefined, trailer: Headers): Buffer {
  const json: { error?: ErrorJson; metadata?: Record<string, string[]> } = {};
  if (error) json.error = errorToJson(error);
  let metadata: Record<string, string[]> | undefined;
  const add = (value: string, name: string) => {
    metadata ??= {};
    (metadata[name] ??= []).push(value);
  };
  trailer.forEach(add);
  error?.metadata.forEach(add);
  if (metadata) json.metadata = metadata;
  return Buffer.from(JSON.stringify(json));
}

/** Parses an end-of-stream message: the error, if any, and the trailers. */
export function endStreamFromJson(bytes: Uint8Array): { error?: ConnectError; trailer: Headers } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (e) {
    throw new ConnectError("invalid end-of-stream message: not JSON", Code.Internal, { cause: e });
  }
  if (json === null || typeof json !== "object") {
    throw new ConnectError("invalid end-of-stream message: not a JSON object", Code.Internal);
  }
  const o = json as Record<string, unknown>;
  const trailer = new Headers();
  if (o.metadata !== undefined) {
    if (o.metadata === null || typeof o.metadata !== "object") {
      throw new ConnectError("invalid end-of-stream message: metadata is not an object", Code.Internal);
    }
    for (const [name, values] of Object.entries(o.metadata as Record<string, unknown>)) {
      if (!Array.isArray(values)) {
        throw new ConnectError(`invalid end-of-stream message: metadata "${name}" is not a list`, Code.Internal);
      }
      for (const v of values) {
        try {
          trailer.append(name, String(v));
        } catch (e) {
          throw new ConnectError(
            `invalid end-of-stream message: metadata "${name}": ${(e as Error).message}`,
            Code.Internal,
            {
              cause: e,
            },
          );
        }
      }
    }
  }
  if (o.error === undefined || o.error === null) return { trailer };
  const error = errorFromJson(o.error, trailer);
  if (!error) throw new ConnectError("invalid end-of-stream message: error is not an object", Code.Internal);
  return { error, trailer };
}
