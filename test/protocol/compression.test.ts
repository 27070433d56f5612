import * as zlib from "node:zlib";
import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import {
  allCompressions,
  brotli,
  type Compression,
  CompressionRegistry,
  deflate,
  gzip,
  IDENTITY,
} from "../../lib/protocol/compression.js";

const MiB = 1 << 20;

/** Mildly compressible bytes: random data would make brotli's default quality slow. */
function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 9)) & 0xff;
  return b;
}

// The same algorithm in node:zlib, to check that our output is standard and to build inputs quickly.
const reference: Record<string, { compress(b: Uint8Array): Buffer; decompress(b: Uint8Array): Buffer }> = {
  gzip: { compress: (b) => zlib.gzipSync(b, { level: 1 }), decompress: (b) => zlib.gunzipSync(b) },
  deflate: { compress: (b) => zlib.deflateSync(b, { level: 1 }), decompress: (b) => zlib.inflateSync(b) },
  br: {
    compress: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }),
    decompress: (b) => zlib.brotliDecompressSync(b),
  },
};

const algorithms: [string, Compression][] = [
  ["gzip", gzip],
  ["br", brotli],
  ["deflate", deflate],
];

t.test("compressions are named as in the *-encoding headers: gzip, br, deflate", async (t) => {
  t.equal(gzip.name, "gzip");
  t.equal(brotli.name, "br");
  t.equal(deflate.name, "deflate");
  t.same(
    allCompressions.map((c) => c.name),
    ["gzip", "br", "deflate"],
  );
  t.equal(IDENTITY, "identity");
});

for (const [name, c] of algorithms) {
  t.test(`${name}: round trips empty, small and 1 MiB messages`, async (t) => {
    for (const input of [new Uint8Array(0), new Uint8Array([1, 2, 3, 250]), pattern(MiB)]) {
      const compressed = await c.compress(input);
      if (input.byteLength === MiB) t.ok(compressed.byteLength < input.byteLength, "1 MiB of a pattern shrinks");
      const back = await c.decompress(compressed, MiB);
      t.equal(back.byteLength, input.byteLength, `${input.byteLength} bytes come back`);
      t.ok(Buffer.from(back).equals(Buffer.from(input)), `${input.byteLength} bytes are identical`);
    }
  });

  t.test(`${name}: output is standard ${name} that node:zlib reads, and node:zlib's output is read`, async (t) => {
    const input = pattern(4096);
    const ours = await c.compress(input);
    t.ok(reference[name].decompress(ours).equals(Buffer.from(input)));
    const theirs = reference[name].compress(input);
    t.ok(Buffer.from(await c.decompress(theirs, 4096)).equals(Buffer.from(input)));
  });

  t.test(
    `${name}: decompressed output of exactly maxBytes is accepted, one byte more is resource_exhausted`,
    async (t) => {
      const compressed = await c.compress(pattern(1000));
      t.equal((await c.decompress(compressed, 1000)).byteLength, 1000);
      await t.rejects(c.decompress(compressed, 999), {
        name: "ConnectError",
        code: Code.ResourceExhausted,
        message: /decompressed message size is larger than configured readMaxBytes 999/,
      });
    },
  );

  t.test(`${name}: a zip bomb (10 MiB of zeros) with a 1 MiB limit is refused with resource_exhausted`, async (t) => {
    const bomb = reference[name].compress(new Uint8Array(10 * MiB));
    t.ok(bomb.byteLength < 64 * 1024, `the bomb is small (${bomb.byteLength} bytes)`);
    await t.rejects(c.decompress(bomb, MiB), {
      name: "ConnectError",
      code: Code.ResourceExhausted,
      message: /readMaxBytes 1048576/,
    });
  });

  t.test(`${name}: corrupt data is invalid_argument`, async (t) => {
    const garbage = new Uint8Array([0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44]);
    await t.rejects(c.decompress(garbage, MiB), {
      name: "ConnectError",
      code: Code.InvalidArgument,
      message: new RegExp(`invalid ${name} data`),
    });
  });

  t.test(`${name}: truncated data is invalid_argument`, async (t) => {
    const whole = await c.compress(pattern(10_000));
    await t.rejects(c.decompress(whole.subarray(0, Math.floor(whole.byteLength / 2)), MiB), {
      name: "ConnectError",
      code: Code.InvalidArgument,
    });
  });
}

