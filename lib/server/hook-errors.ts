import { Code, codeFromHttpStatus } from "../protocol/code.js";
import { asConnectError, ConnectError } from "../protocol/error.js";

// Errors raised before our handler runs: by the app's onRequest/preParsing/
// preValidation/preHandler hooks (auth, rate limits), or by Fastify itself.
// They reach each route's error handler (MethodRoute.onError), which ends the
// call with them in the protocol the request spoke, as a handler's error.

/**
 * The ConnectError to send for an error a hook raised. A ConnectError (ours
 * or connect-es's) is sent as it is. An error with an HTTP `statusCode`
 * (`fastify.httpErrors`, @fastify/sensible, Fastify's own FST_ERR_*) gets the
 * code the Connect protocol gives that status ("HTTP to Error Code"); its
 * message goes along only below 500, as Fastify's `http-errors` `expose` rule
 * has it. Anything else is internal with a generic message. `serverFault`
 * says whether the original is logged as a server failure.
 */
export function hookErrorToConnectError(e: unknown): { error: ConnectError; serverFault: boolean } {
  const known = asConnectError(e);
  if (known) return { error: known, serverFault: false };
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599) {
    const code = codeFromHttpStatus(status);
    if (status < 500) {
      return { error: new ConnectError(e instanceof Error ? e.message : "", code, { cause: e }), serverFault: false };
    }
    return { error: new ConnectError(`HTTP ${status}`, code, { cause: e }), serverFault: true };
  }
  return { error: new ConnectError("internal error", Code.Internal, { cause: e }), serverFault: true };
}
