import { isUtf8 } from "node:buffer";
import {
  create,
  createRegistry,
  type DescFile,
  type DescMessage,
  fromBinary,
  fromJsonString,
  type JsonReadOptions,
  type JsonWriteOptions,
  type MessageShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { Code } from "./code.js";
import { ConnectError } from "./error.js";

/** The two message formats: protobuf binary and protobuf JSON. */
export type CodecName = "proto" | "json";

/** Options for the JSON codec, passed to @bufbuild/protobuf. */
export type JsonOptions = Partial<JsonReadOptions & JsonWriteOptions>;

/** Serializes one message type in one format. */
export interface Codec<Desc extends DescMessage = DescMessage> {
  readonly name: CodecName;
  /** Accepts a message or a plain init object. */
  encode(message: unknown): Uint8Array;
  /** Throws ConnectError(invalid_argument) naming the type when the bytes do not parse. */
  decode(bytes: Uint8Array): MessageShape<Desc>;
}

function toMessage<Desc extends DescMessage>(desc: Desc, value: unknown): MessageShape<Desc> {
  if (value !== null && typeof value === "object" && (value as { $typeName?: string }).$typeName === desc.typeName) {
    return value as MessageShape<Desc>;
  }
  return create(desc, value as never);
}

function encodeFailed(desc: DescMessage, format: string, cause: unknown): ConnectError {
  return new ConnectError(`cannot encode ${desc.typeName} as ${format}: ${errorText(cause)}`, Code.Internal, {
    cause,
  });
}

function decodeFailed(desc: DescMessage, format: string, cause: unknown): ConnectError {
  return new ConnectError(`cannot decode ${desc.typeName} from ${format}: ${errorText(cause)}`, Code.InvalidArgument, {
    cause,
  });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The protobuf binary codec of a message type. */
export function createProtoCodec<Desc extends DescMessage>(desc: Desc): Codec<Desc> {
  return {
    name: "proto",
    encode(message) {
      try {
        return toBinary(desc, toMessage(desc, message));
      } catch (e) {
        throw encodeFailed(desc, "binary", e);
      }
    },
    decode(bytes) {
      try {
        return fromBinary(desc, bytes);
      } catch (e) {
        throw decodeFailed(desc, "binary", e);
      }
    },
  };
}

const registries = new WeakMap<DescFile, ReturnType<typeof createRegistry>>();

/** The types of a file and of everything it imports, built once per file. */
function fileRegistry(file: DescFile): ReturnType<typeof createRegistry> {
  let r = registries.get(file);
  if (!r) {
    const files = new Set<DescFile>();
    const add = (f: DescFile) => {
      if (files.has(f)) return;
      files.add(f);
      for (const d of f.dependencies) add(d);
    };
    add(file);
    r = createRegistry(...files);
    registries.set(file, r);
  }
  return r;
}

/** The protobuf JSON codec of a message type. */
export function createJsonCodec<Desc extends DescMessage>(desc: Desc, options: JsonOptions = {}): Codec<Desc> {
  // Unknown fields are ignored by default, as connect-go does: a newer peer's
  // extra fields must not break an older one.
  // google.protobuf.Any needs a registry to reach JSON; by default it knows
  // the types of the message's own file and its imports.
  const registry = options.registry ?? fileRegistry(desc.file);
  const read: Partial<JsonReadOptions> = { ignoreUnknownFields: true, ...options, registry };
  const write: Partial<JsonWriteOptions> = { ...options, registry };
  return {
    name: "json",
    encode(message) {
      try {
        return Buffer.from(toJsonString(desc, toMessage(desc, message), write));
      } catch (e) {
        throw encodeFailed(desc, "JSON", e);
      }
    },
    decode(bytes) {
      try {
        // An empty body is the empty message, as connect-go accepts it.
        if (bytes.byteLength === 0) return fromJsonString(desc, "{}", read);
        const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        // JSON is UTF-8 (RFC 8259 section 8.1), and toString would turn bad bytes into U+FFFD silently.
        if (!isUtf8(buf)) throw new Error("invalid UTF-8");
        return fromJsonString(desc, buf.toString("utf8"), read);
      } catch (e) {
        throw decodeFailed(desc, "JSON", e);
      }
    },
  };
}

/** The codec of a message type in the named format. */
export function createCodec<Desc extends DescMessage>(desc: Desc, name: CodecName, json?: JsonOptions): Codec<Desc> {
  return name === "proto" ? createProtoCodec(desc) : createJsonCodec(desc, json);
}
