import { create, type DescMessage, type DescMethod, isMessage, type MessageShape } from "@bufbuild/protobuf";
import { createValidator, type Validator, violationsToProto } from "@bufbuild/protovalidate";
import { optionError } from "../options.js";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";

/** Options of `validateInterceptor`. */
export interface ValidateInterceptorOptions {
  /**
   * The validator, e.g. `createValidator({ registry })` for predefined rules
   * or `createValidator({ failFast: true })`. Default: `createValidator()`.
   */
  validator?: Validator;
  /**
   * Validates response messages too: a server's before they are sent, a
   * client's as they arrive. An invalid one fails the call with internal
   * (it is the server's bug) and the violations as a detail. Default false.
   */
  validateResponses?: boolean;
}

/** What the interceptor reads of a request or response, on the server and on the client alike. */
interface Call {
  readonly method: DescMethod;
  readonly stream: boolean;
  readonly message: unknown;
}

/**
 * An interceptor for both sides: it fits the plugin's `interceptors`
 * (`Interceptor`) and a transport's (`ClientInterceptor`), since it only
 * reads the method and the messages.
 */
export type ValidateInterceptor = <Req extends Call, Res extends Call>(
  next: (req: Req) => Promise<Res>,
) => (req: Req) => Promise<Res>;

/**
 * Validates messages with protovalidate (`buf.validate` rules). A request
 * that breaks its rules fails with invalid_argument and a
 * `buf.validate.Violations` detail: on the server before the handler runs,
 * on the client before it is sent. Each message of a client or bidi stream
 * is checked as it arrives, so the handler never sees an invalid one.
 */
export function validateInterceptor(options?: ValidateInterceptorOptions): ValidateInterceptor {
  const check = checker(options);
  return <Req extends Call, Res extends Call>(next: (req: Req) => Promise<Res>) =>
    async (req: Req) => {
      const input = req.method.input;
      let request = req;
      if (req.stream)
        request = { ...req, message: validated(input, req.message as AsyncIterable<unknown>, check.request) };
      else check.request(input, req.message);
      const res = await next(request);
      if (!check.response) return res;
      const output = req.method.output;
      if (!res.stream) {
        check.response(output, res.message);
        return res;
      }
      return { ...res, message: validated(output, res.message as AsyncIterable<unknown>, check.response) };
    };
}

type Check = (schema: DescMessage, message: unknown) => void;

function checker(options: ValidateInterceptorOptions | undefined): { request: Check; response?: Check } {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw optionError("options", "an object", options);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  if (o.validateResponses !== undefined && typeof o.validateResponses !== "boolean") {
    throw optionError("validateResponses", "a boolean", o.validateResponses);
  }
  const v = o.validator as Validator | undefined;
  if (v !== undefined && (v === null || typeof v !== "object" || typeof v.validate !== "function")) {
    throw optionError("validator", "a protovalidate Validator (from createValidator())", v);
  }
  const validator = v ?? createValidator();
  return {
    request: (schema, message) => validate(validator, schema, message, "request", Code.InvalidArgument),
    response: options?.validateResponses
      ? (schema, message) => validate(validator, schema, message, "response", Code.Internal)
      : undefined,
  };
}

function validate(validator: Validator, schema: DescMessage, message: unknown, what: string, code: Code): void {
  // A client's request or a handler's response may be a plain init object.
  const m = isMessage(message, schema) ? message : create(schema, message as never);
  const result = validator.validate(schema, m as MessageShape<DescMessage>);
  if (result.kind === "valid") return;
  if (result.kind === "error") {
    // A rule that does not compile is the schema's fault: not the caller's argument.
    throw new Error(`cannot validate ${schema.typeName}: ${result.error.message}`, { cause: result.error });
  }
  const [violations, desc] = violationsToProto(result.violations);
  throw new ConnectError(`invalid ${what}: ${result.error.message}`, code, {
    details: [{ desc, value: violations }],
    cause: result.error,
  });
}

/** Messages checked one by one as they are read; the first invalid one throws. */
async function* validated(schema: DescMessage, source: AsyncIterable<unknown>, check: Check): AsyncIterable<unknown> {
  for await (const m of source) {
    check(schema, m);
    yield m;
  }
}
