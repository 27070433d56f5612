// gRPC (grpc/grpc doc/PROTOCOL-HTTP2.md) and gRPC-Web (PROTOCOL-WEB.md) on
// the wire, spoken with raw node:http2, node:http and fetch, so the tests see
// exactly the frames the server writes: well-formed calls, and malformed input
// that must end in a status rather than a hang.
import * as http from "node:http";
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import t, { type Test } from "tap";
import { EchoResponseSchema } from "../gen/fcr/test/v1/test_pb.js";
import { echoBytes, envelope, h1, parseEnvelopes, SERVICE } from "../helpers/raw-http.js";
import { type StartedServer, startServer } from "../helpers/server.js";

const GRPC = { "content-type": "application/grpc", te: "trailers" };

interface GrpcResponse {
  headers: http2.IncomingHttpHeaders;
  /** Whether the response HEADERS frame carried END_STREAM (a trailers-only response). */
  headersEndStream: boolean;
  body: Buffer;
  trailers?: http2.IncomingHttpHeaders;
}

async function server(t: Test, opts: Parameters<typeof startServer>[0] = {}): Promise<StartedServer> {
  const s = await startServer({ http2: true, ...opts });
  t.teardown(s.close);
  return s;
}

/** An h2c session to the server, closed at teardown. */
function session(t: Test, s: StartedServer): http2.ClientHttp2Session {
  const sess = http2.connect(s.baseUrl);
  sess.on("error", () => {});
  t.teardown(() => sess.destroy());
  return sess;
}

/**
 * One request on an HTTP/2 session. `body` chunks are written one at a time
 * (a few milliseconds apart when `gapMs` is set); the promise settles when the
 * stream closes.
 */
