import { Code } from "./code.js";
import { ConnectError } from "./error.js";

/** The longest delay a Node timer accepts; a longer deadline is no deadline in practice. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parses `Connect-Timeout-Ms`: a positive integer of at most 10 digits
 * (Connect protocol, "Unary-Request"). Undefined when absent.
 */
export function parseConnectTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value)) {
    throw new ConnectError(
      `invalid connect-timeout-ms "${value}": expected a positive integer of at most 10 digits`,
      Code.InvalidArgument,
    );
  }
  return Number(value);
}

const grpcUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Parses `grpc-timeout`: at most 8 digits and a unit, one of H M S m u n
 * (PROTOCOL-HTTP2.md, "Timeout"). Returns milliseconds; undefined when absent.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) {
    throw new ConnectError(
      `invalid grpc-timeout "${value}": expected at most 8 digits followed by a unit H, M, S, m, u or n`,
      Code.InvalidArgument,
    );
  }
  return Number(m[1]) * grpcUnitMs[m[2]];
}

/** Formats milliseconds as `grpc-timeout`, in the finest unit that fits 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  const t = Math.max(0, ms);
  const us = t * 1000;
  if (Number.isInteger(us) && us < 1e8) return `${us}u`;
  // Round up first, then check the digits: rounding can add one.
  for (const [unit, size] of [
    ["m", 1],
    ["S", 1000],
    ["M", 60_000],
    ["H", 3_600_000],
  ] as const) {
    const n = Math.ceil(t / size);
    if (n < 1e8) return `${n}${unit}`;
  }
  return "99999999H";
}

/** Formats milliseconds as `Connect-Timeout-Ms`. */
export function formatConnectTimeout(ms: number): string {
  return String(Math.min(9_999_999_999, Math.max(0, Math.ceil(ms))));
}
