import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, codeFromNumber, codeToString } from "./code.js";
import type { HeadersInit } from "./headers.js";

/** An error detail to send: a message and its descriptor (google.protobuf.Any on the wire). */
export interface OutgoingDetail<Desc extends DescMessage = DescMessage> {
  desc: Desc;
  value: MessageInitShape<Desc>;
}

/** An error detail as it came off the wire: a fully-qualified type name and the message's bytes. */
export interface IncomingDetail {
  type: string;
  value: Uint8Array;
  /** The JSON form of the message, when the peer sent one (Connect only). */
  debug?: unknown;
}

/** An error detail: one to send, or one received. */
export type ErrorDetail = OutgoingDetail | IncomingDetail;

/** Options of `new ConnectError(message, code, options)`. */
export interface ConnectErrorOptions {
  /** Headers (or trailers) sent with the error. */
  metadata?: HeadersInit;
  /** Messages that describe the error further. */
  details?: ErrorDetail[];
  /** The error that caused this one: kept for logs, never sent. */
  cause?: unknown;
}

/**
 * The error every handler may throw and every client call rejects with. Its
 * message is what travels to the peer; `cause` never does.
 */
export class ConnectError extends Error {
  readonly code: Code;
  /** The message without the `[code]` prefix: what the peer sees. */
  readonly rawMessage: string;
  readonly metadata: Headers;
  details: ErrorDetail[];
  override name = "ConnectError";

  constructor(message: string, code: Code = Code.Unknown, options: ConnectErrorOptions = {}) {
    super(formatMessage(message, code), options.cause === undefined ? undefined : { cause: options.cause });
    Object.setPrototypeOf(this, new.target.prototype);
    this.code = code;
    this.rawMessage = message;
    this.metadata = new Headers(options.metadata);
    this.details = options.details ?? [];
  }

  /**
   * Wraps anything thrown into a ConnectError. A ConnectError passes through;
   * anything else becomes `code` with a generic message, so that internal
   * detail (a stack, a SQL string) never reaches a peer. The original is the
   * `cause`.
   */
  static from(reason: unknown, code: Code = Code.Unknown): ConnectError {
    const known = asConnectError(reason);
    if (known) return known;
    if (reason instanceof Error && reason.name === "AbortError") {
      return new ConnectError("operation was aborted", Code.Canceled, { cause: reason });
    }
    return new ConnectError(code === Code.Internal ? "internal error" : "unknown error", code, { cause: reason });
  }

  /**
   * Decodes the details of a given type. Outgoing details of that type are
   * returned as messages too.
   */
  findDetails<Desc extends DescMessage>(desc: Desc): MessageShape<Desc>[] {
    const found: MessageShape<Desc>[] = [];
    for (const d of this.details) {
      if ("desc" in d) {
        if (d.desc.typeName === desc.typeName) found.push(create(desc, d.value as MessageInitShape<Desc>));
      } else if (d.type === desc.typeName) {
        try {
          found.push(fromBinary(desc, d.value));
        } catch {
          // A detail that does not decode is skipped, as connect-go and connect-es do.
        }
      }
    }
    return found;
  }
}

/**
 * The ConnectError that `reason` is: this class, or one of the same shape from
 * another copy of this library or from `@connectrpc/connect` (connect-es
 * uses the same Code numbers and the same detail forms), which is rebuilt
 * with its code, message, metadata and details. Undefined for anything else.
 */
export function asConnectError(reason: unknown): ConnectError | undefined {
  if (reason instanceof ConnectError) return reason;
  if (!(reason instanceof Error) || reason.name !== "ConnectError") return undefined;
  const r = reason as Error & { code?: unknown; rawMessage?: unknown; metadata?: unknown; details?: unknown };
  const code = typeof r.code === "number" ? codeFromNumber(r.code) : undefined;
  if (code === undefined || typeof r.rawMessage !== "string") return undefined;
  return new ConnectError(r.rawMessage, code, {
    metadata: r.metadata instanceof Headers ? r.metadata : undefined,
    details: Array.isArray(r.details) ? r.details.filter(isErrorDetail) : [],
    cause: reason,
  });
}

function isErrorDetail(d: unknown): d is ErrorDetail {
  if (typeof d !== "object" || d === null) return false;
  const o = d as Record<string, unknown>;
  if ("desc" in o) return typeof o.desc === "object" && o.desc !== null && typeof o.value === "object";
  return typeof o.type === "string" && o.value instanceof Uint8Array;
}

function formatMessage(message: string, code: Code): string {
  return message.length > 0 ? `[${codeToString(code)}] ${message}` : `[${codeToString(code)}]`;
}

/** The type name and bytes of a detail, whichever form it has. */
export function detailToWire(d: ErrorDetail): IncomingDetail {
  if ("desc" in d) {
    return { type: d.desc.typeName, value: toBinary(d.desc, create(d.desc, d.value)) };
  }
  return d;
}