function call(
  sess: http2.ClientHttp2Session,
  path: string,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array[] = [],
  gapMs = 0,
): Promise<GrpcResponse> {
  return new Promise((resolve, reject) => {
    const stream = sess.request({ ":method": "POST", ":path": path, ...headers });
    const res: GrpcResponse = { headers: {}, headersEndStream: false, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    stream.on("response", (h, flags) => {
      res.headers = h;
      res.headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("trailers", (h) => {
      res.trailers = h;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("close", () => {
      res.body = Buffer.concat(chunks);
      resolve(res);
    });
    void (async () => {
      for (const b of body) {
        if (stream.destroyed) return;
        stream.write(b);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (!stream.destroyed) stream.end();
    })();
  });
}

/** grpc-status from the trailers, or from the head of a trailers-only response. */
function statusOf(res: GrpcResponse): { code: number; message?: string } {
  const src = res.trailers ?? res.headers;
  const code = src["grpc-status"];
  return { code: code === undefined ? -1 : Number(code), message: src["grpc-message"] as string | undefined };
}

function unary(sess: http2.ClientHttp2Session, body: Uint8Array[], headers: http2.OutgoingHttpHeaders = {}) {
  return call(sess, `${SERVICE}/Unary`, { ...GRPC, ...headers }, body);
}

/** After a failed call on `sess`, a well-formed call on the same session still succeeds. */
async function stillServes(t: Test, sess: http2.ClientHttp2Session) {
  const ok = await unary(sess, [envelope(0, echoBytes({ text: "after" }))]);
  t.equal(statusOf(ok).code, 0, "the server keeps serving on the same connection");
  t.equal(fromBinary(EchoResponseSchema, parseEnvelopes(ok.body)[0].data).text, "after");
}

t.test("success: a head with application/grpc, one envelope, then trailers with grpc-status 0", async (t) => {
  const s = await server(t);
  const res = await unary(session(t, s), [envelope(0, echoBytes({ text: "hi" }))]);
  t.equal(res.headers[":status"], 200);
  t.equal(res.headers["content-type"], "application/grpc");
  t.equal(res.headers["grpc-status"], undefined, "no status in the head of a successful call");
  t.notOk(res.headersEndStream, "the head leaves the stream open");
  const envs = parseEnvelopes(res.body);
  t.equal(envs.length, 1);
  t.equal(envs[0].flags, 0, "uncompressed");
  t.equal(fromBinary(EchoResponseSchema, envs[0].data).text, "hi");
  t.same(res.trailers?.["grpc-status"], "0", "grpc-status 0 in the HTTP trailers");
  t.equal(res.trailers?.["grpc-message"], undefined, "no grpc-message on success");
});

t.test("an envelope split across DATA frames, byte by byte, is reassembled", async (t) => {
  const s = await server(t);
  const whole = Buffer.concat([envelope(0, echoBytes({ text: "a" })), envelope(0, echoBytes({ text: "b" }))]);
  const bytes = [...whole].map((b) => Buffer.from([b]));
  const res = await call(session(t, s), `${SERVICE}/ClientStream`, GRPC, bytes, 1);
  t.equal(statusOf(res).code, 0);
  t.equal(fromBinary(EchoResponseSchema, parseEnvelopes(res.body)[0].data).text, "a,b");
});

t.test("malformed input ends the call with a status, and the server keeps serving", async (t) => {
  const s = await server(t);
  const sess = session(t, s);

  t.test("a truncated envelope (header says 10 bytes, 3 arrive) is a non-OK status", async (t) => {
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 0, 10]), Buffer.from([1, 2, 3])]);
    const res = await unary(sess, [bad]);
    t.not(statusOf(res).code, 0, `status ${statusOf(res).code}`);
    t.not(statusOf(res).code, -1, "a grpc-status was sent");
    t.match(statusOf(res).message, /truncated|incomplete/);
    await stillServes(t, sess);
  });

  t.test("a truncated envelope header (2 bytes) is a non-OK status", async (t) => {
    const res = await unary(sess, [Buffer.from([0, 0])]);
    t.not(statusOf(res).code, 0);
    t.not(statusOf(res).code, -1, "a grpc-status was sent");
    await stillServes(t, sess);
  });

  t.test("invalid envelope flags (0x02, 0x80) are INTERNAL: only bit 0 (compressed) is defined", async (t) => {
    for (const flags of [0x02, 0x80]) {
      const res = await unary(sess, [envelope(flags, echoBytes({ text: "x" }))]);
      t.equal(statusOf(res).code, 13, `flags 0x${flags.toString(16)}`);
    }
    await stillServes(t, sess);
  });

  t.test("the compressed flag without grpc-encoding is INTERNAL (PROTOCOL-HTTP2.md, Compressed-Flag)", async (t) => {
    const res = await unary(sess, [envelope(1, gzipSync(echoBytes({ text: "x" })))]);
    t.equal(statusOf(res).code, 13);
    const identity = await unary(sess, [envelope(1, gzipSync(echoBytes({ text: "x" })))], {
      "grpc-encoding": "identity",
    });
    t.equal(statusOf(identity).code, 13, "grpc-encoding: identity with the compressed flag too");
    await stillServes(t, sess);
  });

  t.test("a compressed message with grpc-encoding gzip is accepted", async (t) => {
    const res = await unary(sess, [envelope(1, gzipSync(echoBytes({ text: "zipped" })))], { "grpc-encoding": "gzip" });
    t.equal(statusOf(res).code, 0);
    t.equal(fromBinary(EchoResponseSchema, parseEnvelopes(res.body)[0].data).text, "zipped");
  });

  t.test("a message that is not valid protobuf is a non-OK status", async (t) => {
    const res = await unary(sess, [envelope(0, Buffer.from([0xff, 0xff, 0xff, 0xff]))]);
    t.not(statusOf(res).code, 0);
    t.not(statusOf(res).code, -1);
    await stillServes(t, sess);
  });

  t.test("a unary call with zero request messages is an error", async (t) => {
    const res = await unary(sess, []);
    t.not(statusOf(res).code, 0);
    t.not(statusOf(res).code, -1, "a grpc-status was sent");
    await stillServes(t, sess);
  });

  t.test("a unary call with two request messages is an error", async (t) => {
    const two = [envelope(0, echoBytes({ text: "one" })), envelope(0, echoBytes({ text: "two" }))];
    const res = await unary(sess, two);
    t.not(statusOf(res).code, 0);
    t.not(statusOf(res).code, -1, "a grpc-status was sent");
    t.same(parseEnvelopes(res.body), [], "no response message");
    await stillServes(t, sess);
  });
});

t.test("a content-type that is not gRPC (text/plain) is HTTP 415", async (t) => {
  const s = await server(t);
  const res = await call(session(t, s), `${SERVICE}/Unary`, { "content-type": "text/plain" }, [
    envelope(0, echoBytes({ text: "x" })),
  ]);
  t.equal(res.headers[":status"], 415);
  t.equal(res.headers["grpc-status"], undefined, "a plain HTTP answer, not a gRPC status");
});

t.test("a message larger than readMaxBytes is RESOURCE_EXHAUSTED (8)", async (t) => {
  const s = await server(t, { plugin: { readMaxBytes: 100 } });
  const sess = session(t, s);
  const res = await unary(sess, [envelope(0, echoBytes({ payload: new Uint8Array(200) }))]);
  t.equal(statusOf(res).code, 8);
  t.match(statusOf(res).message, /readMaxBytes/);

  const bomb = gzipSync(echoBytes({ payload: new Uint8Array(5000) }));
  t.ok(bomb.byteLength < 100, "the compressed message itself is under the limit");
  const zipped = await unary(sess, [envelope(1, bomb)], { "grpc-encoding": "gzip" });
  t.equal(statusOf(zipped).code, 8, "the limit applies after decompression too");

  const fits = await unary(sess, [envelope(0, echoBytes({ payload: new Uint8Array(50) }))]);
  t.equal(statusOf(fits).code, 0, "a message under the limit passes");
});

t.test("an unknown grpc-encoding is UNIMPLEMENTED (12) with grpc-accept-encoding", async (t) => {
  const s = await server(t);
  const res = await unary(session(t, s), [envelope(1, Buffer.from("??"))], { "grpc-encoding": "snappy" });
  t.equal(statusOf(res).code, 12);
  // PROTOCOL-HTTP2.md: the server includes grpc-accept-encoding listing what it accepts.
  const accept = String(res.headers["grpc-accept-encoding"] ?? res.trailers?.["grpc-accept-encoding"] ?? "");
  t.same(
    accept.split(",").map((x) => x.trim()),
    ["gzip", "br", "deflate"],
  );
  t.match(statusOf(res).message, /snappy/);
});

t.test("grpc-timeout", async (t) => {
  const s = await server(t);
  const sess = session(t, s);

  t.test("9 digits without a unit is an error (TimeoutValue is at most 8 digits, then a unit)", async (t) => {
    for (const value of ["123456789", "123456789m", "10", "1x"]) {
      const res = await unary(sess, [envelope(0, echoBytes({ text: "x" }))], { "grpc-timeout": value });
      t.not(statusOf(res).code, 0, `grpc-timeout: ${value}`);
      t.not(statusOf(res).code, -1, "a grpc-status was sent");
    }
    await stillServes(t, sess);
  });

  t.test("the server enforces a valid grpc-timeout: DEADLINE_EXCEEDED (4)", async (t) => {
    const started = Date.now();
    const res = await unary(sess, [envelope(0, echoBytes({ text: "slow", delayMs: 3000 }))], {
      "grpc-timeout": "100m",
    });
    t.equal(statusOf(res).code, 4);
    t.ok(Date.now() - started < 2000, "ended at the deadline, not when the handler would have");
    const ok = await unary(sess, [envelope(0, echoBytes({ text: "fast" }))], { "grpc-timeout": "5S" });
    t.equal(statusOf(ok).code, 0, "a call within its timeout succeeds");
  });
});

t.test("gRPC over HTTP/1.1 is HTTP 505 at once, without waiting for the body", async (t) => {
  const s = await server(t, { http2: false });
  const started = Date.now();
  const res = await h1(s.port, {
    path: `${SERVICE}/Unary`,
    headers: { "content-type": "application/grpc" },
    body: envelope(0, echoBytes({ text: "x" })),
  });
  t.equal(res.status, 505);
  t.ok(Date.now() - started < 1000, "no hang");

  // A request whose body never ends must not keep the answer back either.
  const early = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: s.port,
        method: "POST",
        path: `${SERVICE}/Bidi`,
        headers: { "content-type": "application/grpc+proto" },
        agent: false,
      },
      (r) => {
        resolve(r.statusCode ?? 0);
        r.resume();
        req.destroy();
      },
    );
    req.on("error", reject);
    req.write(envelope(0, echoBytes({ text: "x" })));
  });
  t.equal(early, 505, "answered while the request body was still open");
});

