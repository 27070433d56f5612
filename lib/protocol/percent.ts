/**
 * Decodes percent-encoding (RFC 3986, 2.1) to bytes: `%XX` becomes one byte,
 * every other character is taken as one byte (Latin-1), and a malformed
 * escape stays as it is. Connect GET's `message` parameter and gRPC's
 * grpc-message both use it; each decides what the bytes mean.
 */
export function percentDecode(s: string): Uint8Array {
  const bytes = Buffer.from(s, "latin1");
  if (!s.includes("%")) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1]);
      const lo = hexValue(bytes[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
