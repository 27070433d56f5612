import * as net from "node:net";
import type { FastifyInstance } from "fastify";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { ServerCall } from "./call.js";
import { ServerConnections } from "./connections.js";
import type { InFlightCalls } from "./in-flight.js";

/** What the routes need to know of a drain in progress. */
export interface DrainState {
  /** True from the start of `fastify.close()`: HTTP/1.1 responses carry `Connection: close`. */
  draining: boolean;
}

/**
 * Graceful shutdown for `fastify.close()`, run before Fastify flags itself
 * closing (which answers every new request 503 under `return503OnClosing`):
 * 0. `onDrain` runs (gRPC health turns NOT_SERVING: open Watch streams learn it);
 * 1. the port stops listening, so a proxy's new connections go elsewhere;
 * 2. requests still arriving on open connections are served, HTTP/1.1 ones
 *    with `Connection: close`, and HTTP/2 peers get GOAWAY (see
 *    `ServerConnections.goAway`);
 * 3. in-flight calls get `graceMs` to finish;
 * 4. connections get `idleMs` to be closed by their clients (a proxy closes
 *    its pooled ones after its keep-alive timeout), then calls that came in
 *    meanwhile get `graceMs`; what still runs is aborted (its signal fires and
 *    the client gets `unavailable`), and the server closes what is left.
 * Then Fastify's own close runs as usual.
 */
export function addGracefulShutdown(
  fastify: FastifyInstance,
  inFlight: InFlightCalls<ServerCall>,
  state: DrainState,
  { graceMs, idleMs, onDrain }: { graceMs: number; idleMs: number; onDrain?: () => void },
): void {
  const connections = new ServerConnections(fastify.server);
  const drain = async () => {
    state.draining = true;
    onDrain?.();
    stopListening(fastify.server);
    connections.goAway();
    await waitUntil(() => inFlight.size === 0, Date.now() + graceMs);
    await waitUntil(() => connections.size === 0, Date.now() + idleMs);
    // A pooled connection may have brought one more call meanwhile: it gets the grace too.
    await waitUntil(() => inFlight.size === 0, Date.now() + graceMs);
    for (const call of inFlight.snapshot()) {
      call.ctx.abort(new ConnectError("the server is shutting down", Code.Unavailable));
    }
    connections.detach();
    connections.closeAll();
  };
  // Fastify registers its own onClose handler (the one that flags it closing,
  // runs preClose hooks and calls server.close()) as it becomes ready, and
  // runs onClose handlers last registered first: one added from onReady runs
  // before it, while every route still serves.
  fastify.addHook("onReady", async () => {
    fastify.addHook("onClose", async () => {
      if (!state.draining) await drain();
    });
  });
}

/**
 * Closes the listening socket only. `http.Server#close()` also closes idle
 * keep-alive connections (Node 19+), which races a request a proxy is sending
 * on one of them right then; `onePortServerFactory`'s close also sends GOAWAY.
 * Fastify's own `server.close()` later does the rest.
 */
function stopListening(server: net.Server): void {
  if (server.listening) net.Server.prototype.close.call(server);
}

/** Resolves once `done()` holds or the deadline (a Date.now() value) passes. */
function waitUntil(done: () => boolean, deadline: number): Promise<void> {
  if (done() || Date.now() >= deadline) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve();
    };
    const timer = setTimeout(finish, deadline - Date.now());
    const poll = setInterval(() => {
      if (done()) finish();
    }, 5);
  });
}
