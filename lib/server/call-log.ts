import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ProtocolName } from "../protocol/content-type.js";

/** Whether a request's call writes its "rpc completed" line. */
export type CallLogPolicy = (request: FastifyRequest) => boolean;

const always: CallLogPolicy = () => true;
const never: CallLogPolicy = () => false;

/**
 * Fastify without a logger uses a null logger whose `child()` is itself and
 * which has no level; per-call log lines are then skipped, not built.
 */
function hasNullLogger(fastify: FastifyInstance): boolean {
  const log = fastify.log as FastifyInstance["log"] & { level?: string };
  return log.level === undefined && log.child({}) === log;
}

/**
 * Fastify's own test for "is request logging off for this request": its log
 * controller (Fastify >= 5.12, which also carries `disableRequestLogging`),
 * else the `disableRequestLogging` option (a boolean, or a function of the request).
 */
function requestLoggingDisabled(fastify: FastifyInstance): ((request: FastifyRequest) => boolean) | boolean {
  for (let o: object | null = fastify; o !== null; o = Object.getPrototypeOf(o)) {
    const key = Object.getOwnPropertySymbols(o).find((s) => s.description === "fastify.logController");
    if (key === undefined) continue;
    const controller = (o as Record<symbol, { isLogDisabled?: (req: FastifyRequest) => boolean }>)[key];
    if (typeof controller?.isLogDisabled === "function")
      return (request) => controller.isLogDisabled?.(request) === true;
  }
  const disabled = (fastify.initialConfig as { disableRequestLogging?: unknown }).disableRequestLogging;
  if (typeof disabled === "function") return (request) => disabled(request) === true;
  return disabled === true;
}

/**
 * When calls are logged. `logCalls: true` or `false` decides alone; left out,
 * the line is a per-request log line like Fastify's own, so whatever turns
 * those off (`disableRequestLogging`, a log controller) turns it off too.
 * The route's log level (the `logLevel` register option) filters it like any
 * `request.log` line.
 */
export function callLogPolicy(fastify: FastifyInstance, logCalls: boolean | undefined): CallLogPolicy {
  if (logCalls === false || hasNullLogger(fastify)) return never;
  if (logCalls === true) return always;
  const disabled = requestLoggingDisabled(fastify);
  if (typeof disabled === "function") return (request) => !disabled(request);
  return disabled ? never : always;
}

/** The one line a finished call writes: its rpc, protocol, status code name and duration. */
export function logCallCompleted(
  request: FastifyRequest,
  rpc: string,
  protocol: ProtocolName,
  code: string,
  durationMs: number,
): void {
  request.log.info({ rpc, protocol, code, durationMs: Math.round(durationMs * 1000) / 1000 }, "rpc completed");
}
