/**
 * Status codes shared by Connect, gRPC and gRPC-Web. The numbers are gRPC's;
 * Connect uses the same codes under snake_case names.
 */
export enum Code {
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

const names: readonly string[] = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** The Connect name of a code, e.g. `invalid_argument`. */
export function codeToString(code: Code): string {
  return names[code] ?? `code_${code}`;
}

/** Parses a Connect code name; undefined for anything else (including "ok"). */
export function codeFromString(name: string): Code | undefined {
  const i = names.indexOf(name);
  return i > 0 ? (i as Code) : undefined;
}

/** Parses a numeric gRPC code; undefined outside 1..16. */
export function codeFromNumber(n: number): Code | undefined {
  return Number.isInteger(n) && n >= 1 && n <= 16 ? (n as Code) : undefined;
}

// Connect protocol, "Error Codes": the HTTP status a unary error is sent with.
const httpStatusOfCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The HTTP status for a Connect unary error with this code. */
export function codeToHttpStatus(code: Code): number {
  return httpStatusOfCode[code] ?? 500;
}

/**
 * The code for an HTTP status that arrived without a protocol error body (a
 * proxy's answer, say). Connect and gRPC agree on this table
 * (grpc/grpc doc/http-grpc-status-mapping.md; Connect protocol, "HTTP to Error Code").
 */
export function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/**
 * The code for a stream reset by the peer with an HTTP/2 error code
 * (PROTOCOL-HTTP2.md, "Errors": the mapping from RST_STREAM codes).
 */
export function codeFromHttp2RstCode(rstCode: number): Code {
  switch (rstCode) {
    case 0x7: // REFUSED_STREAM: the server did not process it, so a retry is safe.
      return Code.Unavailable;
    case 0x8: // CANCEL
      return Code.Canceled;
    case 0xb: // ENHANCE_YOUR_CALM
      return Code.ResourceExhausted;
    case 0xc: // INADEQUATE_SECURITY
      return Code.PermissionDenied;
    default: // NO_ERROR before the end, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, ...
      return Code.Internal;
  }
}
