import { allCompressions, type Compression, IDENTITY } from "./protocol/compression.js";

// Option checks shared by the plugin and the client transports: a bad option
// fails at once (at `register` or `create*Transport`) with a message naming it.

export function optionError(name: string, expected: string, got: unknown): Error {
  return new TypeError(
    `fastify-connectrpc: option "${name}" must be ${expected}; got ${JSON.stringify(got) ?? String(got)}`,
  );
}

export function intOption(
  opts: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number;
export function intOption(
  opts: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: undefined,
): number | undefined;
export function intOption(
  opts: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: number | undefined,
) {
  const v = opts[name];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw optionError(name, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

/** A list of compressions by name ("gzip", "br", "deflate") or as objects; all of them when absent. */
export function compressionsOption(value: unknown, name = "acceptCompression"): Compression[] {
  if (value === undefined) return [...allCompressions];
  const expected = 'an array of "gzip", "br", "deflate" or Compression objects';
  if (!Array.isArray(value)) throw optionError(name, expected, value);
  const out: Compression[] = [];
  for (const c of value) {
    if (c === IDENTITY) continue;
    const found = compressionOption(c);
    if (!found) throw optionError(name, expected, c);
    out.push(found);
  }
  return out;
}

/** One compression by name or as an object; undefined when it is neither. */
export function compressionOption(c: unknown): Compression | undefined {
  const found = typeof c === "string" ? allCompressions.find((x) => x.name === c) : (c as Compression | undefined);
  if (!found || typeof found.compress !== "function" || typeof found.decompress !== "function") return undefined;
  return found;
}

export function objectOption(opts: Record<string, unknown>, name: string): void {
  const v = opts[name];
  if (v !== undefined && (typeof v !== "object" || v === null)) throw optionError(name, "an object", v);
}

export function functionsOption(opts: Record<string, unknown>, name: string): void {
  const v = opts[name];
  if (v !== undefined && (!Array.isArray(v) || v.some((i) => typeof i !== "function"))) {
    throw optionError(name, "an array of functions", v);
  }
}
