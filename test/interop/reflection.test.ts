// gRPC server reflection (grpc/grpc doc/server-reflection.md) against real
// clients: `buf curl` with no --schema over gRPC (h2c and TLS), Connect and
// gRPC-Web, both reflection versions; and connect-node decoding every file.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import t, { type Test } from "tap";
import { type FastifyConnectRpcOptions, onePortServerFactory } from "../../lib/index.js";
import * as v1 from "../../lib/services/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../lib/services/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ReflectedService } from "../gen/fcr/test/v1/reflected_pb.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { type StartedServer, startServer } from "../helpers/server.js";
import { testServiceImpl } from "../helpers/test-service.js";
import { selfSigned } from "../helpers/tls.js";

const run = promisify(execFile);
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

const SERVICES = [
  "fcr.test.v1.ReflectedService",
  "fcr.test.v1.TestService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

const plugin: Partial<FastifyConnectRpcOptions> = {
  routes(router) {
    router.service(TestService, testServiceImpl);
    router.service(ReflectedService, {
      stamp: (req) => ({ text: `${req.choice.case === "name" ? req.choice.value : "?"}@${req.at?.seconds ?? 0n}` }),
    });
  },
  grpcHealth: true,
  grpcReflection: true,
};

async function bufCurl(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await run(buf, ["curl", ...args]);
    return { ok: true, out: stdout };
  } catch (e) {
    const err = e as { stdout: string; stderr: string };
    return { ok: false, out: err.stdout + err.stderr };
  }
}

function checkBufCurl(t: Test, baseUrl: string, transportArgs: string[]) {
  for (const protocol of ["grpc", "connect", "grpcweb"]) {
    for (const reflect of ["grpc-v1", "grpc-v1alpha"]) {
      t.test(`${protocol}, reflection ${reflect}`, async (t) => {
        const common = ["--protocol", protocol, "--reflect-protocol", reflect, ...transportArgs];
        const services = await bufCurl([...common, "--list-services", baseUrl]);
        t.ok(services.ok, services.out);
        t.same(services.out.trim().split("\n"), SERVICES, "--list-services: the app's, health and reflection");

        // v1 gets every command; v1alpha (the same answers in another package) the listing and two calls, to save time.
        if (reflect === "grpc-v1") {
          const methods = await bufCurl([...common, "--list-methods", baseUrl]);
          t.ok(methods.ok, methods.out);
          const listed = methods.out.trim().split("\n");
          for (const m of [
            "fcr.test.v1.TestService/Unary",
            "fcr.test.v1.TestService/Bidi",
            "fcr.test.v1.ReflectedService/Stamp",
            "grpc.health.v1.Health/Check",
            "grpc.health.v1.Health/List",
            "grpc.health.v1.Health/Watch",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          ]) {
            t.ok(listed.includes(m), `--list-methods lists ${m}`);
          }

          const unary = await bufCurl([...common, "-d", '{"text":"hi"}', `${baseUrl}/fcr.test.v1.TestService/Unary`]);
          t.ok(unary.ok, unary.out);
          t.same(JSON.parse(unary.out), { text: "hi" }, "a user method called from its reflected schema");
        }

        const stamped = await bufCurl([
          ...common,
          "-d",
          '{"name":"ada","at":"1970-01-01T00:00:42Z","kind":"KIND_STAMPED"}',
          `${baseUrl}/fcr.test.v1.ReflectedService/Stamp`,
        ]);
        t.ok(stamped.ok, stamped.out);
        t.same(JSON.parse(stamped.out), { text: "ada@42" }, "a method whose file imports well-known types");

        const health = await bufCurl([...common, "-d", '{"service":""}', `${baseUrl}/grpc.health.v1.Health/Check`]);
        t.ok(health.ok, health.out);
        t.same(JSON.parse(health.out), { status: "SERVING" }, "grpc.health.v1.Health/Check described by reflection");
      });
    }
  }
}

