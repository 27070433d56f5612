// The lower end of the @bufbuild/protobuf peer range, proven: an app in a
// scratch directory with the oldest supported @bufbuild/protobuf and
// protoc-gen-es generates its code, type-checks (library declarations
// included, skipLibCheck off) and runs a call of every kind over Connect
// (binary and JSON), gRPC and gRPC-Web against the packed library.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { NPM_INSTALL, packLibrary, scratchDir, sh } from "../helpers/tarball.js";

const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const files: Record<string, string> = {
  "package.json": JSON.stringify({ name: "oldest-protobuf-app", private: true, type: "module" }),
  "buf.gen.yaml": `version: v2
plugins:
  - local: protoc-gen-es
    out: gen
    opt:
      - target=ts
      - import_extension=js
`,
  "proto/demo/v1/demo.proto": `syntax = "proto3";

package demo.v1;

service DemoService {
  rpc Say(SayRequest) returns (SayResponse) {}
  rpc Count(SayRequest) returns (stream SayResponse) {}
  rpc Collect(stream SayRequest) returns (SayResponse) {}
  rpc Chat(stream SayRequest) returns (stream SayResponse) {}
}

message SayRequest {
  string text = 1;
}

message SayResponse {
  string text = 1;
}
`,
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      skipLibCheck: false,
      noEmit: true,
    },
  }),
  "app.ts": `import Fastify from "fastify";
import { Code, ConnectError, fastifyConnectRpc, onePortServerFactory } from "fastify-connectrpc";
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "fastify-connectrpc/client";
import { DemoService } from "./gen/demo/v1/demo_pb.js";

const app = Fastify({ serverFactory: onePortServerFactory() });
await app.register(fastifyConnectRpc, {
  routes(router) {
    router.service(DemoService, {
      async say(req) {
        if (req.text === "") throw new ConnectError("say something", Code.InvalidArgument);
        return { text: "said " + req.text };
      },
      async *count(req) {
        for (let i = 1; i <= 3; i++) yield { text: req.text + " " + i };
      },
      async collect(reqs) {
        const texts: string[] = [];
        for await (const r of reqs) texts.push(r.text);
        return { text: texts.join("+") };
      },
      async *chat(reqs) {
        for await (const r of reqs) yield { text: "re: " + r.text };
      },
    });
  },
});
const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
async function* two() {
  yield { text: "a" };
  yield { text: "b" };
}
for (const [name, transport] of [
  ["connect", createConnectTransport({ baseUrl })],
  ["connect-json", createConnectTransport({ baseUrl, useBinaryFormat: false })],
  ["grpc", createGrpcTransport({ baseUrl })],
  ["grpc-web", createGrpcWebTransport({ baseUrl })],
] as const) {
  const client = createClient(DemoService, transport);
  const out: string[] = [(await client.say({ text: "hi" })).text];
  for await (const r of client.count({ text: "n" })) out.push(r.text);
  out.push((await client.collect(two())).text);
  for await (const r of client.chat(two())) out.push(r.text);
  try {
    await client.say({ text: "" });
  } catch (e) {
    out.push(e instanceof ConnectError ? Code[e.code] + ": " + e.rawMessage : String(e));
  }
  console.log(name + ": " + out.join(", "));
  transport.close();
}
await app.close();
`,
};

t.test("an app on the oldest supported @bufbuild/protobuf and protoc-gen-es", async (t) => {
  const range = pkg.peerDependencies["@bufbuild/protobuf"];
  const oldest = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
  t.ok(oldest, `the peer range is a caret range (${range})`);
  if (!oldest) return;
  const tarball = await packLibrary(t);
  const dir = await scratchDir(t, "oldest-protobuf");
  for (const [path, text] of Object.entries(files)) {
    await sh(dir, `mkdir -p "$(dirname ${path})"`);
    await writeFile(join(dir, path), text);
  }
  const dev = (name: string) => `${name}@${pkg.devDependencies[name]}`;
  await sh(
    dir,
    `${NPM_INSTALL} ${tarball} fastify @bufbuild/protobuf@${oldest} @bufbuild/protoc-gen-es@${oldest} ` +
      [dev("@bufbuild/buf"), dev("typescript"), dev("@types/node"), dev("tsx")].join(" "),
  );
  const { stdout: tree } = await sh(dir, "npm ls @bufbuild/protobuf --all --parseable");
  const copies = new Set(tree.trim().split("\n"));
  t.equal(copies.size, 1, "one copy of @bufbuild/protobuf: the library uses the app's");
  const installed = JSON.parse(await readFile(join(dir, "node_modules/@bufbuild/protobuf/package.json"), "utf8"));
  t.equal(installed.version, oldest, `the app has @bufbuild/protobuf ${oldest}`);

  await sh(dir, "npx buf generate proto");
  const generated = await readFile(join(dir, "gen/demo/v1/demo_pb.ts"), "utf8");
  t.match(generated, `@generated by protoc-gen-es v${oldest}`, `generated by protoc-gen-es ${oldest}`);
  await sh(dir, "npx tsc"); // rejects with the compiler's errors
  t.pass("tsc --noEmit passes with skipLibCheck off");

  const { stdout } = await sh(dir, "npx tsx app.ts");
  const expected = "said hi, n 1, n 2, n 3, a+b, re: a, re: b, InvalidArgument: say something";
  t.same(
    stdout.trim().split("\n"),
    ["connect", "connect-json", "grpc", "grpc-web"].map((p) => `${p}: ${expected}`),
    "unary, server, client and bidi streaming and an error, over every protocol",
  );
});
