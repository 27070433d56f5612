// The client against a hostile server, part 1: what is in the responses.
// Decompression bombs and oversized messages (readMaxBytes) for Connect unary
// and every streaming protocol, invalid envelopes, bad grpc-status values, a
// grpc-web-text answer the client never asked for, huge and malformed
// headers. Every call must end with a clear ConnectError well within its
// deadline, nothing may crash the process (tap fails a test on any uncaught
// 'error'), and the file leaves no sockets, sessions or timers behind.

import type { AddressInfo } from "node:net";
import * as net from "node:net";
import * as zlib from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import t from "tap";
import {
  Code,
  ConnectError,
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { encodeEnvelope, FLAG_COMPRESSED, FLAG_END_STREAM, FLAG_TRAILERS } from "../../lib/protocol/envelope.js";
import { EchoResponseSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type Answer, startAnswerServers } from "../helpers/answer-servers.js";
import { collect, rejection, within } from "../helpers/client-calls.js";
import { activeResources, heapAfterGc, leftOver } from "../helpers/resources.js";

const READ_MAX = 1024 * 1024;
const DEADLINE_MS = 3000;
const peer = await startAnswerServers();
const baseline = activeResources();
const heapBefore = heapAfterGc();

type Protocol = "connect" | "grpc" | "grpc-web";
interface Target {
  name: string;
  protocol: Protocol;
  transport: Transport;
}
const targets: Target[] = [
  {
    name: "Connect HTTP/1.1",
    protocol: "connect",
    transport: createConnectTransport({ baseUrl: peer.h1Url, readMaxBytes: READ_MAX }),
  },
  {
    name: "Connect h2c",
    protocol: "connect",
    transport: createConnectTransport({ baseUrl: peer.h2Url, httpVersion: "2", readMaxBytes: READ_MAX }),
  },
  { name: "gRPC", protocol: "grpc", transport: createGrpcTransport({ baseUrl: peer.h2Url, readMaxBytes: READ_MAX }) },
  {
    name: "gRPC-Web HTTP/1.1",
    protocol: "grpc-web",
    transport: createGrpcWebTransport({ baseUrl: peer.h1Url, readMaxBytes: READ_MAX }),
  },
  {
    name: "gRPC-Web h2c",
    protocol: "grpc-web",
    transport: createGrpcWebTransport({ baseUrl: peer.h2Url, httpVersion: "2", readMaxBytes: READ_MAX }),
  },
];

const ok = toBinary(EchoResponseSchema, create(EchoResponseSchema, { text: "ok" }));
/** 64 MiB of zeros, gzipped to about 64 KiB. */
const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024));

/** An enveloped answer: the protocol's content-type and encoding header, the frames, the protocol's OK end. */
function enveloped(protocol: Protocol, frames: Uint8Array[], headers: Record<string, string> = {}): Answer {
  const h = { "content-type": `application/${protocol === "connect" ? "connect" : protocol}+proto`, ...headers };
  if (protocol === "connect")
    return {
      status: 200,
      headers: h,
      body: Buffer.concat([...frames, encodeEnvelope(FLAG_END_STREAM, Buffer.from("{}"))]),
    };
  if (protocol === "grpc-web")
    return {
      status: 200,
      headers: h,
      body: Buffer.concat([...frames, encodeEnvelope(FLAG_TRAILERS, Buffer.from("grpc-status: 0\r\n"))]),
    };
  return { status: 200, headers: h, body: Buffer.concat(frames), trailers: { "grpc-status": "0" } };
}

const encodingHeader = (p: Protocol) => (p === "connect" ? "connect-content-encoding" : "grpc-encoding");

/** Runs a call as unary and as a server stream; both must fail with a ConnectError within the deadline. */
async function bothKinds(target: Target): Promise<ConnectError[]> {
  const client = createClient(TestService, target.transport);
  const started = Date.now();
  const errors: ConnectError[] = [];
  if (target.protocol !== "connect")
    errors.push(await within(rejection(client.unary({}, { timeoutMs: DEADLINE_MS })), DEADLINE_MS + 1000, "unary"));
  const s = await within(
    collect(client.serverStream({}, { timeoutMs: DEADLINE_MS })),
    DEADLINE_MS + 1000,
    "server stream",
  );
  if (!s.error) throw new Error("the server stream succeeded");
  errors.push(s.error);
  const elapsed = Date.now() - started;
  if (elapsed > DEADLINE_MS) throw new Error(`the calls took ${elapsed} ms, past their deadline`);
  return errors;
}

t.test("a decompression bomb in a Connect unary response is resource_exhausted at readMaxBytes", async (t) => {
  peer.answer = (x) =>
    x.send({ status: 200, headers: { "content-type": "application/proto", "content-encoding": "gzip" }, body: bomb });
  for (const target of targets.filter((x) => x.protocol === "connect")) {
    const client = createClient(TestService, target.transport);
    const err = await within(rejection(client.unary({}, { timeoutMs: DEADLINE_MS })), DEADLINE_MS, target.name);
    t.equal(err.code, Code.ResourceExhausted, `${target.name}: ${err.message}`);
  }
  const growth = heapAfterGc() - heapBefore;
  t.ok(growth < 32 * 1024 * 1024, `heap grew ${(growth / 1048576).toFixed(1)} MiB after 64 MiB bombs`);
});