t.test("buf curl with no schema, h2c and HTTP/1.1 on one port", async (t) => {
  const s = await startServer({ fastify: { serverFactory: onePortServerFactory() }, plugin });
  t.teardown(s.close);
  checkBufCurl(t, s.baseUrl, ["--http2-prior-knowledge"]);
});

t.test("buf curl with no schema over TLS (gRPC over h2, Connect and gRPC-Web by ALPN)", async (t) => {
  const { key, cert } = selfSigned();
  const dir = mkdtempSync(join(tmpdir(), "fcr-reflection-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, cert);
  const s = await startServer({ http2: true, fastify: { https: { allowHTTP1: true, key, cert } } as never, plugin });
  t.teardown(s.close);
  checkBufCurl(t, `https://127.0.0.1:${s.port}`, ["--cacert", caFile, "--servername", "localhost"]);
});

type AnyRequest = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

/** Sends questions on one reflection stream (connect-node, gRPC over h2c) and returns the answers. */
async function ask(s: StartedServer, version: "v1" | "v1alpha", questions: AnyRequest[]) {
  const transport = createGrpcTransport({ baseUrl: s.baseUrl });
  const answers: v1.ServerReflectionResponse[] = [];
  async function* requests() {
    yield* questions;
  }
  if (version === "v1") {
    const client = createClient(v1.ServerReflection, transport);
    for await (const a of client.serverReflectionInfo(requests())) answers.push(a);
  } else {
    const client = createClient(v1alpha.ServerReflection, transport);
    for await (const a of client.serverReflectionInfo(requests() as never)) {
      answers.push(a as unknown as v1.ServerReflectionResponse);
    }
  }
  return answers;
}

function decodeFiles(answer: v1.ServerReflectionResponse): FileDescriptorProto[] {
  if (answer.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${answer.messageResponse.case}: ${JSON.stringify(answer.messageResponse)}`);
  }
  return answer.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

for (const version of ["v1", "v1alpha"] as const) {
  t.test(`${version}: every returned file decodes and every import resolves`, async (t) => {
    const s = await startServer({ fastify: { serverFactory: onePortServerFactory() }, plugin });
    t.teardown(s.close);
    const [list] = await ask(s, version, [{ host: "h", messageRequest: { case: "listServices", value: "" } }]);
    t.equal(list.validHost, "h", "valid_host echoes the request's host");
    t.equal(list.originalRequest?.messageRequest.case, "listServices", "original_request is echoed");
    if (list.messageResponse.case !== "listServicesResponse") throw new Error("no service list");
    const names = list.messageResponse.value.service.map((x) => x.name);
    t.same(names, SERVICES, "list_services");

    // One stream for all services: files sent once are left out of later answers (the spec allows it).
    const answers = await ask(
      s,
      version,
      names.map((n) => ({ messageRequest: { case: "fileContainingSymbol" as const, value: n } })),
    );
    const files = new Map<string, FileDescriptorProto>();
    for (const a of answers) {
      for (const f of decodeFiles(a)) files.set(f.name, f);
    }
    for (const f of files.values()) {
      for (const dep of f.dependency) t.ok(files.has(dep), `${f.name}: import ${dep} was sent`);
    }
    t.ok(files.has("google/protobuf/descriptor.proto"), "transitive well-known imports are sent");
    // A FileDescriptorSet lists imports before the files that import them.
    const ordered: FileDescriptorProto[] = [];
    const visit = (f: FileDescriptorProto) => {
      if (ordered.includes(f)) return;
      for (const dep of f.dependency) visit(files.get(dep)!);
      ordered.push(f);
    };
    for (const f of files.values()) visit(f);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    for (const n of names) t.ok(registry.getService(n), `${n} resolves from the returned files`);
    const stamp = registry.getService("fcr.test.v1.ReflectedService")?.methods[0];
    t.equal(stamp?.input.typeName, "fcr.test.v1.Stamped");
    t.equal(stamp?.input.field.at.message?.typeName, "google.protobuf.Timestamp", "imports resolve to their types");

    const [first] = await ask(s, version, [
      { messageRequest: { case: "fileByFilename", value: "fcr/test/v1/reflected.proto" } },
    ]);
    t.same(
      decodeFiles(first)
        .map((f) => f.name)
        .sort(),
      [
        "fcr/test/v1/reflected.proto",
        "fcr/test/v1/test.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/timestamp.proto",
      ],
      "file_by_filename: the file and all its transitive imports",
    );
  });

  t.test(`${version}: every request kind, and the spec's error responses`, async (t) => {
    const s = await startServer({ fastify: { serverFactory: onePortServerFactory() }, plugin });
    t.teardown(s.close);
    const symbol = (value: string) => ({ messageRequest: { case: "fileContainingSymbol" as const, value } });
    const answers = await ask(s, version, [
      symbol("fcr.test.v1.TestService.Unary"),
      symbol("fcr.test.v1.Stamped.Kind"),
      symbol("fcr.test.v1.Stamped.KIND_STAMPED"),
      symbol("fcr.test.v1.Stamped.at"),
      symbol("fcr.test.v1.Stamped.choice"),
      symbol("fcr.test.v1.method_label"),
      symbol("fcr.test.v1.Stamped.Inner.nested_label"),
      symbol(".fcr.test.v1.EchoRequest"),
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 50002 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "fcr.test.v1.EchoRequest" } },
      { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
      symbol("no.such.Symbol"),
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 9 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "no.such.Message" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "fcr.test.v1.TestService" } },
      {},
    ]);
    t.equal(answers.length, 17, "one answer per question");
    const firstFile = (a: v1.ServerReflectionResponse) => decodeFiles(a)[0]?.name;
    t.equal(firstFile(answers[0]), "fcr/test/v1/test.proto", "a method");
    for (let i = 1; i <= 6; i++) {
      t.equal(
        firstFile(answers[i]),
        "fcr/test/v1/reflected.proto",
        `symbol ${i}: nested enum, value, field, oneof, extension`,
      );
    }
    t.equal(firstFile(answers[7]), "fcr/test/v1/test.proto", "a leading dot is allowed");
    t.equal(firstFile(answers[8]), "fcr/test/v1/reflected.proto", "file_containing_extension");
    const numbers = answers[9].messageResponse.value as v1.ExtensionNumberResponse;
    t.same(
      [numbers.baseTypeName, numbers.extensionNumber],
      ["google.protobuf.MethodOptions", [50001, 50002]],
      "all_extension_numbers_of_type",
    );
    t.equal(
      numbers.$typeName,
      `grpc.reflection.${version}.ExtensionNumberResponse`,
      `answered in ${version}'s messages`,
    );
    t.same(
      (answers[10].messageResponse.value as v1.ExtensionNumberResponse).extensionNumber,
      [],
      "a message without extensions has none",
    );
    const errors = answers.slice(11).map((a) => a.messageResponse);
    for (const [i, e] of errors.entries()) {
      t.equal(e.case, "errorResponse", `error ${i} is an error_response and the stream goes on`);
    }
    const codes = errors.map((e) => (e.value as v1.ErrorResponse).errorCode);
    t.same(codes, [5, 5, 5, 5, 5, 3], "NOT_FOUND for unknown names; INVALID_ARGUMENT for an empty request");
    t.match((errors[0].value as v1.ErrorResponse).errorMessage, /file "no\/such.proto" not found/);
    t.match((errors[1].value as v1.ErrorResponse).errorMessage, /symbol "no.such.Symbol" not found/);
    t.match((errors[4].value as v1.ErrorResponse).errorMessage, /message type "fcr.test.v1.TestService" not found/);
  });
}

t.test("without grpcReflection there is no reflection service", async (t) => {
  const s = await startServer({ fastify: { serverFactory: onePortServerFactory() } });
  t.teardown(s.close);
  const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-services", s.baseUrl]);
  t.notOk(r.ok, "buf curl cannot list");
  t.match(r.out, /unimplemented|not implemented|does not support/i, r.out);
});
