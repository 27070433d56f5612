// A raw node:http2 (h2c) server that answers TestService calls itself, in
// gRPC, Connect unary and Connect streaming, and lets a test decide for each
// stream whether it is answered or refused (RST_STREAM REFUSED_STREAM, GOAWAY
// below its id) or abused some other way. For tests of the client against a
// server that is not ours. Not a test file itself.
import { once } from "node:events";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema } from "../gen/fcr/test/v1/test_pb.js";
import { envelope } from "./raw-http.js";

/** One stream the server got: which session (connection) it came on, counting from 0. */
export interface SeenStream {
  session: number;
  id: number;
  path: string;
}

/** What the test does with a stream, as soon as it arrives; `answer` answers it once its request has ended. */
export type StreamPolicy = (stream: http2.ServerHttp2Stream, seen: SeenStream, answer: () => void) => void;

export interface EchoH2Server {
  url: string;
  port: number;
  /** Every stream, in order of arrival. */
  streams: SeenStream[];
  /** The server's sessions, in order of arrival. */
  sessions: http2.ServerHttp2Session[];
  /** The raw TCP socket of each session (same order): `session.socket` is a proxy that cannot reset it. */
  sockets: net.Socket[];
  /** The server's sockets still open (it never closes one after GOAWAY itself; Node's server does not either). */
  openSockets(): number;
  /** Decides each stream's fate; by default it is answered. */
  policy: StreamPolicy;
  close(): Promise<void>;
}

/** The response messages for a request: `count` echoes (at least one) of its text. */
function responses(body: Buffer, grpcLike: boolean): Uint8Array[] {
  const data = grpcLike ? body.subarray(5) : body;
  const req = fromBinary(EchoRequestSchema, data);
  const n = Math.max(1, req.count);
  return Array.from({ length: n }, (_, index) =>
    toBinary(EchoResponseSchema, create(EchoResponseSchema, { text: req.text, index })),
  );
}

/** Answers a request whole: gRPC (trailers), gRPC-Web (trailer frame), Connect streaming (end-stream frame) or Connect unary (bare body). */
export function answerEcho(stream: http2.ServerHttp2Stream, contentType: string, body: Buffer): void {
  if (stream.destroyed) return;
  if (contentType.startsWith("application/grpc-web")) {
    stream.respond({ ":status": 200, "content-type": "application/grpc-web+proto" });
    const frames = responses(body, true).map((m) => envelope(0, m));
    stream.end(Buffer.concat([...frames, envelope(0x80, Buffer.from("grpc-status: 0\r\n"))]));
  } else if (contentType.startsWith("application/grpc")) {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.concat(responses(body, true).map((m) => envelope(0, m))));
  } else if (contentType.startsWith("application/connect")) {
    stream.respond({ ":status": 200, "content-type": "application/connect+proto" });
    const frames = responses(body, true).map((m) => envelope(0, m));
    stream.end(Buffer.concat([...frames, envelope(2, Buffer.from("{}"))]));
  } else {
    stream.respond({ ":status": 200, "content-type": "application/proto" });
    stream.end(responses(body, false)[0]);
  }
}

/** Starts the server on 127.0.0.1. */
export async function startEchoH2Server(): Promise<EchoH2Server> {
  const server = http2.createServer();
  const peer: EchoH2Server = {
    url: "",
    port: 0,
    streams: [],
    sessions: [],
    sockets: [],
    openSockets: () => peer.sockets.filter((s) => !s.destroyed).length,
    policy: (_stream, _seen, answer) => answer(),
    async close() {
      for (const s of peer.sessions) s.destroy();
      for (const s of peer.sockets) s.destroy();
      const closed = once(server, "close");
      server.close();
      await closed;
    },
  };
  server.on("connection", (socket: net.Socket) => {
    peer.sockets.push(socket);
    socket.on("error", () => {});
  });
  server.on("session", (session) => {
    peer.sessions.push(session);
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const seen = {
      session: peer.sessions.indexOf(stream.session as http2.ServerHttp2Session),
      id: stream.id ?? 0,
      path: String(headers[":path"]),
    };
    peer.streams.push(seen);
    const chunks: Buffer[] = [];
    let ended = false;
    let answering = false;
    const contentType = String(headers["content-type"] ?? "");
    const reply = () => answerEcho(stream, contentType, Buffer.concat(chunks));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      ended = true;
      if (answering) reply();
    });
    peer.policy(stream, seen, () => {
      answering = true;
      if (ended) reply();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  peer.port = (server.address() as AddressInfo).port;
  peer.url = `http://127.0.0.1:${peer.port}`;
  return peer;
}
