import t from "tap";
import { type ContentType, parseContentType, supportedContentTypes } from "../../lib/protocol/content-type.js";

const table: [string, ContentType][] = [
  ["application/proto", { protocol: "connect", codec: "proto", streaming: false, text: false }],
  ["application/json", { protocol: "connect", codec: "json", streaming: false, text: false }],
  ["application/connect+proto", { protocol: "connect", codec: "proto", streaming: true, text: false }],
  ["application/connect+json", { protocol: "connect", codec: "json", streaming: true, text: false }],
  ["application/grpc", { protocol: "grpc", codec: "proto", streaming: true, text: false }],
  ["application/grpc+proto", { protocol: "grpc", codec: "proto", streaming: true, text: false }],
  ["application/grpc+json", { protocol: "grpc", codec: "json", streaming: true, text: false }],
  ["application/grpc-web", { protocol: "grpc-web", codec: "proto", streaming: true, text: false }],
  ["application/grpc-web+proto", { protocol: "grpc-web", codec: "proto", streaming: true, text: false }],
  ["application/grpc-web+json", { protocol: "grpc-web", codec: "json", streaming: true, text: false }],
  ["application/grpc-web-text", { protocol: "grpc-web", codec: "proto", streaming: true, text: true }],
  ["application/grpc-web-text+proto", { protocol: "grpc-web", codec: "proto", streaming: true, text: true }],
  ["application/grpc-web-text+json", { protocol: "grpc-web", codec: "json", streaming: true, text: true }],
];

t.test("every supported content-type maps to its protocol, codec, streaming and text", async (t) => {
  for (const [mime, want] of table) t.same(parseContentType(mime), want, mime);
});

t.test("supportedContentTypes lists exactly the supported types", async (t) => {
  t.same([...supportedContentTypes].sort(), table.map(([mime]) => mime).sort());
});

t.test("media types are case-insensitive", async (t) => {
  t.same(parseContentType("Application/JSON"), table[1][1]);
  t.same(parseContentType("APPLICATION/GRPC-WEB-TEXT+PROTO"), table[11][1]);
  t.same(parseContentType("application/Connect+Json"), table[3][1]);
});

t.test("charset=utf-8 is allowed, in any case, quoted and with whitespace", async (t) => {
  const json = table[1][1];
  t.same(parseContentType("application/json; charset=utf-8"), json);
  t.same(parseContentType("application/json;charset=UTF-8"), json);
  t.same(parseContentType('application/json; charset="utf-8"'), json);
  t.same(parseContentType("application/json ; charset = utf-8 "), json);
  t.same(parseContentType("application/json; charset=utf8"), json);
  t.same(parseContentType("application/grpc; charset=utf-8"), table[4][1]);
});

t.test("a charset other than utf-8 is refused (JSON must be UTF-8)", async (t) => {
  t.equal(parseContentType("application/json; charset=iso-8859-1"), undefined);
  t.equal(parseContentType("application/json; charset=utf-16"), undefined);
  t.equal(parseContentType("application/json; charset=us-ascii"), undefined);
  t.equal(parseContentType("application/json; charset="), undefined);
  t.equal(
    parseContentType("application/json; charset=utf-8; charset=latin1"),
    undefined,
    "every charset must be utf-8",
  );
});

t.test("parameters other than charset are ignored", async (t) => {
  t.same(parseContentType("application/grpc; foo=bar"), table[4][1]);
  t.same(parseContentType("application/proto; version=2; charset=utf-8"), table[0][1]);
  t.same(parseContentType("application/proto;"), table[0][1], "an empty parameter list");
});

t.test("unknown content-types are undefined", async (t) => {
  for (const mime of [
    undefined,
    "",
    " ",
    "text/plain",
    "application/xml",
    "application/jsonx",
    "application/grpc-webtext",
    "application/grpc+xml",
    "application/connect",
    "application/connect+thrift",
    "application/json/extra",
    "json",
    "proto",
    "application/ json",
    "*/*",
  ]) {
    t.equal(parseContentType(mime), undefined, JSON.stringify(mime));
  }
});

t.test("Object.prototype names such as constructor and __proto__ are not content-types", async (t) => {
  for (const mime of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype"]) {
    t.equal(parseContentType(mime), undefined, mime);
    t.equal(parseContentType(mime), undefined, `${mime} (cached)`);
    t.equal(parseContentType(`${mime}; charset=utf-8`), undefined, `${mime} with a charset`);
  }
});

t.test("the cache does not confuse entries", async (t) => {
  // Each string is parsed twice in an interleaved order: once into the cache, once out of it.
  const inputs: [string, ContentType | undefined][] = [
    ["application/json; charset=latin1", undefined],
    ["application/json", table[1][1]],
    ["APPLICATION/PROTO", table[0][1]],
    ["application/proto", table[0][1]],
    ["application/grpc-web-text", table[10][1]],
    ["application/grpc-web", table[7][1]],
    ["application/grpc+json", table[6][1]],
    ["application/grpc", table[4][1]],
    ["text/plain", undefined],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [mime, want] of round === 1 ? [...inputs].reverse() : inputs) {
      t.same(parseContentType(mime), want, `${mime} (round ${round})`);
    }
  }
});

t.test("parsing stays correct after the cache is full", async (t) => {
  let parsed = 0;
  for (let i = 0; i < 600; i++) if (parseContentType(`application/x-odd-${i}`) !== undefined) parsed++;
  t.equal(parsed, 0, "600 unknown strings are all undefined");
  t.same(parseContentType("application/grpc-web+json; charset=utf-8; q=1"), table[9][1], "a new valid string");
  t.equal(parseContentType("application/grpc-web+json; charset=latin1"), undefined, "a new refused string");
  t.same(parseContentType("application/connect+proto"), table[2][1]);
});

t.test("checkResponseContentType: not the protocol at all is unknown, the wrong codec is internal", async (t) => {
  const { checkResponseContentType } = await import("../../lib/protocol/content-type.js");
  const { Code } = await import("../../lib/protocol/code.js");
  const codeOf = (f: () => void) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return (e as { code: number }).code;
    }
  };
  t.equal(
    codeOf(() => checkResponseContentType("application/grpc", "grpc", "proto", true)),
    "ok",
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/grpc+proto", "grpc", "proto", true)),
    "ok",
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/json", "connect", "json", false)),
    "ok",
  );
  t.equal(
    codeOf(() => checkResponseContentType("text/html", "grpc", "proto", true)),
    Code.Unknown,
    "a proxy's page",
  );
  t.equal(
    codeOf(() => checkResponseContentType(undefined, "connect", "proto", false)),
    Code.Unknown,
    "missing",
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/grpc-web+proto", "grpc", "proto", true)),
    Code.Unknown,
    "another protocol",
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/connect+proto", "connect", "proto", false)),
    Code.Unknown,
    "streaming answer to a unary request",
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/grpc+json", "grpc", "proto", true)),
    Code.Internal,
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/json", "connect", "proto", false)),
    Code.Internal,
  );
  t.equal(
    codeOf(() => checkResponseContentType("application/grpc-web-text", "grpc-web", "proto", true)),
    Code.Internal,
    "text answer to a binary request",
  );
});
