import t from "tap";
import { percentDecode } from "../../lib/protocol/percent.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

t.test("RFC 3986 2.1: %XX decodes to one byte, either hex case", async (t) => {
  t.equal(hex(percentDecode("%00%ff%FF%7a")), "00ffff7a");
  t.equal(Buffer.from(percentDecode("h%C3%A9llo%20%25")).toString("utf8"), "héllo %");
});

t.test("characters outside escapes are taken as bytes", async (t) => {
  t.equal(hex(percentDecode("ab+")), Buffer.from("ab+").toString("hex"), "'+' is not a space here");
  t.equal(hex(percentDecode("")), "");
});

t.test("a malformed escape stays as it is", async (t) => {
  for (const s of ["%", "%4", "%zz", "%4g", "a%", "100%"]) {
    t.equal(Buffer.from(percentDecode(s)).toString("latin1"), s, JSON.stringify(s));
  }
  t.equal(Buffer.from(percentDecode("%%41")).toString("latin1"), "%A", "a stray % before a valid escape");
});
