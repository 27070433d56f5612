// The protovalidate entry point: `import { validateInterceptor } from "fastify-connectrpc/validate"`.
// It needs the optional peer dependency @bufbuild/protovalidate; the main entry never imports this file.
export { type ValidateInterceptor, type ValidateInterceptorOptions, validateInterceptor } from "./interceptor.js";
