import t from "tap";
import {
  Code,
  codeFromHttpStatus,
  codeFromNumber,
  codeFromString,
  codeToHttpStatus,
  codeToString,
} from "../../lib/protocol/code.js";
import { connectHttpStatusOfCode } from "../helpers/connect-spec.js";

const names: [Code, string][] = [
  [Code.Canceled, "canceled"],
  [Code.Unknown, "unknown"],
  [Code.InvalidArgument, "invalid_argument"],
  [Code.DeadlineExceeded, "deadline_exceeded"],
  [Code.NotFound, "not_found"],
  [Code.AlreadyExists, "already_exists"],
  [Code.PermissionDenied, "permission_denied"],
  [Code.ResourceExhausted, "resource_exhausted"],
  [Code.FailedPrecondition, "failed_precondition"],
  [Code.Aborted, "aborted"],
  [Code.OutOfRange, "out_of_range"],
  [Code.Unimplemented, "unimplemented"],
  [Code.Internal, "internal"],
  [Code.Unavailable, "unavailable"],
  [Code.DataLoss, "data_loss"],
  [Code.Unauthenticated, "unauthenticated"],
];

t.test("codes carry gRPC's numbers 1..16", async (t) => {
  t.same(
    names.map(([code]) => code),
    Array.from({ length: 16 }, (_, i) => i + 1),
  );
});

t.test("Connect code names round-trip for 1..16", async (t) => {
  for (const [code, name] of names) {
    t.equal(codeToString(code), name, `${code} -> ${name}`);
    t.equal(codeFromString(name), code, `${name} -> ${code}`);
  }
});

t.test("codeToString: ok for 0, code_N outside the table", async (t) => {
  t.equal(codeToString(0 as Code), "ok");
  t.equal(codeToString(17 as Code), "code_17");
  t.equal(codeToString(-1 as Code), "code_-1");
});

t.test("codeFromString: undefined for ok, wrong case and unknown names", async (t) => {
  for (const name of [
    "ok",
    "OK",
    "INVALID_ARGUMENT",
    "InvalidArgument",
    "invalid-argument",
    "cancelled",
    "",
    "code_17",
    "constructor",
  ]) {
    t.equal(codeFromString(name), undefined, JSON.stringify(name));
  }
});

t.test("codeFromNumber: 1..16 are codes, anything else is undefined", async (t) => {
  for (let n = 1; n <= 16; n++) t.equal(codeFromNumber(n), n);
  for (const n of [0, 17, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
    t.equal(codeFromNumber(n), undefined, String(n));
});

t.test("codeToHttpStatus matches the Connect protocol's Error Codes table", async (t) => {
  const table = connectHttpStatusOfCode;
  for (const [code, name] of names) t.equal(codeToHttpStatus(code), table[name], name);
  t.equal(codeToHttpStatus(99 as Code), 500, "an unknown code is a 500");
});

t.test("codeFromHttpStatus follows grpc's http-grpc-status-mapping", async (t) => {
  t.equal(codeFromHttpStatus(400), Code.Internal);
  t.equal(codeFromHttpStatus(401), Code.Unauthenticated);
  t.equal(codeFromHttpStatus(403), Code.PermissionDenied);
  t.equal(codeFromHttpStatus(404), Code.Unimplemented);
  t.equal(codeFromHttpStatus(429), Code.Unavailable);
  t.equal(codeFromHttpStatus(502), Code.Unavailable);
  t.equal(codeFromHttpStatus(503), Code.Unavailable);
  t.equal(codeFromHttpStatus(504), Code.Unavailable);
  for (const status of [200, 206, 301, 402, 405, 408, 409, 415, 499, 500, 501, 505, 599]) {
    t.equal(codeFromHttpStatus(status), Code.Unknown, `${status} is unknown`);
  }
});

t.test("codeFromHttp2RstCode follows PROTOCOL-HTTP2.md's RST_STREAM mapping", async (t) => {
  const { codeFromHttp2RstCode } = await import("../../lib/protocol/code.js");
  const table: [number, Code][] = [
    [0x0, Code.Internal], // NO_ERROR before the response ended
    [0x1, Code.Internal], // PROTOCOL_ERROR
    [0x2, Code.Internal], // INTERNAL_ERROR
    [0x3, Code.Internal], // FLOW_CONTROL_ERROR
    [0x4, Code.Internal], // SETTINGS_TIMEOUT
    [0x6, Code.Internal], // FRAME_SIZE_ERROR
    [0x7, Code.Unavailable], // REFUSED_STREAM
    [0x8, Code.Canceled], // CANCEL
    [0x9, Code.Internal], // COMPRESSION_ERROR
    [0xa, Code.Internal], // CONNECT_ERROR
    [0xb, Code.ResourceExhausted], // ENHANCE_YOUR_CALM
    [0xc, Code.PermissionDenied], // INADEQUATE_SECURITY
  ];
  for (const [rst, code] of table) t.equal(codeFromHttp2RstCode(rst), code, `0x${rst.toString(16)}`);
});
