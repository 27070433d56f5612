// connectrpc.conformance.v1.ConformanceService as docs/testing_servers.md
// describes it, served by this library's plugin. `Unimplemented` is left out
// on purpose: the framework answers it with unimplemented.
import { setTimeout as sleep } from "node:timers/promises";
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { ConnectError, type HandlerContext, type IncomingDetail, type ServiceImpl } from "../lib/index.js";
import {
  type BidiStreamRequest,
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  type ConformancePayload_RequestInfo,
  ConformancePayload_RequestInfoSchema,
  type ConformanceService,
  type Error as ErrorDefinition,
  type Header,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  type UnaryResponseDefinition,
} from "./gen/connectrpc/conformance/v1/service_pb.js";

type RequestInfo = ConformancePayload_RequestInfo;

function toHeaderList(headers: Headers | Iterable<[string, string]>): Header[] {
  const byName = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const list = byName.get(name);
    if (list) list.push(value);
    else byName.set(name, [value]);
  }
  return [...byName].map(([name, value]) => ({ $typeName: "connectrpc.conformance.v1.Header", name, value }));
}

/** What the handler observed about the call: headers, deadline, the requests (as Any). */
function requestInfo(ctx: HandlerContext, requests: Any[], withGetInfo = false): RequestInfo {
  const timeout = ctx.timeoutMs();
  const info = create(ConformancePayload_RequestInfoSchema, {
    requestHeaders: toHeaderList(ctx.requestHeader),
    timeoutMs: timeout === undefined ? undefined : BigInt(Math.max(0, Math.round(timeout))),
    requests,
  });
  if (withGetInfo) {
    const url = ctx.request.raw.url ?? "";
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    info.connectGetInfo = {
      $typeName: "connectrpc.conformance.v1.ConformancePayload.ConnectGetInfo",
      queryParams: toHeaderList(query),
    };
  }
  return info;
}

function applyMetadata(ctx: HandlerContext, def: { responseHeaders: Header[]; responseTrailers: Header[] }): void {
  for (const h of def.responseHeaders) for (const v of h.value) ctx.responseHeader.append(h.name, v);
  for (const h of def.responseTrailers) for (const v of h.value) ctx.responseTrailer.append(h.name, v);
}

/** The error a response definition asks for; the request info rides along as a detail when given. */
function definedError(def: ErrorDefinition, info: RequestInfo | undefined): ConnectError {
  const details: (IncomingDetail | { desc: DescMessage; value: MessageShape<DescMessage> })[] = def.details.map(
    (any) => ({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value }),
  );
  if (info) details.push({ desc: ConformancePayload_RequestInfoSchema, value: info });
  return new ConnectError(def.message ?? "", def.code as number, { details });
}

async function delay(ms: number, ctx: HandlerContext): Promise<void> {
  if (ms > 0) await sleep(ms, undefined, { signal: ctx.signal });
}

/** Unary, IdempotentUnary and ClientStream: one response (or error) from a unary definition. */
async function unaryResponse(ctx: HandlerContext, def: UnaryResponseDefinition | undefined, info: RequestInfo) {
  if (def) applyMetadata(ctx, def);
  await delay(def?.responseDelayMs ?? 0, ctx);
  if (def?.response.case === "error") throw definedError(def.response.value, info);
  const data = def?.response.case === "responseData" ? def.response.value : new Uint8Array(0);
  return { payload: { data, requestInfo: info } };
}

export const conformanceServiceImpl: Partial<ServiceImpl<typeof ConformanceService>> = {
  async unary(req, ctx) {
    const info = requestInfo(ctx, [anyPack(UnaryRequestSchema, req)]);
    return unaryResponse(ctx, req.responseDefinition, info);
  },
  async idempotentUnary(req, ctx) {
    const info = requestInfo(ctx, [anyPack(IdempotentUnaryRequestSchema, req)], true);
    return unaryResponse(ctx, req.responseDefinition, info);
  },
  async clientStream(reqs, ctx) {
    let def: UnaryResponseDefinition | undefined;
    const requests: Any[] = [];
    for await (const r of reqs) {
      if (requests.length === 0) def = r.responseDefinition;
      requests.push(anyPack(ClientStreamRequestSchema, r));
    }
    return unaryResponse(ctx, def, requestInfo(ctx, requests));
  },
  async *serverStream(req, ctx) {
    const def = req.responseDefinition;
    const info = requestInfo(ctx, [anyPack(ServerStreamRequestSchema, req)]);
    if (!def) return;
    applyMetadata(ctx, def);
    ctx.sendHeader();
    let sent = 0;
    for (const data of def.responseData) {
      await delay(def.responseDelayMs, ctx);
      yield { payload: { data, requestInfo: sent === 0 ? info : undefined } };
      sent++;
    }
    if (def.error) throw definedError(def.error, sent === 0 ? info : undefined);
  },
  async *bidiStream(reqs, ctx) {
    const it = reqs[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return;
    const def = first.value.responseDefinition;
    const fullDuplex = first.value.fullDuplex;
    if (def) {
      applyMetadata(ctx, def);
      ctx.sendHeader();
    }
    const data = def?.responseData ?? [];
    let sent = 0;
    if (fullDuplex) {
      // Read one, answer one; each answer echoes the requests since the last one.
      let pending: Any[] = [anyPack(BidiStreamRequestSchema, first.value)];
      let next: IteratorResult<BidiStreamRequest> = first;
      while (!next.done) {
        if (sent < data.length) {
          await delay(def?.responseDelayMs ?? 0, ctx);
          // The first answer echoes every request property, later ones only the requests.
          const info =
            sent === 0
              ? requestInfo(ctx, pending)
              : create(ConformancePayload_RequestInfoSchema, { requests: pending });
          yield { payload: { data: data[sent], requestInfo: info } };
          sent++;
          pending = [];
        } else if (def?.error) {
          throw definedError(def.error, sent === 0 ? requestInfo(ctx, pending) : undefined);
        }
        next = await it.next();
        if (!next.done) pending.push(anyPack(BidiStreamRequestSchema, next.value));
      }
      if (def?.error) throw definedError(def.error, sent === 0 ? requestInfo(ctx, pending) : undefined);
      return;
    }
    // Half duplex: read everything, then answer.
    const requests: Any[] = [anyPack(BidiStreamRequestSchema, first.value)];
    for (let r = await it.next(); !r.done; r = await it.next())
      requests.push(anyPack(BidiStreamRequestSchema, r.value));
    const info = requestInfo(ctx, requests);
    for (const d of data) {
      await delay(def?.responseDelayMs ?? 0, ctx);
      yield { payload: { data: d, requestInfo: sent === 0 ? info : undefined } };
      sent++;
    }
    if (def?.error) throw definedError(def.error, sent === 0 ? info : undefined);
  },
};
