// The CORS lists: what a browser on another origin must be allowed to send and read for Connect
// (connectrpc.com/docs/protocol and /docs/cors) and gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md), checked
// against the specs and then end to end: @fastify/cors configured with exactly these lists, in front of
// the plugin, answers browser-style preflights so that connect-web's Connect and gRPC-Web transports work.

import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import cors from "@fastify/cors";
import t from "tap";
import { corsAllowedHeaders, corsAllowedMethods, corsExposedHeaders } from "../../lib/protocol/cors.js";
import { ErrorInfoSchema, TestService } from "../gen/fcr/test/v1/test_pb.js";
import { startServer } from "../helpers/server.js";

const lower = (names: readonly string[]) => names.map((n) => n.toLowerCase());
const has = (names: readonly string[], name: string) => lower(names).includes(name.toLowerCase());

// ---- the lists, against the specs ----

t.test("Allowed methods: POST for every Connect and gRPC-Web call, GET for Connect unary GET", async (t) => {
  t.same([...corsAllowedMethods].sort(), ["GET", "POST"]);
});

t.test("Connect request headers a script sets are allowed (Unary-Request, Streaming-Request)", async (t) => {
  // content-type is application/proto, application/json or application/connect+*: none CORS-safelisted.
  for (const name of [
    "Content-Type",
    "Connect-Protocol-Version",
    "Connect-Timeout-Ms", // Timeout
    "Content-Encoding", // a compressed unary request
    "Connect-Content-Encoding", // Streaming-Content-Encoding
    "Connect-Accept-Encoding", // Streaming-Accept-Encoding
  ]) {
    t.ok(has(corsAllowedHeaders, name), name);
  }
});

t.test("gRPC-Web request headers a script sets are allowed (PROTOCOL-WEB.md; PROTOCOL-HTTP2.md Timeout)", async (t) => {
  for (const name of ["Content-Type", "X-Grpc-Web", "X-User-Agent", "Grpc-Timeout"]) {
    t.ok(has(corsAllowedHeaders, name), name);
  }
});

t.test("Forbidden request headers (Fetch) are not listed: the browser sets them, a script cannot", async (t) => {
  // Accept-Encoding is the Connect unary Accept-Encoding; the browser sends its own.
  for (const name of [
    "Accept-Encoding",
    "Content-Length",
    "Connection",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Host",
    "Origin",
  ]) {
    t.notOk(has(corsAllowedHeaders, name), name);
  }
});

t.test("Exposed headers: the gRPC-Web status of a trailers-only response, and the stream encodings", async (t) => {
  // A trailers-only gRPC-Web response carries its status in the response headers (PROTOCOL-WEB.md,
  // "Trailers-only responses"), which a script can read only when exposed.
  for (const name of ["Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"]) {
    t.ok(has(corsExposedHeaders, name), name);
  }
  // A compressed stream's messages can be decompressed only when the client can read the encoding.
  for (const name of ["Connect-Content-Encoding", "Grpc-Encoding"]) t.ok(has(corsExposedHeaders, name), name);
});

t.test("The lists have no duplicates and are frozen, so no app changes them for every other", async (t) => {
  for (const [name, list] of Object.entries({ corsAllowedMethods, corsAllowedHeaders, corsExposedHeaders })) {
    t.equal(new Set(lower(list)).size, list.length, `${name}: no name twice`);
    t.ok(Object.isFrozen(list), `${name}: frozen`);
    t.throws(() => (list as string[]).push("X-Mine"), TypeError, `${name}: cannot be pushed to`);
  }
});

// ---- end to end: browser-style CORS in front of connect-web ----

const ORIGIN = "http://app.example";

// Fetch standard, "CORS-safelisted request-header" and "CORS-safelisted response-header name".
const SAFE_CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
const SAFE_RESPONSE_HEADERS = [
  "cache-control",
  "content-language",
  "content-length",
  "content-type",
  "expires",
  "last-modified",
  "pragma",
];

