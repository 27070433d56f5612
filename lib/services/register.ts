import { optionError } from "../options.js";
import type { ConnectRouter } from "../server/router.js";
import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { type GrpcHealth, healthService, resolveGrpcHealth, startServing } from "./health.js";
import { reflectionImpls, reflectionServices } from "./reflection.js";

/** The plugin options that turn on the standard gRPC services. */
export interface StandardServicesOptions {
  /**
   * Serves `grpc.health.v1.Health` (Check, List, Watch). `true` for a
   * registry of its own, or a `createGrpcHealth()` object to change statuses
   * later. Every served service starts SERVING, and so does `""`; on
   * `fastify.close()` all turn NOT_SERVING before in-flight calls drain.
   */
  grpcHealth?: GrpcHealth | boolean;
  /**
   * Serves server reflection (`grpc.reflection.v1` and `v1alpha`), so that
   * grpcurl, `buf curl` and IDEs can list and call the services without a schema.
   */
  grpcReflection?: boolean;
}

/**
 * Registers health and reflection on the router, after the app's own
 * services. Returns what the shutdown must do first: turn health NOT_SERVING,
 * so that load balancers stop sending new calls while the rest drains.
 */
export function addStandardServices(router: ConnectRouter, opts: StandardServicesOptions): { onDrain?: () => void } {
  const own = new Set(router.entries.map((e) => e.method.parent));
  const health = resolveGrpcHealth(opts.grpcHealth);
  if (health) {
    startServing(
      health,
      [...own].map((s) => s.typeName),
    );
    router.service(Health, healthService(health));
  }
  if (opts.grpcReflection !== undefined && typeof opts.grpcReflection !== "boolean") {
    throw optionError("grpcReflection", "a boolean", opts.grpcReflection);
  }
  if (opts.grpcReflection) {
    const impls = reflectionImpls(() => [...new Set(router.entries.map((e) => e.method.parent))]);
    router.service(reflectionServices[0], impls.v1);
    router.service(reflectionServices[1], impls.v1alpha);
  }
  return { onDrain: health ? () => health.enterShutdown() : undefined };
}
