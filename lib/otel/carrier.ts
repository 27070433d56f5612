import type { IncomingHttpHeaders } from "node:http";
import type { TextMapGetter, TextMapSetter } from "@opentelemetry/api";

/** Reads propagation fields from a request's raw headers (lower-case names, as Node gives them). */
export const incomingHeadersGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/** Writes propagation fields into a client call's request metadata. */
export const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