t.test("an error before any message is a trailers-only response", async (t) => {
  const s = await server(t);
  const res = await unary(session(t, s), [envelope(0, echoBytes({ text: "error:not_found:gone" }))]);
  // PROTOCOL-HTTP2.md: Trailers-Only is one HEADERS frame with END_STREAM.
  t.equal(res.headers[":status"], 200);
  t.equal(res.headers["grpc-status"], "5", "grpc-status in the response headers");
  t.equal(res.headers["grpc-message"], "gone");
  t.equal(res.headers["content-type"], "application/grpc");
  t.ok(res.headers["grpc-status-details-bin"], "details in the same frame");
  t.equal(res.headers["x-error-meta"], "yes", "error metadata in the same frame");
  t.ok(res.headersEndStream, "the HEADERS frame ends the stream");
  t.equal(res.trailers, undefined, "no separate trailers");
  t.equal(res.body.length, 0, "no DATA");

  const stream = await call(session(t, s), `${SERVICE}/ServerStream`, GRPC, [
    envelope(0, echoBytes({ text: "error:aborted:early", count: 0 })),
  ]);
  t.equal(stream.headers["grpc-status"], "10", "server streaming too");
  t.ok(stream.headersEndStream);
  t.equal(stream.trailers, undefined);
});

t.test("an error after a message comes in the trailers", async (t) => {
  const s = await server(t);
  const res = await call(session(t, s), `${SERVICE}/ServerStream`, GRPC, [
    envelope(0, echoBytes({ text: "error:aborted:late", count: 2 })),
  ]);
  t.equal(res.headers["grpc-status"], undefined);
  t.equal(parseEnvelopes(res.body).length, 2);
  t.equal(res.trailers?.["grpc-status"], "10");
  t.equal(res.trailers?.["grpc-message"], "late");
  t.equal(res.trailers?.["x-error-meta"], "yes");
});

