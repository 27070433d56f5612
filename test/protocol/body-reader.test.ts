// Reading message bodies off a Node Readable: readBody (Connect unary), readSingleEnvelopeBody (gRPC and
// gRPC-Web unary) and EnvelopeReader (streams). The size limit, truncation, a peer that goes away, chunk
// boundaries anywhere, backpressure and the transform/flush hooks. Where HTTP/2 behaviour matters, a real
// node:http2 connection on 127.0.0.1 provides the stream.
import { once } from "node:events";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import t, { type Test } from "tap";
import { type BodyErrors, EnvelopeReader, readBody, readSingleEnvelopeBody } from "../../lib/protocol/body-reader.js";
import { Code } from "../../lib/protocol/code.js";
import { type Envelope, encodeEnvelope, FLAG_COMPRESSED } from "../../lib/protocol/envelope.js";
import { ConnectError } from "../../lib/protocol/error.js";

const errors: BodyErrors = {
  gone: () => new ConnectError("test: peer gone", Code.Canceled),
  truncated: (missing) => new ConnectError(`test: truncated: ${missing}`, Code.InvalidArgument),
};

function bytes(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** A Readable that emits exactly these chunks, one 'data' event each, then ends (unless `end` is false). */
function source(chunks: Uint8Array[], end = true): Readable {
  const r = new Readable({ read() {} });
  for (const c of chunks) r.push(c);
  if (end) r.push(null);
  return r;
}

function splitAt(whole: Uint8Array, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(whole.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(whole.subarray(prev)));
  return out.filter((c) => c.byteLength > 0);
}

const plain = (envs: Envelope[]) => envs.map((e) => ({ flags: e.flags, data: Buffer.from(e.data).toString("hex") }));

async function drain(reader: EnvelopeReader): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (;;) {
    const r = await reader.next();
    if (r.done) return out;
    out.push(r.value);
  }
}

/** Collects what the reader yields until it fails; returns the envelopes and the error. */
async function drainToError(reader: EnvelopeReader): Promise<{ envs: Envelope[]; error: unknown }> {
  const envs: Envelope[] = [];
  try {
    for (;;) {
      const r = await reader.next();
      if (r.done) return { envs, error: undefined };
      envs.push(r.value);
    }
  } catch (error) {
    return { envs, error };
  }
}

/** Whether the Readable reaches its end (it was drained) within a few ticks. */
async function endsSoon(r: Readable): Promise<boolean> {
  if (r.readableEnded) return true;
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), 200));
  return Promise.race([once(r, "end").then(() => true), timer]);
}

/**
 * A real HTTP/2 request on 127.0.0.1: returns the server's side of the stream
 * (what the plugin reads a request body from) and the client's, to misbehave with.
 */
