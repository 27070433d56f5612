import t from "tap";
import { Code } from "../../lib/protocol/code.js";
import {
  formatConnectTimeout,
  formatGrpcTimeout,
  MAX_TIMER_MS,
  parseConnectTimeout,
  parseGrpcTimeout,
} from "../../lib/protocol/timeout.js";

const GRPC_TIMEOUT = /^\d{1,8}[HMSmun]$/;

t.test("MAX_TIMER_MS is the longest delay a Node timer accepts (2^31 - 1)", async (t) => {
  t.equal(MAX_TIMER_MS, 2147483647);
});

t.test("parseConnectTimeout: absent header means no timeout", async (t) => {
  t.equal(parseConnectTimeout(undefined), undefined);
});

t.test("parseConnectTimeout: a positive integer of at most 10 digits, in milliseconds", async (t) => {
  t.equal(parseConnectTimeout("0"), 0);
  t.equal(parseConnectTimeout("1"), 1);
  t.equal(parseConnectTimeout("1500"), 1500);
  t.equal(parseConnectTimeout("0000000007"), 7, "leading zeros count toward the 10 digits");
  t.equal(parseConnectTimeout("9999999999"), 9999999999, "10 digits is the maximum");
});

t.test(
  "parseConnectTimeout: rejects 11 digits, negative, decimals, spaces and empty with invalid_argument",
  async (t) => {
    for (const bad of ["12345678901", "00000000001", "-1", "1.5", "1e3", " 1", "1 ", "1 0", "", "+1", "abc", "0x10"]) {
      t.throws(
        () => parseConnectTimeout(bad),
        {
          name: "ConnectError",
          code: Code.InvalidArgument,
          message: `[invalid_argument] invalid connect-timeout-ms "${bad}": expected a positive integer of at most 10 digits`,
        },
        JSON.stringify(bad),
      );
    }
  },
);

t.test("parseGrpcTimeout: absent header means no timeout", async (t) => {
  t.equal(parseGrpcTimeout(undefined), undefined);
});

t.test("parseGrpcTimeout: units H M S m u n convert to milliseconds", async (t) => {
  t.equal(parseGrpcTimeout("1H"), 3_600_000, "hours");
  t.equal(parseGrpcTimeout("2M"), 120_000, "minutes");
  t.equal(parseGrpcTimeout("3S"), 3000, "seconds");
  t.equal(parseGrpcTimeout("4m"), 4, "milliseconds");
  t.equal(parseGrpcTimeout("5000u"), 5, "microseconds");
  t.equal(parseGrpcTimeout("500u"), 0.5, "sub-millisecond microseconds");
  t.equal(parseGrpcTimeout("7000000n"), 7, "nanoseconds");
  t.equal(parseGrpcTimeout("0m"), 0);
  t.equal(parseGrpcTimeout("99999999H"), 99999999 * 3_600_000, "8 digits is the maximum");
  t.equal(parseGrpcTimeout("00000001S"), 1000, "leading zeros count toward the 8 digits");
});

t.test("parseGrpcTimeout: rejects 9 digits, a missing unit and a bad unit with invalid_argument", async (t) => {
  for (const bad of [
    "123456789S",
    "000000001m",
    "100",
    "",
    "S",
    "1s",
    "1h",
    "1U",
    "1N",
    "1ms",
    "-1S",
    "1.5S",
    " 1S",
    "1S ",
  ]) {
    t.throws(
      () => parseGrpcTimeout(bad),
      {
        name: "ConnectError",
        code: Code.InvalidArgument,
        message: `[invalid_argument] invalid grpc-timeout "${bad}": expected at most 8 digits followed by a unit H, M, S, m, u or n`,
      },
      JSON.stringify(bad),
    );
  }
});

