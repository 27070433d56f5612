import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import {
  type Envelope,
  EnvelopeDecoder,
  encodeEnvelope,
  FLAG_COMPRESSED,
  FLAG_END_STREAM,
  FLAG_TRAILERS,
} from "../../lib/protocol/envelope.js";

function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Feeds the chunks to a fresh decoder; returns the envelopes as plain arrays, easy to compare. */
function decodeChunks(chunks: Uint8Array[], maxBytes = 1 << 20): { flags: number; data: number[] }[] {
  const d = new EnvelopeDecoder(maxBytes);
  const out: Envelope[] = [];
  for (const c of chunks) d.push(c, out);
  if (d.partial) throw new Error(`decoder left partial: ${d.describeMissing()}`);
  return out.map((e) => ({ flags: e.flags, data: Array.from(e.data) }));
}

function splitAt(stream: Uint8Array, points: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  chunks.push(stream.subarray(prev));
  return chunks;
}

t.test("flag bits: compressed 0x01, Connect end-stream 0x02, gRPC-Web trailers 0x80", async (t) => {
  t.equal(FLAG_COMPRESSED, 0x01);
  t.equal(FLAG_END_STREAM, 0x02);
  t.equal(FLAG_TRAILERS, 0x80);
});

t.test("encodeEnvelope: one flags byte, a big-endian uint32 length, then the message", async (t) => {
  const out = encodeEnvelope(FLAG_COMPRESSED, new Uint8Array([0xaa, 0xbb, 0xcc]));
  t.ok(Buffer.isBuffer(out));
  t.same(Array.from(out), [0x01, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc]);

  // 0x010203 bytes: every length byte is distinct, so the byte order is visible.
  const big = encodeEnvelope(FLAG_END_STREAM, bytes(0x010203));
  t.equal(big.byteLength, 5 + 0x010203);
  t.same(Array.from(big.subarray(0, 5)), [0x02, 0x00, 0x01, 0x02, 0x03]);
  t.same(big.subarray(5), Buffer.from(bytes(0x010203)));

  const trailers = encodeEnvelope(FLAG_TRAILERS, new Uint8Array(0));
  t.same(Array.from(trailers), [0x80, 0, 0, 0, 0], "a zero-length message is the header alone");
});

t.test("encodeEnvelope copies a subarray's own bytes, not its underlying buffer", async (t) => {
  const backing = bytes(20);
  const view = backing.subarray(7, 11);
  const out = encodeEnvelope(0, view);
  t.same(Array.from(out), [0, 0, 0, 0, 4, ...Array.from(view)]);
});

// A stream of several envelopes with different flags and lengths, none of them empty
// (zero-length messages have their own tests below).
const messages: Envelope[] = [
  { flags: 0, data: bytes(1, 1) },
  { flags: FLAG_COMPRESSED, data: bytes(7, 2) },
  { flags: 0, data: bytes(3, 3) },
  { flags: FLAG_TRAILERS, data: bytes(12, 4) },
  { flags: FLAG_END_STREAM, data: bytes(5, 5) },
];
const stream = concat(messages.map((m) => encodeEnvelope(m.flags, m.data)));
const expected = messages.map((m) => ({ flags: m.flags, data: Array.from(m.data) }));

t.test("EnvelopeDecoder: the whole stream in one chunk yields every envelope in order", async (t) => {
  t.same(decodeChunks([stream]), expected);
});

t.test("EnvelopeDecoder: a stream split at every byte boundary yields identical envelopes", async (t) => {
  let failures = 0;
  for (let i = 0; i <= stream.byteLength; i++) {
    const got = decodeChunks(splitAt(stream, [i]));
    if (!t.same(got, expected, `split at ${i}`, { diagnostic: false })) failures++;
  }
  t.equal(failures, 0);
});

t.test("EnvelopeDecoder: a stream split at every pair of byte boundaries yields identical envelopes", async (t) => {
  let failures = 0;
  for (let i = 0; i <= stream.byteLength; i++) {
    for (let j = i; j <= stream.byteLength; j++) {
      const got = decodeChunks(splitAt(stream, [i, j]));
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        failures++;
        t.fail(`split at ${i} and ${j}`);
      }
    }
  }
  t.equal(failures, 0, "every pair of split points decodes the same");
});

t.test("EnvelopeDecoder: a stream fed byte by byte yields identical envelopes", async (t) => {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < stream.byteLength; i++) chunks.push(stream.subarray(i, i + 1));
  t.same(decodeChunks(chunks), expected);
});

t.test("EnvelopeDecoder: each envelope is emitted as soon as its last byte arrives", async (t) => {
  const d = new EnvelopeDecoder(1024);
  const out: Envelope[] = [];
  const first = encodeEnvelope(0, bytes(4));
  d.push(first.subarray(0, 8), out);
  t.equal(out.length, 0);
  d.push(first.subarray(8), out);
  t.equal(out.length, 1);
  t.same(Array.from(out[0].data), Array.from(bytes(4)));
});

t.test("EnvelopeDecoder: pushing an empty chunk changes nothing", async (t) => {
  const d = new EnvelopeDecoder(1024);
  const out: Envelope[] = [];
  d.push(new Uint8Array(0), out);
  t.equal(out.length, 0);
  t.equal(d.partial, false);
});

t.test("EnvelopeDecoder: a zero-length message (length 0 is a valid envelope) decodes to empty data", async (t) => {
  // The header alone completes the envelope, so the decoder has no bytes left
  // buffered when it takes the (empty) message.
  const d = new EnvelopeDecoder(1024);
  const out: Envelope[] = [];
  t.doesNotThrow(() => d.push(encodeEnvelope(FLAG_END_STREAM, new Uint8Array(0)), out));
  t.equal(out.length, 1);
  t.equal(out[0]?.flags, FLAG_END_STREAM);
  t.equal(out[0]?.data.byteLength, 0);
  t.equal(d.partial, false);
});

