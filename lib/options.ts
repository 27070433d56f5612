import { allCompressions, type Compression, IDENTITY } from "./protocol/compression.js";

// Option checks shared by the plugin and the client transports: a bad option
// fails at once (at `register` or `create*Transport`) with a message naming it.

/** The largest message read by default, on both sides (as connect-go and grpc-go): 4 MiB. */
export const DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024;

/** The TypeError for a bad option: its name, what was expected, and what it got. */
export function optionError(name: string, expected: string, got: unknown): Error {
  return new TypeError(
    `fastify-connectrpc: option "${name}" must be ${expected}; got ${JSON.stringify(got) ?? String(got)}`,
  );
}

/** An integer option from min to max; `fallback` when it is absent. */
export function intOption<T extends object>(
  opts: T,
  name: keyof T & string,
  min: number,
  max: number,
  fallback: number,
): number;
export function intOption<T extends object>(
  opts: T,
  name: keyof T & string,
  min: number,
  max: number,
  fallback: undefined,
): number | undefined;
export function intOption<T extends object>(
  opts: T,
  name: keyof T & string,
  min: number,
  max: number,
  fallback: number | undefined,
) {
  const v: unknown = opts[name];
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

/** Checks that an option, when present, is an object. */
export function objectOption<T extends object>(opts: T, name: keyof T & string): void {
  const v: unknown = opts[name];
  if (v !== undefined && (typeof v !== "object" || v === null)) throw optionError(name, "an object", v);
}

/** Checks that an option, when present, is an array of functions (interceptors). */
export function functionsOption<T extends object>(opts: T, name: keyof T & string): void {
  const v: unknown = opts[name];
  if (v !== undefined && (!Array.isArray(v) || v.some((i) => typeof i !== "function"))) {
    throw optionError(name, "an array of functions", v);
  }
}
