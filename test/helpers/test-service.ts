import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceImpl } from "../../lib/index.js";
import { Code, ConnectError } from "../../lib/index.js";
import { ErrorInfoSchema, type TestService } from "../gen/fcr/test/v1/test_pb.js";

/**
 * The TestService every server test serves. Requests steer it: `text`
 * starting with "error:" fails with that code name, `count` sets how many
 * replies a stream sends, `delay_ms` waits between them, and request headers
 * x-echo-header / x-echo-trailer come back as response header and trailer.
 */
export const testServiceImpl: ServiceImpl<typeof TestService> = {
  async echo(req, ctx) {
    echoMetadata(ctx.requestHeader, ctx.responseHeader, ctx.responseTrailer);
    maybeFail(req.text);
    if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
    return { text: req.text, payload: req.payload };
  },
  async unary(req, ctx) {
    echoMetadata(ctx.requestHeader, ctx.responseHeader, ctx.responseTrailer);
    maybeFail(req.text);
    if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
    return { text: req.text, payload: req.payload };
  },
  async *serverStream(req, ctx) {
    echoMetadata(ctx.requestHeader, ctx.responseHeader, ctx.responseTrailer);
    for (let i = 0; i < req.count; i++) {
      if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
      yield { text: req.text, index: i, payload: req.payload };
    }
    maybeFail(req.text);
  },
  async clientStream(reqs, ctx) {
    echoMetadata(ctx.requestHeader, ctx.responseHeader, ctx.responseTrailer);
    const texts: string[] = [];
    for await (const r of reqs) {
      maybeFail(r.text);
      texts.push(r.text);
    }
    return { text: texts.join(","), index: texts.length };
  },
  async *bidi(reqs, ctx) {
    echoMetadata(ctx.requestHeader, ctx.responseHeader, ctx.responseTrailer);
    let i = 0;
    for await (const r of reqs) {
      maybeFail(r.text);
      if (r.delayMs > 0) await sleep(r.delayMs, undefined, { signal: ctx.signal });
      yield { text: r.text, index: i++, payload: r.payload };
    }
  },
};

function echoMetadata(req: Headers, header: Headers, trailer: Headers): void {
  const h = req.get("x-echo-header");
  if (h !== null) header.set("x-echo-header", h);
  const t = req.get("x-echo-trailer");
  if (t !== null) trailer.set("x-echo-trailer", t);
  const bin = req.get("x-echo-bin");
  if (bin !== null) trailer.set("x-echo-bin", bin);
}

/** "error:not_found:message" fails with that code, an ErrorInfo detail and metadata. */
function maybeFail(text: string): void {
  if (!text.startsWith("error:")) return;
  const [, codeName, ...rest] = text.split(":");
  if (codeName === "throw") throw new Error("secret internal detail");
  const code = (Object.values(Code) as unknown[]).find(
    (v) => typeof v === "number" && Code[v as Code].toLowerCase() === codeName.replace(/_/g, ""),
  ) as Code | undefined;
  throw new ConnectError(rest.join(":") || "failed on purpose", code ?? Code.Unknown, {
    metadata: { "x-error-meta": "yes" },
    details: [{ desc: ErrorInfoSchema, value: { reason: "on-purpose", fields: { codeName } } }],
  });
}