function unsafeHeaderNames(headers: Headers): string[] {
  const names: string[] = [];
  headers.forEach((value, name) => {
    if (name === "accept" || name === "accept-language" || name === "content-language") return;
    if (name === "content-type" && SAFE_CONTENT_TYPES.includes(value.split(";")[0].trim().toLowerCase())) return;
    names.push(name);
  });
  return names.sort();
}

const listHas = (header: string | null, name: string) =>
  (header ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .includes(name);

/** What a browser's fetch did for one cross-origin request. */
interface CorsLog {
  method: string;
  preflightHeaders?: string[];
}

/**
 * fetch as a browser does it cross-origin (Fetch standard, "CORS-preflight fetch", "CORS check",
 * "CORS-filtered response"): a preflight when the method or a header is not safelisted, refused unless
 * the server allows the origin, method and every header; the origin checked on the response; and only
 * safelisted and exposed response headers visible to the script.
 */
function browserFetch(log: CorsLog[]): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const method = (init?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers);
    const unsafe = unsafeHeaderNames(headers);
    const entry: CorsLog = { method };
    log.push(entry);
    if (unsafe.length > 0 || !["GET", "HEAD", "POST"].includes(method)) {
      entry.preflightHeaders = unsafe;
      const pre = await fetch(url, {
        method: "OPTIONS",
        headers: {
          origin: ORIGIN,
          "access-control-request-method": method,
          ...(unsafe.length > 0 ? { "access-control-request-headers": unsafe.join(",") } : {}),
        },
      });
      await pre.arrayBuffer();
      const refused = (why: string) => new TypeError(`Failed to fetch: CORS preflight refused: ${why}`);
      if (pre.status < 200 || pre.status > 299) throw refused(`status ${pre.status}`);
      if (pre.headers.get("access-control-allow-origin") !== ORIGIN) throw refused("origin not allowed");
      const methods = pre.headers.get("access-control-allow-methods");
      if (!["GET", "HEAD", "POST"].includes(method) && !listHas(methods?.toLowerCase() ?? null, method.toLowerCase())) {
        throw refused(`method ${method}`);
      }
      for (const name of unsafe) {
        if (!listHas(pre.headers.get("access-control-allow-headers"), name)) throw refused(`header ${name}`);
      }
    }
    headers.set("origin", ORIGIN);
    const res = await fetch(url, { ...init, headers });
    if (res.headers.get("access-control-allow-origin") !== ORIGIN) {
      await res.arrayBuffer();
      throw new TypeError("Failed to fetch: CORS check failed on the response");
    }
    const exposed = res.headers.get("access-control-expose-headers");
    const visible = new Headers();
    res.headers.forEach((value, name) => {
      if (SAFE_RESPONSE_HEADERS.includes(name) || listHas(exposed, name)) visible.append(name, value);
    });
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: visible });
  };
}

async function corsServer(lists: { methods: string[]; allowedHeaders: string[]; exposedHeaders: string[] }) {
  return startServer({
    setup: async (app) => {
      await app.register(cors, { origin: [ORIGIN], ...lists });
    },
  });
}

const libraryLists = {
  methods: [...corsAllowedMethods],
  allowedHeaders: [...corsAllowedHeaders],
  exposedHeaders: [...corsExposedHeaders],
};

/** The error a call fails with; a call that succeeds fails the test. */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

async function calls(transport: Transport) {
  const client = createClient(TestService, transport);
  const unary = await client.unary({ text: "cors" }, { timeoutMs: 5000 });
  const streamed: number[] = [];
  for await (const r of client.serverStream({ text: "s", count: 3 }, { timeoutMs: 5000 })) streamed.push(r.index);
  const error = await failure(client.unary({ text: "error:not_found:nope" }));
  return { unary: unary.text, streamed, error };
}