t.test("decompress stops at the limit instead of inflating the whole bomb", async (t) => {
  // gzip allows concatenated members: 100 copies of 10 MiB of zeros inflate to
  // 1000 MiB from about 1 MB. Inflating all of it takes seconds and gigabytes;
  // stopping at the limit takes milliseconds and leaves memory where it was.
  const member = zlib.gzipSync(new Uint8Array(10 * MiB));
  const bomb = Buffer.concat(Array.from({ length: 100 }, () => member));
  t.ok(bomb.byteLength < 2 * MiB);
  const before = process.memoryUsage().arrayBuffers;
  const start = performance.now();
  await t.rejects(gzip.decompress(bomb, MiB), { code: Code.ResourceExhausted });
  const elapsed = performance.now() - start;
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(elapsed < 1000, `stopped early (${elapsed.toFixed(1)} ms)`);
  t.ok(grown < 100 * MiB, `did not allocate the output (${(grown / MiB).toFixed(1)} MiB more)`);
});

t.test("CompressionRegistry.forRequest: absent, empty and identity mean no compression", async (t) => {
  const r = new CompressionRegistry(allCompressions);
  t.equal(r.forRequest(undefined), undefined);
  t.equal(r.forRequest(""), undefined);
  t.equal(r.forRequest("identity"), undefined);
});

t.test("CompressionRegistry.forRequest: a supported encoding returns that compression", async (t) => {
  const r = new CompressionRegistry(allCompressions);
  t.equal(r.forRequest("gzip"), gzip);
  t.equal(r.forRequest("br"), brotli);
  t.equal(r.forRequest("deflate"), deflate);
});

t.test(
  "CompressionRegistry.forRequest: an unknown encoding is unimplemented, listing the supported ones",
  async (t) => {
    const r = new CompressionRegistry(allCompressions);
    t.throws(() => r.forRequest("snappy"), {
      name: "ConnectError",
      code: Code.Unimplemented,
      message: /unknown compression "snappy": supported encodings are identity, gzip, br, deflate/,
    });
    const onlyGzip = new CompressionRegistry([gzip]);
    t.throws(() => onlyGzip.forRequest("br"), {
      code: Code.Unimplemented,
      message: /supported encodings are identity, gzip$/,
    });
    const none = new CompressionRegistry([]);
    t.throws(() => none.forRequest("gzip"), { code: Code.Unimplemented, message: /supported encodings are identity$/ });
    t.equal(none.forRequest("identity"), undefined);
  },
);

t.test("CompressionRegistry.negotiate: the first supported encoding in the client's order", async (t) => {
  const r = new CompressionRegistry(allCompressions);
  t.equal(r.negotiate("br,gzip"), brotli, "the client's order wins over ours");
  t.equal(r.negotiate("gzip,br"), gzip);
  t.equal(r.negotiate("snappy,zstd,deflate,gzip"), deflate, "unsupported names are skipped");
  t.equal(r.negotiate("snappy,zstd"), undefined, "nothing in common");
  t.equal(r.negotiate("identity"), undefined, "identity is no compression");
  t.equal(r.negotiate(""), undefined);
  t.equal(r.negotiate(undefined), undefined);
  const onlyDeflate = new CompressionRegistry([deflate]);
  t.equal(onlyDeflate.negotiate("gzip, br, deflate"), deflate, "only what this side enabled");
});

t.test("CompressionRegistry.negotiate: ignores q-values and whitespace", async (t) => {
  const r = new CompressionRegistry(allCompressions);
  t.equal(r.negotiate("  br ;q=0.5 , gzip;q=1"), brotli);
  t.equal(r.negotiate("zstd;q=1.0,\tdeflate ; q=0.1"), deflate);
  t.equal(r.negotiate(" gzip "), gzip);
});

t.test("CompressionRegistry.acceptHeader: the enabled names, comma-separated, in order", async (t) => {
  t.equal(new CompressionRegistry(allCompressions).acceptHeader, "gzip,br,deflate");
  t.equal(new CompressionRegistry([deflate, gzip]).acceptHeader, "deflate,gzip");
  t.equal(new CompressionRegistry([]).acceptHeader, "");
});