async function h2Stream(
  t: Test,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ server: http2.ServerHttp2Stream; client: http2.ClientHttp2Stream; session: http2.ClientHttp2Session }> {
  const srv = http2.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const session = http2.connect(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  session.on("error", () => {});
  t.teardown(async () => {
    session.destroy();
    await new Promise((resolve) => srv.close(resolve));
  });
  const client = session.request({ ":method": "POST", ":path": "/", ...headers });
  client.on("error", () => {});
  const [server] = (await once(srv, "stream")) as [http2.ServerHttp2Stream];
  server.on("error", () => {});
  return { server, client, session };
}

// ---------------------------------------------------------------- readBody

t.test("readBody: the body is every chunk, in order", async (t) => {
  const parts = [bytes(3, 1), bytes(1, 2), bytes(7, 3)];
  const body = await readBody(source(parts), 100, undefined, errors);
  t.equal(body.toString("hex"), Buffer.concat(parts).toString("hex"));
  t.equal((await readBody(source([bytes(5)]), 100, undefined, errors)).toString("hex"), bytes(5).toString("hex"));
});

t.test("readBody: an empty body is zero bytes", async (t) => {
  const body = await readBody(source([]), 100, "0", errors);
  t.equal(body.byteLength, 0);
});

t.test("readMaxBytes: a body of exactly the limit is read; one byte more is resource_exhausted", async (t) => {
  t.equal((await readBody(source([bytes(60), bytes(40)]), 100, undefined, errors)).byteLength, 100);
  const err = await readBody(source([bytes(60), bytes(41)]), 100, undefined, errors).catch((e) => e);
  t.ok(err instanceof ConnectError);
  t.equal(err.code, Code.ResourceExhausted);
  t.equal(err.rawMessage, "message size 101 is larger than configured readMaxBytes 100");
});

t.test("readMaxBytes: a declared content-length above the limit is refused before a byte is read", async (t) => {
  const src = source([bytes(10)], false);
  const err = await readBody(src, 100, "101", errors).catch((e) => e);
  t.equal(err.code, Code.ResourceExhausted);
  t.equal(err.rawMessage, "message size 101 is larger than configured readMaxBytes 100", "names the declared size");
  t.equal(src.listenerCount("data"), 0, "the body was never listened to");
  t.equal(src.readableFlowing, null, "nor read");
  t.equal((await readBody(source([bytes(100)]), 100, "100", errors)).byteLength, 100, "declared = limit is fine");
});

t.test("readMaxBytes: a small declared content-length does not excuse a larger actual body", async (t) => {
  const err = await readBody(source([bytes(10), bytes(10), bytes(10)]), 20, "10", errors).catch((e) => e);
  t.equal(err.code, Code.ResourceExhausted);
  t.equal(err.rawMessage, "message size 30 is larger than configured readMaxBytes 20", "the bytes that came count");
});

t.test("readMaxBytes: a content-length that is not a number is not used for the early refusal", async (t) => {
  t.equal((await readBody(source([bytes(5)]), 10, "abc", errors)).byteLength, 5);
  const err = await readBody(source([bytes(11)]), 10, "abc", errors).catch((e) => e);
  t.equal(err.code, Code.ResourceExhausted, "the limit still holds on what arrives");
});

t.test(
  "readMaxBytes: once a body is refused, the rest is drained unread (HTTP/1.1 keeps the connection)",
  async (t) => {
    const src = source([bytes(50), bytes(60)], false);
    const err = await readBody(src, 100, undefined, errors).catch((e) => e);
    t.equal(err.code, Code.ResourceExhausted);
    src.push(bytes(1000));
    src.push(null);
    t.ok(await endsSoon(src), "the source was read to its end");
    t.equal(src.listenerCount("data"), 0, "by nobody");
  },
);

t.test("readBody: a body destroyed mid-way is gone, with or without an error", async (t) => {
  const a = source([bytes(5)], false);
  const pa = readBody(a, 100, undefined, errors);
  setImmediate(() => a.destroy());
  t.equal((await pa.catch((e) => e)).rawMessage, "test: peer gone");
  const b = source([bytes(5)], false);
  const pb = readBody(b, 100, undefined, errors);
  setImmediate(() => b.destroy(new Error("ECONNRESET")));
  t.equal((await pb.catch((e) => e)).rawMessage, "test: peer gone");
});

t.test("readBody: the listeners are removed once the body is read", async (t) => {
  const src = source([bytes(3)]);
  await readBody(src, 100, undefined, errors);
  for (const ev of ["data", "end", "error", "close"]) t.equal(src.listenerCount(ev), 0, ev);
});

t.test("HTTP/2: a body cut off by a dropped connection (end with rstCode set) is gone", async (t) => {
  const { server, client, session } = await h2Stream(t);
  const p = readBody(server, 1000, undefined, errors);
  client.write(bytes(10));
  await once(server, "data");
  session.destroy();
  t.equal((await p.catch((e) => e)).rawMessage, "test: peer gone");
});

t.test("HTTP/2: a body shorter than its content-length is gone (RFC 9113 8.1.1: malformed)", async (t) => {
  const { server, client } = await h2Stream(t, { "content-length": "20" });
  const p = readBody(server, 1000, "20", errors);
  client.end(bytes(10));
  t.equal((await p.catch((e) => e)).rawMessage, "test: peer gone");
});

/**
 * Node quirk: `stream.close(CANCEL)` on a client stream that is still writable
 * sends END_STREAM first, so the peer sees a complete body. Destroying it with
 * Node's own AbortError sends RST_STREAM(CANCEL) alone.
 */
const abortError = await sleep(1, undefined, { signal: AbortSignal.abort() }).catch((e: unknown) => e as Error);

t.test("HTTP/2: a body the peer reset (RST_STREAM CANCEL) mid-way is gone, not complete", async (t) => {
  for (const contentLength of ["20", undefined]) {
    const { server, client } = await h2Stream(t, contentLength ? { "content-length": contentLength } : {});
    const p = readBody(server, 1000, contentLength, errors);
    client.write(bytes(10));
    await once(server, "data");
    client.destroy(abortError);
    const result = await p.then(
      (body) => `resolved with ${body.byteLength} bytes`,
      (e) => e.rawMessage,
    );
    t.equal(result, "test: peer gone", `content-length ${contentLength ?? "absent"}`);
  }
});

// ---------------------------------------------------- readSingleEnvelopeBody

const one = encodeEnvelope(FLAG_COMPRESSED, bytes(12, 7));

t.test("envelope framing: one message split anywhere, inside the 5-byte prefix too, reads the same", async (t) => {
  const expected = [{ flags: FLAG_COMPRESSED, data: bytes(12, 7).toString("hex") }];
  for (let i = 1; i < one.byteLength; i++) {
    t.same(plain(await readSingleEnvelopeBody(source(splitAt(one, [i])), 100, errors)), expected, `split at ${i}`);
  }
  const singleBytes = splitAt(
    one,
    Array.from({ length: one.byteLength - 1 }, (_, i) => i + 1),
  );
  t.same(plain(await readSingleEnvelopeBody(source(singleBytes), 100, errors)), expected, "one byte per chunk");
});

t.test("readSingleEnvelopeBody: an empty body has no envelopes; an empty message is one", async (t) => {
  t.same(await readSingleEnvelopeBody(source([]), 100, errors), []);
  t.same(plain(await readSingleEnvelopeBody(source([encodeEnvelope(0, new Uint8Array(0))]), 100, errors)), [
    { flags: 0, data: "" },
  ]);
});

t.test("readSingleEnvelopeBody: it stops at the second envelope and drains the rest unread", async (t) => {
  const src = source([encodeEnvelope(0, bytes(2)), encodeEnvelope(0, bytes(3)), encodeEnvelope(0, bytes(4))], false);
  const envs = await readSingleEnvelopeBody(src, 100, errors);
  t.same(
    envs.map((e) => e.data.byteLength),
    [2, 3],
    "two envelopes are enough to know the body is wrong",
  );
  src.push(bytes(500));
  src.push(null);
  t.ok(await endsSoon(src), "the rest is drained");
});

t.test(
  "readMaxBytes: an envelope whose prefix declares more than the limit is refused from the prefix alone",
  async (t) => {
    const header = encodeEnvelope(0, bytes(101)).subarray(0, 5);
    const src = source([header], false);
    const err = await readSingleEnvelopeBody(src, 100, errors).catch((e) => e);
    t.equal(err.code, Code.ResourceExhausted);
    t.equal(err.rawMessage, "message size 101 is larger than configured readMaxBytes 100");
    src.push(bytes(101));
    src.push(null);
    t.ok(await endsSoon(src), "the refused message is drained unread");
  },
);

t.test("readMaxBytes: the limit is on the message, after framing: the 5-byte prefix does not count", async (t) => {
  const envs = await readSingleEnvelopeBody(source([encodeEnvelope(0, bytes(100))]), 100, errors);
  t.equal(envs[0].data.byteLength, 100);
});

t.test("readSingleEnvelopeBody: a body that ends inside an envelope is truncated, saying where", async (t) => {
  const inPrefix = await readSingleEnvelopeBody(source([one.subarray(0, 3)]), 100, errors).catch((e) => e);
  t.equal(inPrefix.rawMessage, "test: truncated: incomplete envelope header: 3 of 5 bytes");
  const inMessage = await readSingleEnvelopeBody(source([one.subarray(0, 9)]), 100, errors).catch((e) => e);
  t.equal(inMessage.rawMessage, "test: truncated: incomplete envelope: 4 of 12 message bytes");
});

t.test("readSingleEnvelopeBody: a body destroyed mid-way is gone", async (t) => {
  const src = source([one.subarray(0, 7)], false);
  const p = readSingleEnvelopeBody(src, 100, errors);
  setImmediate(() => src.destroy());
  t.equal((await p.catch((e) => e)).rawMessage, "test: peer gone");
});

t.test("HTTP/2: an envelope cut off by a dropped connection is gone, not truncated", async (t) => {
  const { server, client, session } = await h2Stream(t);
  const p = readSingleEnvelopeBody(server, 1000, errors);
  client.write(one.subarray(0, 7));
  await once(server, "data");
  session.destroy();
  t.equal((await p.catch((e) => e)).rawMessage, "test: peer gone");
});

// ------------------------------------------------------------ EnvelopeReader

const stream = [
  { flags: 0, data: bytes(1, 1) },
  { flags: FLAG_COMPRESSED, data: bytes(9, 2) },
  { flags: 0, data: new Uint8Array(0) },
  { flags: 0, data: bytes(4, 3) },
];
const streamBytes = Buffer.concat(stream.map((m) => encodeEnvelope(m.flags, m.data)));
const streamPlain = plain(stream);

t.test("envelope framing: a stream split at any one point, or every point, yields every envelope", async (t) => {
  for (let i = 1; i < streamBytes.byteLength; i++) {
    const reader = new EnvelopeReader(source(splitAt(streamBytes, [i])), 100, errors);
    t.same(plain(await drain(reader)), streamPlain, `split at ${i}`);
  }
  const all = Array.from({ length: streamBytes.byteLength - 1 }, (_, i) => i + 1);
  t.same(plain(await drain(new EnvelopeReader(source(splitAt(streamBytes, all)), 100, errors))), streamPlain);
});

t.test("EnvelopeReader: after the end, next() keeps answering done", async (t) => {
  const reader = new EnvelopeReader(source([]), 100, errors);
  t.same(await reader.next(), { value: undefined, done: true });
  t.same(await reader.next(), { value: undefined, done: true });
});

t.test("EnvelopeReader: a waiting next() is answered when the envelope arrives", async (t) => {
  const src = source([], false);
  const reader = new EnvelopeReader(src, 100, errors);
  const pending = reader.next();
  setImmediate(() => {
    src.push(streamBytes.subarray(0, 3));
    setImmediate(() => src.push(streamBytes.subarray(3, 6)));
  });
  t.same(plain([(await pending).value as Envelope]), [streamPlain[0]]);
});

t.test("EnvelopeReader: a stream that ends inside an envelope is truncated, after the whole ones", async (t) => {
  const cut = streamBytes.byteLength - 2;
  const { envs, error } = await drainToError(new EnvelopeReader(source([streamBytes.subarray(0, cut)]), 100, errors));
  t.same(plain(envs), streamPlain.slice(0, 3));
  t.equal((error as ConnectError).rawMessage, "test: truncated: incomplete envelope: 2 of 4 message bytes");
  const inPrefix = await drainToError(new EnvelopeReader(source([one.subarray(0, 1)]), 100, errors));
  t.equal((inPrefix.error as ConnectError).rawMessage, "test: truncated: incomplete envelope header: 1 of 5 bytes");
});

t.test(
  "readMaxBytes: a streamed envelope over the limit fails the stream from its prefix; the rest is drained",
  async (t) => {
    const src = source([encodeEnvelope(0, bytes(10)), encodeEnvelope(0, bytes(11)).subarray(0, 5)], false);
    const reader = new EnvelopeReader(src, 10, errors);
    const { envs, error } = await drainToError(reader);
    t.equal(envs.length, 1, "the envelope within the limit is delivered first");
    t.equal((error as ConnectError).code, Code.ResourceExhausted);
    t.equal((error as ConnectError).rawMessage, "message size 11 is larger than configured readMaxBytes 10");
    await t.rejects(reader.next(), error as Error, "the stream stays failed");
    src.push(bytes(11));
    src.push(null);
    t.ok(await endsSoon(src), "drained");
  },
);

t.test("EnvelopeReader: a stream destroyed mid-way is gone, after the envelopes that arrived", async (t) => {
  const src = source([streamBytes.subarray(0, 8)], false);
  const reader = new EnvelopeReader(src, 100, errors);
  setImmediate(() => src.destroy(new Error("ECONNRESET")));
  const { envs, error } = await drainToError(reader);
  t.same(plain(envs), streamPlain.slice(0, 1));
  t.equal((error as ConnectError).rawMessage, "test: peer gone");
});

t.test("HTTP/2: a stream cut off by a dropped connection is gone", async (t) => {
  const { server, client, session } = await h2Stream(t);
  const reader = new EnvelopeReader(server, 1000, errors);
  client.write(streamBytes.subarray(0, 6)); // the first envelope and one byte of the next
  t.same(plain([(await reader.next()).value as Envelope]), [streamPlain[0]]);
  session.destroy();
  t.equal(((await drainToError(reader)).error as ConnectError)?.rawMessage, "test: peer gone");
});

t.test("HTTP/2: a stream the peer reset (RST_STREAM CANCEL) between envelopes is gone, not complete", async (t) => {
  const { server, client } = await h2Stream(t);
  const reader = new EnvelopeReader(server, 1000, errors);
  client.write(encodeEnvelope(0, bytes(3)));
  t.equal(((await reader.next()).value as Envelope).data.byteLength, 3);
  client.destroy(abortError);
  const { envs, error } = await drainToError(reader);
  t.equal(envs.length, 0);
  t.equal(
    (error as ConnectError | undefined)?.rawMessage,
    "test: peer gone",
    "a cut-short client stream is not its end",
  );
});

/** A source that makes envelopes only when read, counting how many it made. */
function lazySource(total: number): { src: Readable; made: () => number } {
  let made = 0;
  const src = new Readable({
    highWaterMark: 64,
    read() {
      if (made === total) {
        this.push(null);
        return;
      }
      this.push(encodeEnvelope(0, bytes(8, made++)));
    },
  });
  return { src, made: () => made };
}

t.test("backpressure: a consumer that falls behind stops the reading of the source", async (t) => {
  const { src, made } = lazySource(1000);
  const reader = new EnvelopeReader(src, 100, errors);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(src.isPaused(), "the source is paused");
  t.ok(made() < 50, `only a bounded number was read ahead (${made()} of 1000)`);
  const before = made();
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(made(), before, "and reading stays stopped while nobody consumes");

  const envs = await drain(reader);
  t.equal(envs.length, 1000, "consuming resumes it, to the end");
  t.equal(Buffer.from(envs[999].data).toString("hex"), bytes(8, 999).toString("hex"), "in order");
});

t.test("EnvelopeReader: return() stops reading; the rest of the body is drained unread", async (t) => {
  const { src, made } = lazySource(1000);
  const reader = new EnvelopeReader(src, 100, errors);
  t.equal(((await reader.next()).value as Envelope).data.byteLength, 8);
  t.same(await reader.return(), { value: undefined, done: true });
  t.same(await reader.next(), { value: undefined, done: true }, "nothing more after return()");
  t.ok(await endsSoon(src), "the source is read to its end");
  t.equal(made(), 1000);
  t.equal(src.listenerCount("data"), 0, "by nobody");
  t.same(await reader.return(), { value: undefined, done: true }, "return() twice is harmless");
});

/** A stateful transform like gRPC-Web text's: base64 in whole 4-character groups, the leftover kept. */
function base64Hooks(): { chunk: (c: Buffer) => Buffer; flush: () => void; seen: string[] } {
  let rest = "";
  const seen: string[] = [];
  return {
    seen,
    chunk(c) {
      seen.push(c.toString("latin1"));
      const text = rest + c.toString("latin1");
      const whole = text.length - (text.length % 4);
      rest = text.slice(whole);
      return Buffer.from(text.slice(0, whole), "base64");
    },
    flush() {
      seen.push("<flush>");
      if (rest.length > 0)
        throw new ConnectError(`test: ${rest.length} base64 characters left over`, Code.InvalidArgument);
    },
  };
}

t.test("transform: every chunk goes through it before framing (gRPC-Web text)", async (t) => {
  const text = streamBytes.toString("base64");
  for (const points of [[1], [3, 7], [5, 6, 11, 13], Array.from({ length: text.length - 1 }, (_, i) => i + 1)]) {
    const hooks = base64Hooks();
    const chunks = splitAt(Buffer.from(text, "latin1"), points);
    const reader = new EnvelopeReader(source(chunks), 100, errors, hooks.chunk, hooks.flush);
    t.same(plain(await drain(reader)), streamPlain, `split at ${points.length} points`);
    t.same(
      hooks.seen,
      [...chunks.map((c) => c.toString("latin1")), "<flush>"],
      "each chunk once, in order, then flush",
    );
  }
});

t.test(
  "flush: called once at the end, before the check for a cut-off envelope; what it throws fails the stream",
  async (t) => {
    const hooks = base64Hooks();
    const text = streamBytes.toString("base64");
    const reader = new EnvelopeReader(
      source([Buffer.from(`${text}QQ`, "latin1")]),
      100,
      errors,
      hooks.chunk,
      hooks.flush,
    );
    const { envs, error } = await drainToError(reader);
    t.same(plain(envs), streamPlain);
    t.equal((error as ConnectError).rawMessage, "test: 2 base64 characters left over");
    t.equal(hooks.seen.filter((s) => s === "<flush>").length, 1);
  },
);

t.test("transform and flush: anything else they throw is invalid_argument, without its message", async (t) => {
  const secret = () => {
    throw new Error("secret internal detail");
  };
  for (const [name, reader] of [
    ["transform", new EnvelopeReader(source([bytes(3)]), 100, errors, secret)],
    ["flush", new EnvelopeReader(source([]), 100, errors, (c) => c, secret)],
  ] as const) {
    const { error } = await drainToError(reader);
    t.ok(error instanceof ConnectError, name);
    t.equal((error as ConnectError).code, Code.InvalidArgument, name);
    t.notMatch((error as ConnectError).message, /secret/, `${name}: the thrown message stays inside`);
  }
});

t.test("flush: not called when the body is gone", async (t) => {
  let flushed = 0;
  const src = source([bytes(2)], false);
  const reader = new EnvelopeReader(
    src,
    100,
    errors,
    (c) => c,
    () => {
      flushed++;
    },
  );
  setImmediate(() => src.destroy());
  t.equal(((await drainToError(reader)).error as ConnectError).rawMessage, "test: peer gone");
  t.equal(flushed, 0);
});
