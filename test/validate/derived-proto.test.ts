// test/proto-deps/buf/validate/validate.proto is derived from the descriptor
// @bufbuild/protovalidate ships; it must be current and declare the same
// messages, fields and extensions as that descriptor when buf compiles it.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import t from "tap";
import { DERIVED_PATH, HEADER, printDeclarations } from "../proto-deps/derive-validate-proto.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Every message's fields as "name number type label typeName", and the extensions. */
function shape(file: FileDescriptorProto): string[] {
  const out = file.extension.map((x) => `extend ${x.extendee} ${x.name} ${x.number} ${x.typeName}`);
  for (const m of file.messageType) {
    for (const f of m.field)
      out.push(`${m.name}.${f.name} ${f.number} ${f.type} ${f.label} ${f.typeName} ${f.oneofIndex}`);
    for (const r of m.extensionRange) out.push(`${m.name} extensions ${r.start}-${r.end}`);
  }
  for (const e of file.enumType) for (const v of e.value) out.push(`${e.name}.${v.name} ${v.number}`);
  return out;
}

t.test("the committed file is what the script derives", async (t) => {
  t.equal(await readFile(DERIVED_PATH, "utf8"), printDeclarations(file_buf_validate_validate.proto, HEADER));
});

t.test("buf compiles it to the declarations of the shipped descriptor", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "validate-proto-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const image = join(dir, "image.binpb");
  await promisify(execFile)(join(root, "node_modules/.bin/buf"), ["build", "test/proto-deps", "-o", image], {
    cwd: root,
  });
  const set = fromBinary(FileDescriptorSetSchema, await readFile(image));
  const compiled = set.file.find((f) => f.name === "buf/validate/validate.proto");
  t.ok(compiled, "the image has buf/validate/validate.proto");
  if (compiled) t.same(shape(compiled), shape(file_buf_validate_validate.proto));
});
