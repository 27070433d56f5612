// Correctness before speed: one request per server and scenario, sent with
// bare node:http / node:http2 and checked byte for byte. A server that
// answers wrong is reported as FAIL for the cell and not measured.
import { fromBinary, fromJsonString } from "@bufbuild/protobuf";
import { postH1 } from "./load/h1-calls.js";
import { connect, PingPong, type RawResponse, serverStream, unaryCall } from "./load/h2-calls.js";
import { type Scenario, type UnaryRequest, unaryRequest } from "./scenarios.js";
import { EchoResponseSchema, payload, requestBinary } from "./service.js";
import { envelope, parseEnvelopes, parseTrailerBlock, TRAILER_FLAG } from "./wire.js";

const TIMEOUT_MS = 10_000;

/** Undefined when the server answered `s` correctly on `port`, else what was wrong. */
export async function check(s: Scenario, port: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    // Sessions left open by a timed-out check close when the harness stops the server right after.
    timer = setTimeout(() => resolve(`no complete answer within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
  });
  try {
    return await Promise.race([checkOnce(s, port), timeout]);
  } catch (e) {
    return `request failed: ${(e as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

async function checkOnce(s: Scenario, port: number): Promise<string | undefined> {
  if (s.load.tool === "stream") return checkServerStream(s, port, s.load.count);
  if (s.load.tool === "bidi") return checkPingPong(s, port);
  const req = unaryRequest(s);
  const res = s.http === "h1" ? await postH1(port, req, false) : await sendH2(port, req);
  return checkUnary(s, res);
}

async function sendH2(port: number, req: UnaryRequest): Promise<RawResponse> {
  const session = await connect(port);
  try {
    return await unaryCall(session, req.path, req.headers, req.body);
  } finally {
    session.close();
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A short account of a response, for the FAIL message. */
function describe(res: RawResponse): string {
  const body = res.body.subarray(0, 120);
  const printable = /^[\x20-\x7e\r\n]*$/.test(body.toString("latin1"));
  const grpcStatus = first(res.trailers["grpc-status"] ?? res.headers["grpc-status"]);
  const grpcMessage = first(res.trailers["grpc-message"] ?? res.headers["grpc-message"]);
  return [
    `HTTP ${res.status}`,
    `content-type ${first(res.headers["content-type"]) ?? "(none)"}`,
    grpcStatus !== undefined
      ? `grpc-status ${grpcStatus}${grpcMessage ? ` (${decodeURIComponent(grpcMessage)})` : ""}`
      : "",
    `body ${res.body.length} bytes${res.body.length ? `: ${printable ? JSON.stringify(body.toString("latin1")) : body.toString("hex")}` : ""}`,
  ]
    .filter(Boolean)
    .join(", ");
}

function samePayload(got: Uint8Array, size: number): boolean {
  return Buffer.from(got).equals(Buffer.from(payload(size)));
}

function checkUnary(s: Scenario, res: RawResponse): string | undefined {
  const wrong = (what: string) => `${what}; got ${describe(res)}`;
  const ct = first(res.headers["content-type"]) ?? "";
  if (res.status !== 200) return wrong("expected HTTP 200");
  try {
    switch (s.protocol) {
      case "grpc": {
        if (!ct.startsWith("application/grpc")) return wrong("expected content-type application/grpc");
        const grpcStatus = first(res.trailers["grpc-status"]);
        if (grpcStatus !== "0") return wrong("expected trailer grpc-status 0");
        const envs = parseEnvelopes(res.body);
        if (envs.length !== 1 || envs[0].flags !== 0) return wrong("expected one uncompressed message");
        if (!samePayload(fromBinary(EchoResponseSchema, envs[0].data).payload, s.payloadSize)) {
          return wrong("echoed payload differs");
        }
        return undefined;
      }
      case "grpc-web": {
        if (!ct.startsWith("application/grpc-web")) return wrong("expected content-type application/grpc-web");
        const envs = parseEnvelopes(res.body);
        const last = envs[envs.length - 1];
        if (envs.length !== 2 || envs[0].flags !== 0 || last.flags !== TRAILER_FLAG) {
          return wrong("expected one message then a trailer frame");
        }
        const trailers = parseTrailerBlock(last.data);
        if (trailers["grpc-status"] !== "0") return wrong("expected grpc-status 0 in the trailer frame");
        if (!samePayload(fromBinary(EchoResponseSchema, envs[0].data).payload, s.payloadSize)) {
          return wrong("echoed payload differs");
        }
        return undefined;
      }
      case "connect-proto":
        if (!ct.startsWith("application/proto")) return wrong("expected content-type application/proto");
        if (!samePayload(fromBinary(EchoResponseSchema, res.body).payload, s.payloadSize)) {
          return wrong("echoed payload differs");
        }
        return undefined;
      case "connect-json":
        if (!ct.startsWith("application/json")) return wrong("expected content-type application/json");
        if (!samePayload(fromJsonString(EchoResponseSchema, res.body.toString("utf8")).payload, s.payloadSize)) {
          return wrong("echoed payload differs");
        }
        return undefined;
    }
  } catch (e) {
    return wrong(`cannot parse the response (${(e as Error).message})`);
  }
}

async function checkServerStream(s: Scenario, port: number, count: number): Promise<string | undefined> {
  const session = await connect(port);
  try {
    let n = 0;
    let bad: string | undefined;
    const end = await serverStream(session, envelope(requestBinary(s.payloadSize, count)), (env) => {
      n++;
      if (bad) return;
      if (env.flags !== 0) bad = `message ${n} has flags ${env.flags}`;
      else if (!samePayload(fromBinary(EchoResponseSchema, env.data).payload, s.payloadSize)) {
        bad = `message ${n}: echoed payload differs`;
      }
    });
    const summary = `HTTP ${end.status}, content-type ${end.contentType}, grpc-status ${end.grpcStatus} ${end.grpcMessage ?? ""}, ${n} messages`;
    if (end.status !== 200 || end.grpcStatus !== "0" || !end.contentType?.startsWith("application/grpc")) {
      return `expected HTTP 200, application/grpc, grpc-status 0; got ${summary}`;
    }
    if (bad) return bad;
    if (n !== count || end.leftover !== 0)
      return `expected ${count} messages; got ${summary}, ${end.leftover} stray bytes`;
    return undefined;
  } finally {
    session.close();
  }
}

async function checkPingPong(s: Scenario, port: number): Promise<string | undefined> {
  const session = await connect(port);
  try {
    const call = new PingPong(session);
    for (let i = 0; i < 3; i++) {
      const reply = await call.roundTrip(envelope(requestBinary(s.payloadSize)));
      if (reply.flags !== 0) return `reply ${i + 1} has flags ${reply.flags}`;
      if (!samePayload(fromBinary(EchoResponseSchema, reply.data).payload, s.payloadSize)) {
        return `reply ${i + 1}: echoed payload differs`;
      }
    }
    const end = await call.finish();
    if (end.status !== 200 || end.grpcStatus !== "0") {
      return `expected HTTP 200 and grpc-status 0 at the end; got HTTP ${end.status}, grpc-status ${end.grpcStatus} ${end.grpcMessage ?? ""}`;
    }
    return undefined;
  } finally {
    session.close();
  }
}
