// Type tests of fastify-connectrpc/validate: compiled by `npm test` (tsc --noEmit), never run.
// Every `@ts-expect-error` line must fail to compile.
import { createValidator } from "@bufbuild/protovalidate";
import Fastify from "fastify";
import { fastifyConnectRpc, type Interceptor } from "fastify-connectrpc";
import { type ClientInterceptor, createConnectTransport } from "fastify-connectrpc/client";
import { type ValidateInterceptorOptions, validateInterceptor } from "fastify-connectrpc/validate";

// One interceptor, both sides.
const validate = validateInterceptor();
const asServer: Interceptor = validate;
const asClient: ClientInterceptor = validate;
await Fastify().register(fastifyConnectRpc, { routes() {}, interceptors: [validateInterceptor()] });
createConnectTransport({ baseUrl: "http://127.0.0.1:8080", interceptors: [validateInterceptor()] });
void asServer;
void asClient;

const options: ValidateInterceptorOptions = {
  validator: createValidator({ failFast: true }),
  validateResponses: true,
};
validateInterceptor(options);

// @ts-expect-error validateResponses is a boolean
validateInterceptor({ validateResponses: "yes" });
// @ts-expect-error the validator is a protovalidate Validator
validateInterceptor({ validator: { check: () => true } });
// @ts-expect-error unknown option
validateInterceptor({ failFast: true });
