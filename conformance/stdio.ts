// The suite's framing on stdin and stdout: each message is preceded by its
// size as a big-endian uint32 (docs/testing_servers.md, "Starting your server").
import type { Readable, Writable } from "node:stream";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

/** Reads size-delimited messages until EOF. A partial message at EOF is an error. */
export async function* readMessages<Desc extends DescMessage>(
  desc: Desc,
  input: Readable,
): AsyncGenerator<MessageShape<Desc>> {
  let buffered: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    buffered = buffered.byteLength === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    while (buffered.byteLength >= 4) {
      const size = buffered.readUInt32BE(0);
      if (buffered.byteLength < 4 + size) break;
      yield fromBinary(desc, buffered.subarray(4, 4 + size));
      buffered = buffered.subarray(4 + size);
    }
  }
  if (buffered.byteLength > 0) throw new Error(`stdin ended inside a message (${buffered.byteLength} bytes left)`);
}

/** Writes one size-delimited message in a single write, so concurrent writers never interleave. */
export function writeMessage<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>, out: Writable): void {
  const body = toBinary(desc, message);
  const frame = Buffer.allocUnsafe(4 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, 4);
  out.write(frame);
}
