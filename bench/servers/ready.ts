// How a server process tells the harness it is up: one line on stdout with
// the ports it listens on. "h1" serves HTTP/1.1, "h2" h2c (prior knowledge);
// a server serving both on one port gives the same number twice.
import type { AddressInfo } from "node:net";

export interface Ports {
  h1?: number;
  h2?: number;
}

export const READY_PREFIX = "READY ";

export function announce(ports: Ports): void {
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(ports)}\n`);
}

/** The port of a listening server (node:net address, or Fastify's app.server.address()). */
export function portOf(address: string | AddressInfo | null): number {
  if (address === null || typeof address === "string") throw new Error(`not a TCP address: ${address}`);
  return address.port;
}
