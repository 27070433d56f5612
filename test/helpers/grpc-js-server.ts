// TestService served by a @grpc/grpc-js Server on 127.0.0.1 (insecure, h2c):
// the reference Node gRPC peer our client is tested against. Built without
// proto-loader, like grpc-js-client.ts: the method definitions serialize with
// @bufbuild/protobuf. It mirrors test/helpers/test-service.ts: `text`
// "error:<code>:<msg>" fails with that status, a google.rpc.Status with an
// ErrorInfo detail in grpc-status-details-bin and x-error-meta metadata;
// `count` sets how many replies a stream sends; `delay_ms` waits (ended by a
// cancel); x-echo-header comes back as header metadata, x-echo-trailer and
// x-echo-bin as trailers. Every call is recorded with its deadline and
// whether it was cancelled. Optionally a TCP proxy in front records the bytes
// the client sent, to check on the wire that requests were compressed.
import * as net from "node:net";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "../../lib/client/index.js";
import { encodeStatusDetails } from "../../lib/protocol/grpc-status.js";
import {
  type EchoRequest,
  EchoRequestSchema,
  type EchoResponse,
  EchoResponseSchema,
  ErrorInfoSchema,
} from "../gen/fcr/test/v1/test_pb.js";

type EchoResponseInit = MessageInitShape<typeof EchoResponseSchema>;

/** What every grpc-js server call offers (grpc-js does not export its ServerSurfaceCall type). */
interface ServerCall extends NodeJS.EventEmitter {
  readonly metadata: grpc.Metadata;
  readonly cancelled: boolean;
  getDeadline(): grpc.Deadline;
  sendMetadata(metadata: grpc.Metadata): void;
}

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/fcr.test.v1.TestService/${name}`,
    requestStream,
    responseStream,
    requestSerialize: (req: EchoRequest) => Buffer.from(toBinary(EchoRequestSchema, req)),
    requestDeserialize: (b: Buffer) => fromBinary(EchoRequestSchema, b),
    responseSerialize: (res: EchoResponseInit) =>
      Buffer.from(toBinary(EchoResponseSchema, create(EchoResponseSchema, res))),
    responseDeserialize: (b: Buffer): EchoResponse => fromBinary(EchoResponseSchema, b),
  };
}

/** The server-side definition of fcr.test.v1.TestService. */
export const testServiceDefinition = {
  echo: method("Echo", false, false),
  unary: method("Unary", false, false),
  serverStream: method("ServerStream", false, true),
  clientStream: method("ClientStream", true, false),
  bidi: method("Bidi", true, true),
} satisfies grpc.ServiceDefinition;

/** One call, as the grpc-js server saw it. */
export interface GrpcJsCall {
  method: string;
  metadata: grpc.Metadata;
  /** call.getDeadline() when the handler started: epoch ms (grpc-js gives a number) or a Date; Infinity without one. */
  deadline: grpc.Deadline;
  /** When the handler started (Date.now()). */
  startedAt: number;
  /** Resolves when grpc-js reports the call cancelled ('cancelled' event). */
  cancelled: Promise<void>;
  isCancelled(): boolean;
}

export class GrpcJsCallLog {
  readonly calls: GrpcJsCall[] = [];
  private waiters: (() => void)[] = [];

  record(method: string, call: ServerCall): void {
    let cancelled = false;
    const p = new Promise<void>((resolve) => {
      if (call.cancelled) resolve();
      call.once("cancelled", () => {
        cancelled = true;
        resolve();
      });
    });
    this.calls.push({
      method,
      metadata: call.metadata.clone(),
      deadline: call.getDeadline(),
      startedAt: Date.now(),
      cancelled: p,
      isCancelled: () => cancelled || call.cancelled,
    });
    for (const w of this.waiters.splice(0)) w();
  }

  get last(): GrpcJsCall | undefined {
    return this.calls[this.calls.length - 1];
  }

  /** The next call recorded after now; rejects if none starts within `ms`. */
  next(ms = 2000): Promise<GrpcJsCall> {
    const n = this.calls.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no handler call within ${ms} ms`)), ms);
      const check = () => {
        if (this.calls.length > n) {
          clearTimeout(timer);
          resolve(this.calls[n]);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

/** Waits `ms`, or resolves false at once when the call is cancelled. */
function delay(call: ServerCall, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!call.cancelled);
  return new Promise((resolve) => {
    const onCancel = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      call.off("cancelled", onCancel);
      resolve(!call.cancelled);
    }, ms);
    call.once("cancelled", onCancel);
  });
}

/** The response header (sent only when x-echo-header asks for one) and trailers a call echoes. */
function echoMetadata(call: ServerCall): grpc.Metadata {
  const h = call.metadata.get("x-echo-header");
  if (h.length > 0) {
    const header = new grpc.Metadata();
    header.set("x-echo-header", h[0]);
    call.sendMetadata(header);
  }
  const trailer = new grpc.Metadata();
  const t = call.metadata.get("x-echo-trailer");
  if (t.length > 0) trailer.set("x-echo-trailer", t[0]);
  const bin = call.metadata.get("x-echo-bin");
  if (bin.length > 0) trailer.set("x-echo-bin", bin[0]);
  return trailer;
}

