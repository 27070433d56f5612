import type { Readable } from "node:stream";
import type { BodyErrors } from "../protocol/body-reader.js";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";

/** The readable body of a request: the HTTP/2 stream itself, or the HTTP/1.1 IncomingMessage. */
export function requestBodySource(rawReq: object): Readable {
  return (rawReq as { stream?: Readable }).stream ?? (rawReq as Readable);
}

/** How a request body that stops early is reported to the handler and the client. */
export const requestBodyErrors: BodyErrors = {
  gone: () => new ConnectError("the client closed the request before sending all of it", Code.Canceled),
  truncated: (missing) => new ConnectError(`truncated request body: ${missing}`, Code.InvalidArgument),
};
