/**
 * Reading a CTF trace's `metadata` file: plain TSDL text, or packetized as
 * LTTng writes it (packets of a 37-byte header, magic 0x75d11d57, then TSDL
 * text), into a {@linkcode CtfMetadata}. Every problem is a
 * {@linkcode TraceFormatError} naming the file and the byte offset.
 *
 * @module
 */
import { TraceFormatError } from "../errors.ts";
import { type CtfMetadata, parseTsdl, TsdlError } from "./tsdl.ts";

/** The magic number of a metadata packet. */
export const TSDL_MAGIC = 0x75d11d57;
const HEADER_BYTES = 37;

/** Where a piece of the metadata text came from in the file. */
interface Segment {
  text: number;
  file: number;
}

function fail(path: string, offset: number, why: string): TraceFormatError {
  return new TraceFormatError(`${path}: byte ${offset}: ${why}`, { path, format: "ctf", offset });
}

/**
 * The TSDL text of a metadata file's bytes, with the file offset each piece
 * of text starts at. Packetized metadata is unpacked; its version must be 1.8.
 *
 * @example
 * ```ts
 * import { metadataText } from "./metadata.ts";
 * const bytes = new TextEncoder().encode("/* CTF 1.8 *\/ trace { major = 1; minor = 8; };");
 * console.log(metadataText(bytes, "metadata").text.length); // 47
 * ```
 */
export function metadataText(
  bytes: Uint8Array,
  path: string,
): { text: string; segments: Segment[]; packetized: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes.length >= 4 && view.getUint32(0, true) === TSDL_MAGIC;
  const be = bytes.length >= 4 && view.getUint32(0, false) === TSDL_MAGIC;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  if (!le && !be) {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw fail(path, 0, "not CTF metadata (neither metadata packets nor TSDL text)");
    }
    if (!text.startsWith("/* CTF")) {
      throw fail(path, 0, "not CTF metadata (it does not start with '/* CTF 1.8 */')");
    }
    if (!text.startsWith("/* CTF 1.8")) {
      throw fail(
        path,
        0,
        `unknown CTF version '${text.slice(3, 12).trim()}'; only CTF 1.8 is read`,
      );
    }
    return { text, segments: [{ text: 0, file: 0 }], packetized: false };
  }
  const parts: Uint8Array[] = [];
  const segments: Segment[] = [];
  let textLength = 0;
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < HEADER_BYTES) {
      throw fail(
        path,
        off,
        `the metadata is truncated: ${bytes.length - off} bytes, less than a packet header`,
      );
    }
    if (view.getUint32(off, le) !== TSDL_MAGIC) {
      throw fail(path, off, "a metadata packet has a bad magic number");
    }
    const content = view.getUint32(off + 24, le);
    const size = view.getUint32(off + 28, le);
    const compression = bytes[off + 32], encryption = bytes[off + 33];
    const major = bytes[off + 35], minor = bytes[off + 36];
    if (major !== 1 || minor !== 8) {
      throw fail(path, off, `unknown CTF version ${major}.${minor}; only CTF 1.8 is read`);
    }
    if (compression !== 0 || encryption !== 0) {
      throw fail(path, off, "compressed or encrypted metadata is not supported");
    }
    if (content % 8 || size % 8 || content < HEADER_BYTES * 8 || content > size) {
      throw fail(
        path,
        off,
        `a metadata packet has bad sizes (content ${content}, packet ${size} bits)`,
      );
    }
    if (off + size / 8 > bytes.length) {
      throw fail(
        path,
        off,
        `the metadata is truncated: a packet declares ${size / 8} bytes, ${
          bytes.length - off
        } remain`,
      );
    }
    segments.push({ text: textLength, file: off + HEADER_BYTES });
    const piece = bytes.subarray(off + HEADER_BYTES, off + content / 8);
    parts.push(piece);
    textLength += piece.length;
    off += size / 8;
  }
  const all = new Uint8Array(textLength);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  let text: string;
  try {
    text = decoder.decode(all);
  } catch {
    throw fail(path, segments[0]?.file ?? 0, "the metadata text is not UTF-8");
  }
  return { text, segments, packetized: true };
}

/** The file offset of a byte offset in the metadata text. */
function fileOffset(segments: readonly Segment[], textOffset: number): number {
  let s = segments[0] ?? { text: 0, file: 0 };
  for (const seg of segments) if (seg.text <= textOffset) s = seg;
  return s.file + (textOffset - s.text);
}

/**
 * Parses a metadata file's bytes into a {@linkcode CtfMetadata}. Throws a
 * {@linkcode TraceFormatError} naming `path` and the byte offset for
 * metadata that is truncated, malformed or of another CTF version.
 *
 * @example
 * ```ts
 * import { parseMetadata } from "./metadata.ts";
 * const bytes = new TextEncoder().encode("/* CTF 1.8 *\/ trace { major = 1; minor = 8; byte_order = le; };");
 * console.log(parseMetadata(bytes, "metadata").byteOrder); // "le"
 * ```
 */
export function parseMetadata(bytes: Uint8Array, path: string): CtfMetadata {
  const { text, segments } = metadataText(bytes, path);
  let meta: CtfMetadata;
  try {
    meta = parseTsdl(text);
  } catch (e) {
    if (e instanceof TsdlError) {
      throw fail(
        path,
        fileOffset(segments, byteLength(text, e.offset)),
        `bad metadata: ${e.message}`,
      );
    }
    throw e;
  }
  if (meta.major !== 1 || meta.minor !== 8) {
    throw fail(path, 0, `unknown CTF version ${meta.major}.${meta.minor}; only CTF 1.8 is read`);
  }
  return meta;
}

/** UTF-8 length of the first `chars` UTF-16 units of `text`. */
function byteLength(text: string, chars: number): number {
  return new TextEncoder().encode(text.slice(0, chars)).length;
}
