import { type DescEnum, type DescFile, type DescMessage, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * The .proto files behind a set of services, for server reflection: each
 * service's file and all of its transitive imports, and every symbol they
 * declare, found by its fully-qualified name. Built from the
 * @bufbuild/protobuf descriptors the services were registered with.
 */
export class DescriptorIndex {
  readonly serviceNames: string[];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  /** Extendee type name -> extension field number -> the file declaring the extension. */
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly serialized = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))].sort();
    for (const s of services) this.addFile(s.file);
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    const scope = file.proto.package;
    for (const e of file.enums) this.addEnum(file, e, scope);
    for (const m of file.messages) this.addMessage(file, m);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    for (const x of file.extensions) this.addExtension(file, x);
    for (const dep of file.dependencies) this.addFile(dep);
  }

  private addMessage(file: DescFile, m: DescMessage): void {
    this.symbols.set(m.typeName, file);
    for (const f of m.fields) this.symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) this.symbols.set(`${m.typeName}.${o.name}`, file);
    for (const e of m.nestedEnums) this.addEnum(file, e, m.typeName);
    for (const n of m.nestedMessages) this.addMessage(file, n);
    for (const x of m.nestedExtensions) this.addExtension(file, x);
  }

  /** Enum values are scoped beside their enum, not inside it (protobuf language spec, "Enum definition"). */
  private addEnum(file: DescFile, e: DescEnum, scope: string): void {
    this.symbols.set(e.typeName, file);
    for (const v of e.values) this.symbols.set(scope ? `${scope}.${v.name}` : v.name, file);
  }

  private addExtension(file: DescFile, x: { typeName: string; number: number; extendee: DescMessage }): void {
    this.symbols.set(x.typeName, file);
    let byNumber = this.extensions.get(x.extendee.typeName);
    if (!byNumber) this.extensions.set(x.extendee.typeName, (byNumber = new Map()));
    byNumber.set(x.number, file);
  }

  /** A file by its name, e.g. "grpc/health/v1/health.proto". */
  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  /** The file declaring a fully-qualified symbol (a leading dot is allowed). */
  fileBySymbol(name: string): DescFile | undefined {
    return this.symbols.get(name.startsWith(".") ? name.slice(1) : name);
  }

  /** The file declaring extension `number` of the message `typeName`. */
  fileByExtension(typeName: string, number: number): DescFile | undefined {
    return this.extensions.get(typeName)?.get(number);
  }

  /** Whether `typeName` is a message of these files. */
  hasMessage(typeName: string): boolean {
    const file = this.symbols.get(typeName);
    return file !== undefined && findMessage(file, typeName) !== undefined;
  }

  /** The field numbers of the known extensions of a message. */
  extensionNumbers(typeName: string): number[] {
    return [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * `file` serialized, then each of its transitive imports not in `sent`
   * (the files already sent on this stream, which the spec lets a server
   * leave out); `sent` gets them all.
   */
  withImports(file: DescFile, sent: Set<string>): Uint8Array[] {
    const out = [this.bytes(file)];
    sent.add(file.proto.name);
    const visit = (f: DescFile) => {
      for (const dep of f.dependencies) {
        if (sent.has(dep.proto.name)) continue;
        sent.add(dep.proto.name);
        out.push(this.bytes(dep));
        visit(dep);
      }
    };
    visit(file);
    return out;
  }

  private bytes(file: DescFile): Uint8Array {
    let b = this.serialized.get(file);
    if (!b) {
      b = toBinary(FileDescriptorProtoSchema, file.proto);
      this.serialized.set(file, b);
    }
    return b;
  }
}

function findMessage(file: DescFile, typeName: string): DescMessage | undefined {
  const search = (ms: readonly DescMessage[]): DescMessage | undefined => {
    for (const m of ms) {
      if (m.typeName === typeName) return m;
      const nested = search(m.nestedMessages);
      if (nested) return nested;
    }
    return undefined;
  };
  return search(file.messages);
}
