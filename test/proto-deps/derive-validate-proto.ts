// Writes test/proto-deps/buf/validate/validate.proto from the descriptor that
// @bufbuild/protovalidate ships (the npm package has no .proto source, and
// the Buf Schema Registry is out of reach here). Run by `npm run generate`.
//
// Only declarations are printed: messages, fields, oneofs, enums, extensions,
// extension and reserved ranges. The options of validate.proto's own fields
// (the CEL of each standard rule) are left out: buf needs the declarations to
// compile the test protos' rules, and the validator reads the rules from its
// own embedded copy of the file, never from this one.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isFieldSet } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  FieldDescriptorProtoSchema,
  type FileDescriptorProto,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

const scalarNames: Partial<Record<Type, string>> = {
  [Type.DOUBLE]: "double",
  [Type.FLOAT]: "float",
  [Type.INT64]: "int64",
  [Type.UINT64]: "uint64",
  [Type.INT32]: "int32",
  [Type.FIXED64]: "fixed64",
  [Type.FIXED32]: "fixed32",
  [Type.BOOL]: "bool",
  [Type.STRING]: "string",
  [Type.BYTES]: "bytes",
  [Type.UINT32]: "uint32",
  [Type.SFIXED32]: "sfixed32",
  [Type.SFIXED64]: "sfixed64",
  [Type.SINT32]: "sint32",
  [Type.SINT64]: "sint64",
};

function typeOf(f: FieldDescriptorProto): string {
  if (f.type === Type.MESSAGE || f.type === Type.ENUM) return f.typeName;
  const name = scalarNames[f.type];
  if (!name) throw new Error(`field ${f.name}: type ${Type[f.type]} is not printed by this script`);
  return name;
}

function field(f: FieldDescriptorProto, inOneof: boolean): string {
  const label = inOneof
    ? ""
    : f.label === Label.REPEATED
      ? "repeated "
      : f.label === Label.REQUIRED
        ? "required "
        : "optional ";
  if (f.defaultValue) throw new Error(`field ${f.name}: default values are not printed by this script`);
  return `${label}${typeOf(f)} ${f.name} = ${f.number};`;
}

function ranges(keyword: string, list: { start: number; end: number }[], exclusiveEnd: boolean): string[] {
  return list.map((r) => {
    const end = exclusiveEnd ? r.end - 1 : r.end;
    const to = end === r.start ? "" : end >= 536870911 ? " to max" : ` to ${end}`;
    return `${keyword} ${r.start}${to};`;
  });
}

function enumLines(e: EnumDescriptorProto): string[] {
  return [`enum ${e.name} {`, ...e.value.map((v) => `  ${v.name} = ${v.number};`), "}"];
}

/** The oneof a field belongs to; proto2 fields track presence, so an unset index is not 0. */
function oneofOf(f: FieldDescriptorProto): number | undefined {
  return isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) ? f.oneofIndex : undefined;
}

function messageLines(m: DescriptorProto): string[] {
  const body: string[] = [];
  for (const n of m.nestedType) body.push(...messageLines(n));
  for (const e of m.enumType) body.push(...enumLines(e));
  m.field.forEach((f, i) => {
    const oneof = oneofOf(f);
    if (oneof === undefined) body.push(field(f, false));
    else if (m.field.findIndex((g) => oneofOf(g) === oneof) === i) {
      const members = m.field.filter((g) => oneofOf(g) === oneof);
      body.push(`oneof ${m.oneofDecl[oneof].name} {`, ...members.map((g) => `  ${field(g, true)}`), "}");
    }
  });
  body.push(...ranges("extensions", m.extensionRange, true));
  body.push(...ranges("reserved", m.reservedRange, true));
  if (m.reservedName.length > 0) body.push(`reserved ${m.reservedName.map((n) => `"${n}"`).join(", ")};`);
  return [`message ${m.name} {`, ...body.map((l) => `  ${l}`), "}"];
}

/** The .proto text of a proto2 file's declarations. */
export function printDeclarations(file: FileDescriptorProto, header: string): string {
  if (file.syntax !== "" && file.syntax !== "proto2")
    throw new Error(`${file.name}: expected proto2, got ${file.syntax}`);
  const lines = [header, 'syntax = "proto2";', "", `package ${file.package};`, ""];
  for (const d of file.dependency) lines.push(`import "${d}";`);
  lines.push("");
  const byExtendee = new Map<string, FieldDescriptorProto[]>();
  for (const x of file.extension) byExtendee.set(x.extendee, [...(byExtendee.get(x.extendee) ?? []), x]);
  for (const [extendee, fields] of byExtendee) {
    lines.push(`extend ${extendee} {`, ...fields.map((f) => `  ${field(f, false)}`), "}", "");
  }
  for (const e of file.enumType) lines.push(...enumLines(e), "");
  for (const m of file.messageType) lines.push(...messageLines(m), "");
  return `${lines.join("\n").trimEnd()}\n`;
}

export const HEADER =
  "// Derived by test/proto-deps/derive-validate-proto.ts from the descriptor that\n" +
  "// @bufbuild/protovalidate ships: the declarations of buf/validate/validate.proto,\n" +
  "// without the options of its own fields. Do not edit; for tests only.";

export const DERIVED_PATH = fileURLToPath(new URL("buf/validate/validate.proto", import.meta.url));

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(DERIVED_PATH, printDeclarations(file_buf_validate_validate.proto, HEADER));
}