t.test("grpc-message is percent-encoded: UTF-8 bytes outside 0x20-0x7E and % itself", async (t) => {
  const s = await server(t);
  const res = await unary(session(t, s), [envelope(0, echoBytes({ text: "error:not_found:héllo %" }))]);
  t.equal(statusOf(res).code, 5);
  t.equal(statusOf(res).message, "h%C3%A9llo %25");
});

/** Splits a whole gRPC-Web body into envelopes and its trailers frame, which must come last. */
function webFrames(body: Buffer) {
  const envs = parseEnvelopes(body);
  const last = envs.pop();
  if (!last) throw new Error("no frames in the body");
  const lines = last.data.toString("latin1").split("\r\n");
  return { messages: envs, trailerFlags: last.flags, trailerText: last.data.toString("latin1"), lines };
}

t.test("gRPC-Web over HTTP/1.1 (fetch)", async (t) => {
  const s = await server(t, { http2: false });
  const post = (path: string, body: Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${s.baseUrl}${SERVICE}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers },
      body,
    });

  t.test("a successful body ends with the trailers frame: flag 0x80, lower-case lines", async (t) => {
    const res = await post("ServerStream", envelope(0, echoBytes({ text: "w", count: 2 })), {
      "x-echo-trailer": "Tail",
    });
    t.equal(res.status, 200);
    t.equal(res.headers.get("content-type"), "application/grpc-web+proto");
    const f = webFrames(Buffer.from(await res.arrayBuffer()));
    t.same(
      f.messages.map((m) => [m.flags, fromBinary(EchoResponseSchema, m.data).index]),
      [
        [0, 0],
        [0, 1],
      ],
    );
    t.equal(f.trailerFlags, 0x80, "the last frame has the trailers flag");
    t.match(f.trailerText, /(^|\r\n)grpc-status: 0\r\n/, 'a "grpc-status: 0\\r\\n" line');
    t.match(f.trailerText, /(^|\r\n)x-echo-trailer: Tail\r\n/, "the handler's trailer, its key lower-case");
    t.ok(f.trailerText.endsWith("\r\n"), "every line ends with CRLF");
    for (const line of f.lines.filter(Boolean)) t.match(line, /^[a-z0-9-]+: /, `lower-case key: ${line}`);
  });

  t.test("an error after a message goes in the trailers frame", async (t) => {
    const res = await post("ServerStream", envelope(0, echoBytes({ text: "error:not_found:héllo %", count: 1 })));
    const f = webFrames(Buffer.from(await res.arrayBuffer()));
    t.equal(f.messages.length, 1);
    t.equal(f.trailerFlags, 0x80);
    t.match(f.trailerText, /(^|\r\n)grpc-status: 5\r\n/);
    t.match(f.trailerText, /(^|\r\n)grpc-message: h%C3%A9llo %25\r\n/);
    t.match(f.trailerText, /(^|\r\n)x-error-meta: yes\r\n/);
    t.match(f.trailerText, /(^|\r\n)grpc-status-details-bin: [A-Za-z0-9+/]+=*\r\n/);
  });

  t.test("an error before any message is trailers-only: the status in the HTTP headers", async (t) => {
    const res = await post("Unary", envelope(0, echoBytes({ text: "error:permission_denied:no" })));
    t.equal(res.status, 200);
    t.equal(res.headers.get("grpc-status"), "7");
    t.equal(res.headers.get("grpc-message"), "no");
    t.equal((await res.arrayBuffer()).byteLength, 0, "an empty body");
  });

  t.test("application/grpc-web (no +proto suffix) is proto too", async (t) => {
    const res = await post("Unary", envelope(0, echoBytes({ text: "plain" })), {
      "content-type": "application/grpc-web",
    });
    const f = webFrames(Buffer.from(await res.arrayBuffer()));
    t.equal(fromBinary(EchoResponseSchema, f.messages[0].data).text, "plain");
    t.match(f.trailerText, /grpc-status: 0\r\n/);
  });
});