for (const binary of [true, false]) {
  const codec = binary ? "proto" : "json";
  t.test(`CORS through @fastify/cors with the library's lists: Connect (${codec}) from another origin`, async (t) => {
    const s = await corsServer(libraryLists);
    t.teardown(() => s.close());
    const log: CorsLog[] = [];
    const transport = createConnectTransport({ baseUrl: s.baseUrl, useBinaryFormat: binary, fetch: browserFetch(log) });
    const r = await calls(transport);
    t.equal(r.unary, "cors", "unary");
    t.same(r.streamed, [0, 1, 2], "server streaming");
    t.equal(r.error.code, Code.NotFound, "an error's code comes through");
    t.equal(r.error.rawMessage, "nope");
    t.equal(r.error.findDetails(ErrorInfoSchema).length, 1, "and its details");
    t.same(
      log[0].preflightHeaders,
      ["connect-protocol-version", "connect-timeout-ms", "content-type"],
      "the Connect unary call was preflighted with its headers",
    );
    t.ok(
      log.every((l) => l.preflightHeaders?.includes("content-type")),
      "every call was preflighted (the test is not vacuous)",
    );
  });
}

t.test("CORS: Connect GET of a side-effect-free method needs no preflight, and may read the answer", async (t) => {
  const s = await corsServer(libraryLists);
  t.teardown(() => s.close());
  const log: CorsLog[] = [];
  const transport = createConnectTransport({ baseUrl: s.baseUrl, useHttpGet: true, fetch: browserFetch(log) });
  const client = createClient(TestService, transport);
  t.equal((await client.echo({ text: "get" })).text, "get");
  t.same(log, [{ method: "GET" }], "a simple GET: no preflight at all");
  t.equal((await client.echo({ text: "get" }, { timeoutMs: 5000 })).text, "get", "with a timeout header: preflighted");
  t.same(log[1], { method: "GET", preflightHeaders: ["connect-timeout-ms"] });
});

for (const binary of [true, false]) {
  const codec = binary ? "proto" : "json";
  t.test(`CORS through @fastify/cors with the library's lists: gRPC-Web (${codec}) from another origin`, async (t) => {
    const s = await corsServer(libraryLists);
    t.teardown(() => s.close());
    const log: CorsLog[] = [];
    const transport = createGrpcWebTransport({ baseUrl: s.baseUrl, useBinaryFormat: binary, fetch: browserFetch(log) });
    const r = await calls(transport);
    t.equal(r.unary, "cors", "unary");
    t.same(r.streamed, [0, 1, 2], "server streaming");
    t.equal(r.error.code, Code.NotFound, "the status of a trailers-only error is readable");
    t.equal(r.error.rawMessage, "nope", "and its grpc-message");
    t.equal(r.error.findDetails(ErrorInfoSchema).length, 1, "and its grpc-status-details-bin");
    t.same(
      log[0].preflightHeaders,
      ["content-type", "grpc-timeout", "x-grpc-web", "x-user-agent"],
      "the gRPC-Web call was preflighted with its headers",
    );
  });
}

t.test("CORS harness: lists missing a protocol header fail the calls, as a browser would", async (t) => {
  const s = await corsServer({
    ...libraryLists,
    allowedHeaders: libraryLists.allowedHeaders.filter((h) => h !== "X-Grpc-Web"),
  });
  t.teardown(() => s.close());
  const grpcWeb = createClient(TestService, createGrpcWebTransport({ baseUrl: s.baseUrl, fetch: browserFetch([]) }));
  const refused = await failure(grpcWeb.unary({ text: "x" }));
  t.match(refused.message, /CORS preflight refused: header x-grpc-web/);
  const hidden = await corsServer({
    ...libraryLists,
    exposedHeaders: libraryLists.exposedHeaders.filter((h) => !h.startsWith("Grpc-")),
  });
  t.teardown(() => hidden.close());
  const blind = createClient(TestService, createGrpcWebTransport({ baseUrl: hidden.baseUrl, fetch: browserFetch([]) }));
  const unread = await failure(blind.unary({ text: "error:not_found:nope" }));
  t.not(unread.code, Code.NotFound, "a status that is not exposed cannot be read");
});