for (const target of targets) {
  t.test(`${target.name}: a compressed envelope that inflates past readMaxBytes is resource_exhausted`, async (t) => {
    peer.answer = (x) =>
      x.send(
        enveloped(target.protocol, [encodeEnvelope(FLAG_COMPRESSED, bomb)], {
          [encodingHeader(target.protocol)]: "gzip",
        }),
      );
    for (const err of await bothKinds(target)) t.equal(err.code, Code.ResourceExhausted, err.message);
  });

  t.test(`${target.name}: an envelope declaring 100 MiB is resource_exhausted before its bytes arrive`, async (t) => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(100 * 1024 * 1024, 1);
    peer.answer = (x) => x.send(enveloped(target.protocol, [header, Buffer.alloc(1000)]));
    for (const err of await bothKinds(target)) {
      t.equal(err.code, Code.ResourceExhausted, err.message);
      t.match(err.message, /104857600/, "the message gives the size");
    }
  });

  t.test(`${target.name}: an envelope with unknown flags is internal`, async (t) => {
    peer.answer = (x) => x.send(enveloped(target.protocol, [encodeEnvelope(0x40, ok)]));
    for (const err of await bothKinds(target)) t.equal(err.code, Code.Internal, err.message);
  });

  t.test(`${target.name}: a grpc-web-text answer (never offered) is refused by its content-type`, async (t) => {
    peer.answer = (x) =>
      x.send({ status: 200, headers: { "content-type": "application/grpc-web-text+proto" }, body: "!!!not base64!!!" });
    for (const err of await bothKinds(target)) {
      t.ok(err.code === Code.Unknown || err.code === Code.Internal, `${err.code}: ${err.message}`);
      t.match(err.message, /content-type|grpc-web-text/i, "the message names the content-type");
    }
  });
}

t.test("a Connect unary body larger than readMaxBytes is resource_exhausted", async (t) => {
  peer.answer = (x) =>
    x.send({ status: 200, headers: { "content-type": "application/proto" }, body: Buffer.alloc(READ_MAX + 10, 1) });
  for (const target of targets.filter((x) => x.protocol === "connect")) {
    const err = await within(
      rejection(createClient(TestService, target.transport).unary({}, { timeoutMs: DEADLINE_MS })),
      DEADLINE_MS,
      target.name,
    );
    t.equal(err.code, Code.ResourceExhausted, `${target.name}: ${err.message}`);
  }
});

for (const status of ["abc", "99", "-1", "1.5", "", "2147483648"]) {
  t.test(`gRPC and gRPC-Web: grpc-status ${JSON.stringify(status)} is a clear error`, async (t) => {
    for (const target of targets.filter((x) => x.protocol !== "connect")) {
      peer.answer = (x) =>
        x.send(
          target.protocol === "grpc"
            ? {
                status: 200,
                headers: { "content-type": "application/grpc+proto" },
                body: encodeEnvelope(0, ok),
                trailers: { "grpc-status": status },
              }
            : {
                status: 200,
                headers: { "content-type": "application/grpc-web+proto" },
                body: Buffer.concat([
                  encodeEnvelope(0, ok),
                  encodeEnvelope(FLAG_TRAILERS, Buffer.from(`grpc-status: ${status}\r\n`)),
                ]),
              },
        );
      for (const err of await bothKinds(target)) {
        t.ok(
          err.code === Code.Unknown || err.code === Code.Internal,
          `${target.name}: ${Code[err.code]}: ${err.message}`,
        );
      }
    }
  });
}

t.test("huge response headers (200 KiB) end the call with a ConnectError", async (t) => {
  peer.answer = (x) =>
    x.send({
      status: 200,
      headers: { "content-type": "application/proto", "x-huge": "a".repeat(200 * 1024) },
      body: ok,
    });
  for (const target of targets) {
    const client = createClient(TestService, target.transport);
    const err = await within(rejection(client.unary({}, { timeoutMs: DEADLINE_MS })), DEADLINE_MS, target.name);
    t.ok(err instanceof ConnectError, `${target.name}: ${Code[err.code]}: ${err.message}`);
  }
});

t.test("a malformed HTTP/1.1 response head is unavailable with the parser's reason", async (t) => {
  const raw = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n"));
  });
  await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise((r) => raw.close(r)));
  const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  for (const transport of [createConnectTransport({ baseUrl: url }), createGrpcWebTransport({ baseUrl: url })]) {
    const err = await within(
      rejection(createClient(TestService, transport).unary({}, { timeoutMs: DEADLINE_MS })),
      DEADLINE_MS,
      "call",
    );
    t.equal(err.code, Code.Unavailable, err.message);
    t.match(err.message, /parse error|header/i, "the parser's reason is in the message");
    transport.close();
  }
});

t.test("nothing leaks: sockets, sessions and timers are back to the baseline", async (t) => {
  for (const target of targets) target.transport.close();
  await peer.close();
  t.same(await leftOver(baseline), [], "no active resources above the baseline");
  const growth = heapAfterGc() - heapBefore;
  t.ok(growth < 16 * 1024 * 1024, `heap after gc grew ${(growth / 1048576).toFixed(1)} MiB over the file`);
});