/**
 * "error:not_found:message": a status error with that code, the trailers,
 * x-error-meta and grpc-status-details-bin (google.rpc.Status with an
 * ErrorInfo detail). Undefined for any other text.
 */
export function failure(text: string, trailer: grpc.Metadata): Partial<grpc.StatusObject> | undefined {
  if (!text.startsWith("error:")) return undefined;
  const [, codeName, ...rest] = text.split(":");
  const code = (grpc.status as unknown as Record<string, number>)[codeName.toUpperCase()] ?? grpc.status.UNKNOWN;
  const details = rest.join(":") || "failed on purpose";
  const metadata = trailer.clone();
  metadata.set("x-error-meta", "yes");
  const status = new ConnectError(details, code, {
    details: [{ desc: ErrorInfoSchema, value: { reason: "on-purpose", fields: { codeName } } }],
  });
  metadata.set("grpc-status-details-bin", Buffer.from(encodeStatusDetails(status)));
  return { code, details, metadata };
}

function reply(req: EchoRequest, index = 0): EchoResponseInit {
  return { text: req.text, index, payload: req.payload };
}

/** The grpc-js implementation of TestService; `log` records each call. */
export function grpcJsTestService(log: GrpcJsCallLog): grpc.UntypedServiceImplementation {
  const unary =
    (name: string) =>
    async (call: grpc.ServerUnaryCall<EchoRequest, EchoResponseInit>, cb: grpc.sendUnaryData<EchoResponseInit>) => {
      log.record(name, call);
      const trailer = echoMetadata(call);
      const err = failure(call.request.text, trailer);
      if (err) return cb(err);
      if (!(await delay(call, call.request.delayMs))) return;
      cb(null, reply(call.request), trailer);
    };
  return {
    echo: unary("echo"),
    unary: unary("unary"),
    async serverStream(call: grpc.ServerWritableStream<EchoRequest, EchoResponseInit>) {
      log.record("serverStream", call);
      const trailer = echoMetadata(call);
      const req = call.request;
      for (let i = 0; i < req.count; i++) {
        if (!(await delay(call, req.delayMs))) return;
        call.write(reply(req, i));
      }
      const err = failure(req.text, trailer);
      if (err) call.emit("error", err);
      else call.end(trailer);
    },
    clientStream(
      call: grpc.ServerReadableStream<EchoRequest, EchoResponseInit>,
      cb: grpc.sendUnaryData<EchoResponseInit>,
    ) {
      log.record("clientStream", call);
      const trailer = echoMetadata(call);
      const texts: string[] = [];
      let failed = false;
      call.on("data", (r: EchoRequest) => {
        if (failed) return;
        const err = failure(r.text, trailer);
        if (err) {
          failed = true;
          cb(err);
        } else texts.push(r.text);
      });
      call.on("end", () => {
        if (!failed) cb(null, { text: texts.join(","), index: texts.length }, trailer);
      });
      call.on("error", () => {});
    },
    bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoResponseInit>) {
      log.record("bidi", call);
      const trailer = echoMetadata(call);
      let i = 0;
      let done = false;
      // Requests are answered one by one, in order, each after its delay.
      let chain = Promise.resolve();
      call.on("data", (r: EchoRequest) => {
        chain = chain.then(async () => {
          if (done) return;
          const err = failure(r.text, trailer);
          if (err) {
            done = true;
            call.emit("error", err);
            return;
          }
          if (!(await delay(call, r.delayMs))) {
            done = true;
            return;
          }
          call.write(reply(r, i++));
        });
      });
      call.on("end", () => {
        chain = chain.then(() => {
          if (!done && !call.cancelled) call.end(trailer);
          done = true;
        });
      });
      call.on("error", () => {});
    },
  };
}

export interface GrpcJsServer {
  /** Where clients connect: the server, or the recording proxy in front of it. */
  baseUrl: string;
  port: number;
  log: GrpcJsCallLog;
  /** Everything clients sent through the proxy so far (empty without `recordBytes`). */
  clientBytes(): Buffer;
  close(): Promise<void>;
}

/**
 * Starts a grpc-js Server with TestService on 127.0.0.1 and an ephemeral
 * port. `recordBytes` puts a TCP proxy in front that keeps what clients send.
 */
export async function startGrpcJsServer(
  opts: { options?: grpc.ServerOptions; recordBytes?: boolean } = {},
): Promise<GrpcJsServer> {
  const log = new GrpcJsCallLog();
  const server = new grpc.Server(opts.options);
  server.addService(testServiceDefinition, grpcJsTestService(log));
  const serverPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  let port = serverPort;
  const captured: Buffer[] = [];
  let proxy: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  if (opts.recordBytes) {
    proxy = net.createServer((client) => {
      const upstream = net.connect(serverPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.once("close", () => sockets.delete(s));
      }
      client.on("data", (d: Buffer) => captured.push(d));
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    const p = proxy;
    await new Promise<void>((resolve) => p.listen(0, "127.0.0.1", resolve));
    port = (p.address() as net.AddressInfo).port;
  }
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    log,
    clientBytes: () => Buffer.concat(captured),
    async close() {
      server.forceShutdown();
      if (proxy) {
        for (const s of sockets) s.destroy();
        const p = proxy;
        await new Promise<void>((resolve) => p.close(() => resolve()));
      }
    },
  };
}
