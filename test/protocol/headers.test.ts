import type { OutgoingHttpHeaders } from "node:http";
import t from "tap";
import {
  appendHeaders,
  decodeBinaryHeader,
  encodeBinaryHeader,
  headersFromIncoming,
  isReservedHeader,
} from "../../lib/protocol/headers.js";

t.test("encodeBinaryHeader emits unpadded base64 (gRPC Custom-Metadata)", async (t) => {
  t.equal(encodeBinaryHeader(new Uint8Array([0xff, 0xfe])), "//4", "padded would be //4=");
  t.equal(encodeBinaryHeader(new Uint8Array([0xfb])), "+w", "padded would be +w==");
  t.equal(encodeBinaryHeader(new Uint8Array([1, 2, 3])), "AQID", "no padding needed");
  t.equal(encodeBinaryHeader(new Uint8Array(0)), "");
  t.equal(encodeBinaryHeader("hi"), "aGk", "a string is encoded as its UTF-8 bytes");
  t.equal(encodeBinaryHeader("✓"), "4pyT");
  for (let n = 0; n < 12; n++) {
    t.notMatch(encodeBinaryHeader(new Uint8Array(n).fill(n)), /=/, `${n} bytes have no padding`);
  }
});

t.test("encodeBinaryHeader encodes only a subarray's own bytes", async (t) => {
  const backing = new Uint8Array([9, 9, 0xff, 0xfe, 9]);
  t.equal(encodeBinaryHeader(backing.subarray(2, 4)), "//4");
});

t.test("decodeBinaryHeader accepts padded, unpadded and URL-safe base64", async (t) => {
  t.same(Array.from(decodeBinaryHeader("//4=")), [0xff, 0xfe], "padded");
  t.same(Array.from(decodeBinaryHeader("//4")), [0xff, 0xfe], "unpadded");
  t.same(Array.from(decodeBinaryHeader("__4")), [0xff, 0xfe], "URL-safe");
  t.same(Array.from(decodeBinaryHeader("__4=")), [0xff, 0xfe], "URL-safe, padded");
  t.same(Array.from(decodeBinaryHeader("+w==")), [0xfb]);
  t.same(Array.from(decodeBinaryHeader("-w")), [0xfb]);
  t.same(Array.from(decodeBinaryHeader("")), []);
  t.ok(decodeBinaryHeader("AQID") instanceof Uint8Array);
});

t.test("decodeBinaryHeader(encodeBinaryHeader(x)) is x", async (t) => {
  for (let n = 0; n < 40; n++) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 97 + n) & 0xff;
    t.same(Array.from(decodeBinaryHeader(encodeBinaryHeader(bytes))), Array.from(bytes), `${n} bytes`);
  }
});

t.test("protocol-owned and connection-specific headers are reserved", async (t) => {
  for (const name of [
    "content-type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
    "grpc-accept-encoding",
    "connect-content-encoding",
    "connect-accept-encoding",
  ]) {
    t.ok(isReservedHeader(name), name);
  }
  for (const name of ["x-custom", "authorization", "grpc-timeout-custom", "trailer-x", "set-cookie", "constructor"]) {
    t.notOk(isReservedHeader(name), name);
  }
});

t.test("appendHeaders copies metadata, lower-cased", async (t) => {
  const into: OutgoingHttpHeaders = {};
  appendHeaders(into, new Headers({ "X-Request-Id": "abc", "x-bin-bin": "AQID" }));
  t.same(into, { "x-request-id": "abc", "x-bin-bin": "AQID" });
});

t.test("appendHeaders adds a prefix (Connect unary trailers travel as trailer- headers)", async (t) => {
  const into: OutgoingHttpHeaders = { "content-type": "application/json" };
  appendHeaders(into, new Headers({ "x-a": "1", "x-b": "2" }), "trailer-");
  t.same(into, { "content-type": "application/json", "trailer-x-a": "1", "trailer-x-b": "2" });
});

t.test("appendHeaders skips reserved headers, with or without a prefix", async (t) => {
  const from = new Headers({
    "content-type": "text/evil",
    "grpc-status": "0",
    "grpc-message": "fake",
    connection: "close",
    te: "trailers",
    "x-kept": "yes",
  });
  const into: OutgoingHttpHeaders = {};
  appendHeaders(into, from);
  t.same(into, { "x-kept": "yes" });
  const prefixed: OutgoingHttpHeaders = {};
  appendHeaders(prefixed, from, "trailer-");
  t.same(prefixed, { "trailer-x-kept": "yes" });
});

t.test("appendHeaders: a name already present becomes an array of values", async (t) => {
  const into: OutgoingHttpHeaders = { "x-a": "first", "x-n": 5 };
  appendHeaders(into, new Headers({ "x-a": "second", "x-n": "6" }));
  t.same(into, { "x-a": ["first", "second"], "x-n": ["5", "6"] });
  appendHeaders(into, new Headers({ "x-a": "third" }));
  t.same(into["x-a"], ["first", "second", "third"], "an existing array is appended to");
});

t.test("appendHeaders: repeated set-cookie values become an array", async (t) => {
  const from = new Headers();
  from.append("set-cookie", "a=1");
  from.append("set-cookie", "b=2");
  const into: OutgoingHttpHeaders = {};
  appendHeaders(into, from);
  t.same(into, { "set-cookie": ["a=1", "b=2"] });
});

t.test("appendHeaders: other repeated names arrive joined by the Headers object", async (t) => {
  // Headers combines repeated values into one list value ("1, 2"); on the wire
  // that is the same field as two lines (RFC 9110, 5.3).
  const from = new Headers();
  from.append("x-multi", "1");
  from.append("x-multi", "2");
  const into: OutgoingHttpHeaders = {};
  appendHeaders(into, from);
  t.same(into, { "x-multi": "1, 2" });
});

t.test("headersFromIncoming skips HTTP/2 pseudo-headers", async (t) => {
  const h = headersFromIncoming({
    ":method": "POST",
    ":path": "/fcr.test.v1.TestService/Unary",
    ":authority": "localhost",
    ":scheme": "http",
    "content-type": "application/proto",
    "x-custom": "v",
  });
  t.same(
    [...h],
    [
      ["content-type", "application/proto"],
      ["x-custom", "v"],
    ],
  );
});

t.test("headersFromIncoming joins array values and skips undefined ones", async (t) => {
  const h = headersFromIncoming({
    "x-list": ["1", "2", "3"],
    "set-cookie": ["a=1", "b=2"],
    "x-missing": undefined,
    "x-bin-bin": "AQID",
  });
  t.equal(h.get("x-list"), "1, 2, 3");
  t.same(h.getSetCookie(), ["a=1", "b=2"]);
  t.equal(h.has("x-missing"), false);
  t.equal(h.get("x-bin-bin"), "AQID");
});

t.test("headersFromIncoming of no headers is empty", async (t) => {
  t.same([...headersFromIncoming({})], []);
});