/** Decodes a grpc-web-text body, which may be several padded base64 segments back to back. */
function decodeBase64Segments(text: string): Buffer {
  const parts: Buffer[] = [];
  for (const seg of text.match(/[A-Za-z0-9+/]+={0,2}/g) ?? []) parts.push(Buffer.from(seg, "base64"));
  return Buffer.concat(parts);
}

/** A grpc-web-text request over HTTP/1.1 whose body goes out in the given pieces, a few ms apart. */
function webTextRequest(
  port: number,
  path: string,
  pieces: string[],
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: `${SERVICE}/${path}`,
        headers: { "content-type": "application/grpc-web-text", accept: "application/grpc-web-text" },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("latin1");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    void (async () => {
      for (const p of pieces) {
        req.write(p);
        await new Promise((r) => setTimeout(r, 2));
      }
      req.end();
    })();
  });
}

t.test("application/grpc-web-text: base64 request and response", async (t) => {
  const s = await server(t, { http2: false });

  t.test("a body in one piece", async (t) => {
    const body = envelope(0, echoBytes({ text: "text mode ✓" })).toString("base64");
    const res = await webTextRequest(s.port, "Unary", [body]);
    t.equal(res.status, 200);
    t.match(res.headers["content-type"], /^application\/grpc-web-text/);
    t.match(res.body, /^[A-Za-z0-9+/=]+$/, "the response body is base64");
    t.equal(Number(res.headers["content-length"]), res.body.length, "the content-length counts the base64 text");
    const f = webFrames(decodeBase64Segments(res.body));
    t.equal(fromBinary(EchoResponseSchema, f.messages[0].data).text, "text mode ✓");
    t.equal(f.trailerFlags, 0x80);
    t.match(f.trailerText, /grpc-status: 0\r\n/);
  });

  t.test("a body split into odd chunks (1, 3, 5, 7 characters)", async (t) => {
    const text = envelope(0, echoBytes({ text: "chunky", payload: new Uint8Array(40).fill(7) })).toString("base64");
    const pieces: string[] = [];
    const sizes = [1, 3, 5, 7];
    for (let i = 0, k = 0; i < text.length; k++) {
      const n = sizes[k % sizes.length];
      pieces.push(text.slice(i, i + n));
      i += n;
    }
    const res = await webTextRequest(s.port, "Unary", pieces);
    const f = webFrames(decodeBase64Segments(res.body));
    const msg = fromBinary(EchoResponseSchema, f.messages[0].data);
    t.equal(msg.text, "chunky");
    t.equal(msg.payload.byteLength, 40);
    t.match(f.trailerText, /grpc-status: 0\r\n/);
  });

  t.test("several messages, each base64-encoded on its own (padded segments back to back)", async (t) => {
    const pieces = ["a", "bb", "ccc"].map((x) => envelope(0, echoBytes({ text: x })).toString("base64"));
    t.ok(
      pieces.some((p) => p.endsWith("=")),
      "at least one segment is padded",
    );
    const res = await webTextRequest(s.port, "ClientStream", pieces);
    const f = webFrames(decodeBase64Segments(res.body));
    t.equal(fromBinary(EchoResponseSchema, f.messages[0].data).text, "a,bb,ccc");
    t.match(f.trailerText, /grpc-status: 0\r\n/);
  });

  t.test("server streaming answers base64 frames that decode to messages and trailers", async (t) => {
    const body = envelope(0, echoBytes({ text: "st", count: 3 })).toString("base64");
    const res = await webTextRequest(s.port, "ServerStream", [body]);
    const f = webFrames(decodeBase64Segments(res.body));
    t.same(
      f.messages.map((m) => fromBinary(EchoResponseSchema, m.data).index),
      [0, 1, 2],
    );
    t.equal(f.trailerFlags, 0x80);
  });

  t.test("a body that is not base64 is an error status", async (t) => {
    const res = await webTextRequest(s.port, "Unary", ["!!!not base64!!!"]);
    t.equal(res.status, 200);
    // Nothing was sent yet, so the status is trailers-only: in the HTTP headers.
    t.equal(res.headers["grpc-status"], "3", "INVALID_ARGUMENT");
    t.match(res.headers["grpc-message"], /base64/);
    t.equal(res.body, "", "no frames");
  });
});
