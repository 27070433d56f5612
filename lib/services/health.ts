import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { HandlerContext } from "../server/context.js";
import type { ServiceImpl } from "../server/router.js";
import { type Health, HealthCheckResponse_ServingStatus as Status } from "./gen/grpc/health/v1/health_pb.js";

// gRPC health checking (grpc/grpc doc/health-checking.md, grpc.health.v1).

/** A status `setStatus` accepts; SERVICE_UNKNOWN is only ever sent by Watch, for a service nobody set. */
export type ServingStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN";

const statusByName: Record<ServingStatus, Status> = {
  SERVING: Status.SERVING,
  NOT_SERVING: Status.NOT_SERVING,
  UNKNOWN: Status.UNKNOWN,
};

/**
 * The serving status of each service, as `grpc.health.v1.Health` reports it.
 * Create one with `createGrpcHealth()` and pass it as the plugin's
 * `grpcHealth` option; every service the plugin serves starts SERVING, and
 * so does `""`, the whole server.
 */
export interface GrpcHealth {
  /**
   * Sets a service's status; `""` is the whole server. Open Watch streams of
   * that service get the change. After `fastify.close()` began, every status
   * stays NOT_SERVING and this does nothing.
   */
  setStatus(service: string, status: ServingStatus): void;
  /** A service's status, or undefined for a service nobody set. */
  getStatus(service: string): ServingStatus | undefined;
}

class HealthStatuses implements GrpcHealth {
  readonly statuses = new Map<string, Status>();
  /** Bumped on every change; a watcher that saw an older one has something to send. */
  version = 0;
  shuttingDown = false;
  readonly wakers = new Set<() => void>();

  setStatus(service: string, status: ServingStatus): void {
    if (typeof service !== "string") {
      throw new TypeError(`fastify-connectrpc: health service name must be a string; got ${typeof service}`);
    }
    const value = statusByName[status];
    if (value === undefined || !Object.hasOwn(statusByName, status)) {
      throw new TypeError(
        `fastify-connectrpc: health status must be "SERVING", "NOT_SERVING" or "UNKNOWN"; got ${JSON.stringify(status)}`,
      );
    }
    if (this.shuttingDown) return;
    this.update(service, value);
  }

  getStatus(service: string): ServingStatus | undefined {
    const value = this.statuses.get(service);
    return value === undefined ? undefined : (Status[value] as ServingStatus);
  }

  private update(service: string, value: Status): void {
    if (this.statuses.get(service) === value) return;
    this.statuses.set(service, value);
    this.version++;
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Every status turns NOT_SERVING, for good: load balancers watching stop
   * sending calls while those in flight drain (as grpc-go's and
   * grpc-python's health servers do on graceful shutdown).
   */
  enterShutdown(): void {
    if (this.shuttingDown) return;
    for (const service of this.statuses.keys()) this.update(service, Status.NOT_SERVING);
    this.shuttingDown = true;
    this.version++;
    for (const wake of [...this.wakers]) wake();
  }

  /** Resolves on the next change, or when `signal` aborts. */
  changed(seen: number, signal: AbortSignal): Promise<void> {
    if (this.version !== seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.wakers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.wakers.add(done);
      signal.addEventListener("abort", done);
    });
  }
}

/** A health registry for the plugin's `grpcHealth` option; keep it to change statuses later. */
export function createGrpcHealth(): GrpcHealth {
  return new HealthStatuses();
}

/** The registry behind a `grpcHealth` option value: `true` makes a new one. */
export function resolveGrpcHealth(value: unknown): HealthStatuses | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return new HealthStatuses();
  if (value instanceof HealthStatuses) return value;
  throw new TypeError(
    `fastify-connectrpc: option "grpcHealth" must be true or a createGrpcHealth() object; got ${typeof value}`,
  );
}

/** Marks the served services (and the whole server) SERVING, unless the app set them already. */
export function startServing(health: HealthStatuses, services: Iterable<string>): void {
  for (const service of ["", ...services]) {
    if (!health.statuses.has(service)) health.setStatus(service, "SERVING");
  }
}

/** The grpc.health.v1.Health implementation over a registry. */
export function healthService(health: HealthStatuses): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = health.statuses.get(req.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      }
      return { status };
    },
    list() {
      const statuses: Record<string, { status: Status }> = {};
      for (const [service, status] of health.statuses) statuses[service] = { status };
      return { statuses };
    },
    watch,
  };

  async function* watch(req: { service: string }, ctx: HandlerContext) {
    let sent: Status | undefined;
    for (;;) {
      const seen = health.version;
      const status = health.statuses.get(req.service) ?? Status.SERVICE_UNKNOWN;
      if (status !== sent) {
        sent = status;
        yield { status };
      }
      // NOT_SERVING went out first; the stream then ends, so the shutdown's drain does not wait on it.
      if (health.shuttingDown || ctx.signal.aborted) return;
      await health.changed(seen, ctx.signal);
    }
  }
}
