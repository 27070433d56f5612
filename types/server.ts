// Type tests of the server API: compiled by `npm test` (tsc --noEmit), never run.
// Every `@ts-expect-error` line must fail to compile; if it ever compiles, tsc
// reports the directive as unused and the test fails.
import { create } from "@bufbuild/protobuf";
import Fastify from "fastify";
import {
  Code,
  ConnectError,
  fastifyConnectRpc,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
} from "fastify-connectrpc";
import { ElizaService, IntroduceClientResponseSchema } from "../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";

const app = Fastify();

// The API as the README shows it: all four call kinds, init objects or messages.
await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      say: async (req, ctx) => {
        const s: string = req.sentence;
        ctx.request.log.info({ protocol: ctx.protocol }, "say");
        return { sentence: `You said: ${s}` };
      },
      async *introduceServer(req) {
        yield { sentence: `Hi ${req.name}` };
      },
      async introduceClient(reqs) {
        for await (const r of reqs) void r.sentence;
        return create(IntroduceClientResponseSchema, { sentence: "ok" });
      },
      async *converse(reqs) {
        for await (const r of reqs) yield { sentence: r.sentence };
      },
    });
  },
  readMaxBytes: 1024,
  acceptCompression: ["gzip", "br"],
  requireConnectProtocolHeader: true,
});

// A partial implementation is allowed: missing methods answer `unimplemented`.
await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, { say: () => ({ sentence: "" }) });
  },
});

await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      // @ts-expect-error a method the service does not have
      shout: async () => ({ sentence: "" }),
    });
  },
});

await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      // @ts-expect-error a field the response does not have
      say: async () => ({ sentence: "", mood: "happy" }),
    });
  },
});

await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      // @ts-expect-error the wrong type for a response field
      say: async () => ({ sentence: 42 }),
    });
  },
});

await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      say: async (req) => {
        // @ts-expect-error a field the request does not have
        void req.name;
        return {};
      },
    });
  },
});

await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(ElizaService, {
      // @ts-expect-error a server-streaming method must return an async iterable
      introduceServer: async () => ({ sentence: "" }),
    });
  },
});

// @ts-expect-error `routes` is required
await app.register(fastifyConnectRpc, {});

// @ts-expect-error options have types
await app.register(fastifyConnectRpc, { routes() {}, readMaxBytes: "4MiB" });

// The context's members.
const ctxUse = (ctx: HandlerContext) => {
  const h: Headers = ctx.requestHeader;
  ctx.responseHeader.set("x", h.get("y") ?? "");
  ctx.responseTrailer.set("z", "1");
  const s: AbortSignal = ctx.signal;
  const t: number | undefined = ctx.timeoutMs();
  const name: string = ctx.method.name + ctx.service.typeName + ctx.protocol;
  return [s, t, name];
};
void ctxUse;

// Errors and interceptors.
const err = new ConnectError("nope", Code.NotFound, { metadata: { a: "b" } });
const code: Code = err.code;
void code;
const logging: Interceptor = (next) => async (req) => {
  req.header.get("authorization");
  const res = await next(req);
  res.header.set("x-intercepted", "1");
  return res;
};
void logging;

// A fully typed implementation object can be declared on its own.
export const impl: ServiceImpl<typeof ElizaService> = {
  say: (req) => ({ sentence: req.sentence }),
  async *introduceServer() {},
  async introduceClient() {
    return {};
  },
  async *converse() {},
};
