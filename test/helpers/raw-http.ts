// Raw HTTP helpers for the server tests: requests without any Connect client,
// so the tests see exactly what goes over the wire. Not a test file itself.
import * as http from "node:http";
import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { create, toBinary } from "@bufbuild/protobuf";
import { type EchoRequest, EchoRequestSchema } from "../gen/fcr/test/v1/test_pb.js";

export const SERVICE = "/fcr.test.v1.TestService";

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  trailers?: http.IncomingHttpHeaders;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Uint8Array | string;
  /** An agent to reuse a connection; by default a fresh connection that closes afterwards. */
  agent?: http.Agent;
}

/** One HTTP/1.1 request on 127.0.0.1; resolves with the whole response. */
export function h1(port: number, req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: "127.0.0.1",
        port,
        method: req.method ?? "POST",
        path: req.path,
        headers: req.headers,
        agent: req.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

/** One HTTP/2 (h2c) request on its own session, closed afterwards. */
export function h2(port: number, req: Omit<RawRequest, "agent">): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": req.method ?? "POST",
      ":path": req.path,
      ...(req.headers as http2.OutgoingHttpHeaders),
    });
    let headers: http.IncomingHttpHeaders = {};
    let trailers: http.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      headers = h as http.IncomingHttpHeaders;
    });
    stream.on("trailers", (h) => {
      trailers = h as http.IncomingHttpHeaders;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks), trailers });
    });
    stream.on("error", (e) => {
      session.destroy();
      reject(e);
    });
    stream.end(req.body);
  });
}

/** Protobuf bytes of an EchoRequest. */
export function echoBytes(init: Partial<Omit<EchoRequest, "$typeName">> = {}): Uint8Array {
  return toBinary(EchoRequestSchema, create(EchoRequestSchema, init));
}

/** One Connect/gRPC envelope: flags, big-endian uint32 length, data. */
export function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, 5);
  return out;
}

export interface Envelope {
  flags: number;
  data: Buffer;
}

/** Splits a whole body into envelopes; throws if it does not frame exactly. */
export function parseEnvelopes(body: Buffer): Envelope[] {
  const out: Envelope[] = [];
  let i = 0;
  while (i < body.length) {
    if (body.length - i < 5) throw new Error(`trailing ${body.length - i} bytes after the last envelope`);
    const len = body.readUInt32BE(i + 1);
    if (body.length - i - 5 < len) throw new Error(`envelope of ${len} bytes truncated`);
    out.push({ flags: body[i], data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

export interface EndStream {
  error?: { code: string; message?: string; details?: { type: string; value: string }[] };
  metadata?: Record<string, string[]>;
}

/** The parsed end-of-stream message of a Connect streaming body, which must be its last envelope. */
export function endStreamOf(body: Buffer): { messages: Envelope[]; end: EndStream; endFlags: number } {
  const envs = parseEnvelopes(body);
  const last = envs.pop();
  if (!last) throw new Error("no envelopes in the response body");
  return { messages: envs, end: JSON.parse(last.data.toString("utf8")) as EndStream, endFlags: last.flags };
}

/** A pino destination that keeps every log line, parsed. */
export function logCapture(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { stream, lines };
}

/** Polls `check` until it holds or `ms` pass. */
export async function waitFor(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
