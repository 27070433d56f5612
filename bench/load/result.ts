// What every load generator reports for one measured run.
export interface LoadResult {
  /** Completed requests (or messages, or round trips) per second over the measured window. */
  throughput: number;
  /** How many were completed in the window. */
  completed: number;
  /** Latency of one request (h2load, wrk), one whole streaming call (stream), or one round trip (bidi). */
  p50Ms: number;
  p99Ms: number;
  /** Requests that failed: non-2xx, socket errors, resets, wrong grpc-status or message count. */
  errors: number;
  /** The load generator's own breakdown of the errors, as it reported them. */
  errorDetail: string;
}

/** The q-quantile (0..1) of an ascending array, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
