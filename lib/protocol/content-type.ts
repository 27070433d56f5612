import { Code } from "./code.js";
import type { CodecName } from "./codec.js";
import { ConnectError } from "./error.js";

/** The three wire protocols served on every route. */
export type ProtocolName = "connect" | "grpc" | "grpc-web";

/** What a request's content-type says about the call. */
export interface ContentType {
  protocol: ProtocolName;
  codec: CodecName;
  /** Enveloped messages (Connect streaming, gRPC, gRPC-Web); false for Connect unary. */
  streaming: boolean;
  /** gRPC-Web text: the whole body is base64. */
  text: boolean;
}

const known = new Map<string, ContentType>();
function add(mime: string, protocol: ProtocolName, codec: CodecName, streaming: boolean, text = false): void {
  known.set(mime, Object.freeze({ protocol, codec, streaming, text }));
}
add("application/proto", "connect", "proto", false);
add("application/json", "connect", "json", false);
add("application/connect+proto", "connect", "proto", true);
add("application/connect+json", "connect", "json", true);
add("application/grpc", "grpc", "proto", true);
add("application/grpc+proto", "grpc", "proto", true);
add("application/grpc+json", "grpc", "json", true);
add("application/grpc-web", "grpc-web", "proto", true);
add("application/grpc-web+proto", "grpc-web", "proto", true);
add("application/grpc-web+json", "grpc-web", "json", true);
add("application/grpc-web-text", "grpc-web", "proto", true, true);
add("application/grpc-web-text+proto", "grpc-web", "proto", true, true);
add("application/grpc-web-text+json", "grpc-web", "json", true, true);

/** Every content-type a server accepts, for `Accept-Post` and error messages. */
export const supportedContentTypes: readonly string[] = [...known.keys()];

// Clients send the same few strings over and over; parsing each once keeps
// the per-request cost to one map lookup. Bounded, so odd inputs cannot grow it.
const cache = new Map<string, ContentType | null>();
const CACHE_LIMIT = 256;

/**
 * Parses a content-type header. Media types are case-insensitive and may carry
 * parameters; a `charset` other than utf-8 is refused (JSON must be UTF-8).
 */
export function parseContentType(header: string | undefined): ContentType | undefined {
  if (header === undefined) return undefined;
  const hit = cache.get(header);
  if (hit !== undefined) return hit ?? undefined;
  const parsed = parseUncached(header);
  if (cache.size < CACHE_LIMIT) cache.set(header, parsed ?? null);
  return parsed;
}

function parseUncached(header: string): ContentType | undefined {
  const [mime, ...params] = header.toLowerCase().split(";");
  const ct = known.get(mime.trim());
  if (!ct) return undefined;
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq < 0) continue;
    if (p.slice(0, eq).trim() !== "charset") continue;
    const charset = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1");
    if (charset !== "utf-8" && charset !== "utf8") return undefined;
  }
  return ct;
}

/**
 * Checks a response's content-type against the request's protocol and
 * codec. Something that is not a response of the protocol at all (a proxy's
 * HTML page) is unknown; the protocol with the wrong codec is internal, a
 * server bug (the conformance suite's rule).
 */
export function checkResponseContentType(
  header: string | undefined,
  protocol: ProtocolName,
  codec: CodecName,
  streaming: boolean,
): void {
  const ct = parseContentType(header);
  if (!ct || ct.protocol !== protocol || ct.streaming !== streaming) {
    throw new ConnectError(`unexpected response content-type "${header ?? ""}"`, Code.Unknown);
  }
  if (ct.codec !== codec || ct.text) {
    throw new ConnectError(
      `unexpected response content-type "${header}": the request was sent as ${codec}`,
      Code.Internal,
    );
  }
}