t.test("EnvelopeDecoder: zero-length messages between others, split at every byte boundary", async (t) => {
  const withEmpty: Envelope[] = [
    { flags: 0, data: new Uint8Array(0) },
    { flags: 0, data: bytes(3, 9) },
    { flags: 0, data: new Uint8Array(0) },
    { flags: FLAG_COMPRESSED, data: new Uint8Array(0) },
    { flags: FLAG_END_STREAM, data: bytes(2, 8) },
    { flags: FLAG_TRAILERS, data: new Uint8Array(0) },
  ];
  const s = concat(withEmpty.map((m) => encodeEnvelope(m.flags, m.data)));
  const want = withEmpty.map((m) => ({ flags: m.flags, data: Array.from(m.data) }));
  const problems: string[] = [];
  for (let i = 0; i <= s.byteLength; i++) {
    try {
      const got = decodeChunks(splitAt(s, [i]));
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`split at ${i}: wrong envelopes`);
    } catch (e) {
      problems.push(`split at ${i}: ${(e as Error).message}`);
    }
  }
  try {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < s.byteLength; i++) chunks.push(s.subarray(i, i + 1));
    const got = decodeChunks(chunks);
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push("byte by byte: wrong envelopes");
  } catch (e) {
    problems.push(`byte by byte: ${(e as Error).message}`);
  }
  t.same(problems, [], "every split decodes the same envelopes");
});

t.test("EnvelopeDecoder: a length of exactly maxBytes is accepted", async (t) => {
  const d = new EnvelopeDecoder(10);
  const out: Envelope[] = [];
  d.push(encodeEnvelope(0, bytes(10)), out);
  t.equal(out.length, 1);
  t.equal(out[0].data.byteLength, 10);
});

t.test(
  "EnvelopeDecoder: a length above maxBytes is refused with resource_exhausted from the header alone",
  async (t) => {
    const d = new EnvelopeDecoder(10);
    const out: Envelope[] = [];
    const header = encodeEnvelope(0, bytes(11)).subarray(0, 5);
    t.throws(() => d.push(header, out), {
      name: "ConnectError",
      code: Code.ResourceExhausted,
      message: /message size 11 is larger than configured readMaxBytes 10/,
    });
    t.equal(out.length, 0);
  },
);

t.test("EnvelopeDecoder: an oversized length is refused even when the header arrives byte by byte", async (t) => {
  const d = new EnvelopeDecoder(100);
  const out: Envelope[] = [];
  const header = new Uint8Array([0, 0, 0, 0x01, 0x00]); // 256
  for (let i = 0; i < 4; i++) d.push(header.subarray(i, i + 1), out);
  t.throws(() => d.push(header.subarray(4), out), { name: "ConnectError", code: Code.ResourceExhausted });
});

t.test("EnvelopeDecoder: an oversized message after a good one is refused, the good one is kept", async (t) => {
  const d = new EnvelopeDecoder(4);
  const out: Envelope[] = [];
  const s = concat([encodeEnvelope(0, bytes(4)), encodeEnvelope(0, bytes(5)).subarray(0, 5)]);
  t.throws(() => d.push(s, out), { code: Code.ResourceExhausted });
  t.equal(out.length, 1);
  t.equal(out[0].data.byteLength, 4);
});

t.test("EnvelopeDecoder: lengths >= 2^31 parse as unsigned", async (t) => {
  const d = new EnvelopeDecoder(2 ** 32);
  const out: Envelope[] = [];
  d.push(new Uint8Array([0, 0x80, 0, 0, 0]), out);
  t.equal(out.length, 0);
  t.equal(d.partial, true);
  t.equal(d.describeMissing(), "incomplete envelope: 0 of 2147483648 message bytes");

  const d2 = new EnvelopeDecoder(2 ** 32);
  d2.push(new Uint8Array([0, 0xff, 0xff, 0xff, 0xff]), out);
  t.equal(d2.describeMissing(), "incomplete envelope: 0 of 4294967295 message bytes");

  const small = new EnvelopeDecoder(1024);
  t.throws(() => small.push(new Uint8Array([0, 0xff, 0xff, 0xff, 0xfe]), out), {
    code: Code.ResourceExhausted,
    message: /message size 4294967294 /,
  });
});

t.test("EnvelopeDecoder: partial and describeMissing report truncated input", async (t) => {
  const d = new EnvelopeDecoder(1024);
  const out: Envelope[] = [];
  t.equal(d.partial, false, "a fresh decoder is not partial");
  t.equal(d.describeMissing(), "incomplete envelope header: 0 of 5 bytes");

  const env = encodeEnvelope(0, bytes(10));
  d.push(env.subarray(0, 3), out);
  t.equal(d.partial, true, "part of a header is partial");
  t.equal(d.describeMissing(), "incomplete envelope header: 3 of 5 bytes");

  d.push(env.subarray(3, 5), out);
  t.equal(d.partial, true, "a header without its message is partial");
  t.equal(d.describeMissing(), "incomplete envelope: 0 of 10 message bytes");

  d.push(env.subarray(5, 7), out);
  t.equal(d.partial, true);
  t.equal(d.describeMissing(), "incomplete envelope: 2 of 10 message bytes");

  d.push(env.subarray(7), out);
  t.equal(d.partial, false, "a complete envelope leaves nothing partial");
  t.equal(out.length, 1);

  d.push(new Uint8Array([0, 0]), out);
  t.equal(d.partial, true, "the start of a second header is partial again");
  t.equal(d.describeMissing(), "incomplete envelope header: 2 of 5 bytes");
});