t.test("formatGrpcTimeout: the finest unit that fits 8 digits", async (t) => {
  t.equal(formatGrpcTimeout(0), "0u");
  t.equal(formatGrpcTimeout(1), "1000u");
  t.equal(formatGrpcTimeout(0.25), "250u");
  t.equal(formatGrpcTimeout(1500), "1500000u");
  t.equal(formatGrpcTimeout(99_999), "99999000u");
  t.equal(formatGrpcTimeout(100_000), "100000m");
  t.equal(formatGrpcTimeout(1.0005), "2m", "a fraction that microseconds cannot hold rounds up");
  t.equal(formatGrpcTimeout(99_999_999), "99999999m");
  t.equal(formatGrpcTimeout(100_000_000), "100000S");
  t.equal(formatGrpcTimeout(MAX_TIMER_MS), "2147484S");
  t.equal(formatGrpcTimeout(1e11), "1666667M");
  t.equal(formatGrpcTimeout(6e12), "1666667H");
});

t.test("formatGrpcTimeout: negative is zero, and beyond 99999999 hours it is capped at the maximum", async (t) => {
  t.equal(formatGrpcTimeout(-5), "0u");
  t.equal(formatGrpcTimeout(1e20), "99999999H");
  t.equal(formatGrpcTimeout(Number.POSITIVE_INFINITY), "99999999H");
});

function checkFormat(ms: number): string | undefined {
  const s = formatGrpcTimeout(ms);
  if (!GRPC_TIMEOUT.test(s)) return `${ms} -> "${s}" is not at most 8 digits and a unit`;
  const back = parseGrpcTimeout(s)!;
  if (back < ms) return `${ms} -> "${s}" parses back to ${back}, less than the input`;
  return undefined;
}

t.test("formatGrpcTimeout: output always parses back to >= the input and has <= 8 digits", async (t) => {
  const problems: string[] = [];
  const check = (ms: number) => {
    const p = checkFormat(ms);
    if (p) problems.push(p);
  };
  for (let ms = 0; ms <= 20_000; ms++) check(ms);
  for (let us = 0; us <= 5000; us++) check(us / 1000);
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 20_000; i++) {
    check(random() * 10 ** (random() * 14)); // 1 ms .. 100 000 000 000 000 ms, fractional
    check(Math.floor(random() * 10 ** (random() * 14)));
  }
  for (const ms of [99_999, 99_999.999, 100_000, 99_999_999, 100_000_000, MAX_TIMER_MS, 99_999_999_000, 1e11])
    check(ms);
  for (const ms of [5_999_999_940_000, 6e12, 99_999_999 * 3_600_000]) check(ms);
  // Just below 10^8 of a unit (see the next test).
  for (const ms of [99_999_999.5, 99_999_999_999.5, 5_999_999_999_999.5]) check(ms);
  t.same(problems.slice(0, 10), [], `${problems.length} inputs format badly`);
});

t.test(
  "formatGrpcTimeout: just below each unit boundary still has <= 8 digits (PROTOCOL-HTTP2.md, Timeout)",
  async (t) => {
    // Rounding up a value just below 10^8 of a unit must move to the next unit,
    // not produce the 9-digit 100000000.
    for (const ms of [99_999_999.5, 99_999_999_999.5, 5_999_999_999_999.5]) {
      const s = formatGrpcTimeout(ms);
      t.match(s, GRPC_TIMEOUT, `${ms} -> ${s}`);
      t.ok(parseGrpcTimeout(GRPC_TIMEOUT.test(s) ? s : "0m")! >= ms, `${s} covers ${ms}`);
    }
  },
);

t.test("formatConnectTimeout: whole milliseconds rounded up, clamped to 0..9999999999", async (t) => {
  t.equal(formatConnectTimeout(0), "0");
  t.equal(formatConnectTimeout(1), "1");
  t.equal(formatConnectTimeout(1.2), "2");
  t.equal(formatConnectTimeout(0.001), "1", "a tiny positive timeout is not zero");
  t.equal(formatConnectTimeout(-10), "0");
  t.equal(formatConnectTimeout(9_999_999_999), "9999999999");
  t.equal(formatConnectTimeout(1e12), "9999999999");
  for (const ms of [0, 0.5, 1, 999.1, 30_000, MAX_TIMER_MS, 1e10 - 1]) {
    const s = formatConnectTimeout(ms);
    t.ok(parseConnectTimeout(s)! >= ms, `${ms} -> ${s} parses back to at least the input`);
  }
});
