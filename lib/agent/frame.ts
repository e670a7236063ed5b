/**
 * The frames of the resident agent protocol (see `protocol.ts` for the
 * conversation): `ringdump agent` runs on the board and serves memory reads
 * over its stdin/stdout, in frames carrying libcamera `ipa_controls` packets.
 * * ## Frames
 *
 * Every message is a frame: a 16-byte little-endian header, then `length`
 * payload bytes.
 *
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `"RDC1"` |
 * | 4 | 1 | kind: 1 info map, 2 control list, 3 error, 4 data |
 * | 5 | 1 | flags (0) |
 * | 6 | 2 | reserved (0) |
 * | 8 | 4 | seq: the request id a reply answers; 0 for the hello |
 * | 12 | 4 | length of the payload |
 *
 * A reader checks the header and caps `length` before it reads the payload,
 * so a garbage or hostile peer costs a {@linkcode ProtocolError}, never a hang
 * or a huge allocation. An error frame's payload is a u32 errno-like code and
 * a UTF-8 message.
 *
 * @module
 */
import { BackendError } from "../errors.ts";
import { formatBytes, hex } from "../units.ts";

/**
 * The frame magic, `"RDC1"` read as a little-endian u32.
 *
 * @example
 * ```ts
 * import { FRAME_MAGIC } from "./frame.ts";
 * console.log(FRAME_MAGIC.toString(16)); // "31434452"
 * ```
 */
export const FRAME_MAGIC: number = 0x31434452;

/**
 * Bytes in a frame header.
 *
 * @example
 * ```ts
 * import { FRAME_HEADER_SIZE } from "./frame.ts";
 * console.log(FRAME_HEADER_SIZE); // 16
 * ```
 */
export const FRAME_HEADER_SIZE: number = 16;

/**
 * Largest payload of a frame that is not a data frame (maps, lists, errors).
 *
 * @example
 * ```ts
 * import { MAX_CONTROL_FRAME } from "./frame.ts";
 * console.log(MAX_CONTROL_FRAME); // 65536
 * ```
 */
export const MAX_CONTROL_FRAME: number = 64 * 1024;

/**
 * The default largest read the agent serves in one request (4 MiB); the
 * client splits larger reads.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_READ } from "./frame.ts";
 * console.log(DEFAULT_MAX_READ); // 4194304
 * ```
 */
export const DEFAULT_MAX_READ: number = 4 * 1024 * 1024;

/**
 * Frame kinds.
 *
 * @example
 * ```ts
 * import { FrameKind } from "./frame.ts";
 * console.log(FrameKind.InfoMap, FrameKind.List, FrameKind.Error, FrameKind.Data); // 1 2 3 4
 * ```
 */
export const FrameKind: {
  readonly InfoMap: 1;
  readonly List: 2;
  readonly Error: 3;
  readonly Data: 4;
} = Object.freeze({ InfoMap: 1, List: 2, Error: 3, Data: 4 } as const);

/**
 * One of the {@linkcode FrameKind} values.
 *
 * @example
 * ```ts
 * import { FrameKind } from "./frame.ts";
 * const kind: FrameKind = FrameKind.Data;
 * console.log(kind); // 4
 * ```
 */
export type FrameKind = 1 | 2 | 3 | 4;

/**
 * Errno-like codes of error frames and reply statuses (Linux numbering).
 *
 * @example
 * ```ts
 * import { AgentErrno } from "./frame.ts";
 * console.log(AgentErrno.EIO, AgentErrno.EPROTO); // 5 71
 * ```
 */
export const AgentErrno: {
  readonly EIO: 5;
  readonly EINVAL: 22;
  readonly ERANGE: 34;
  readonly EPROTO: 71;
  readonly EPROTONOSUPPORT: 93;
  readonly ETIMEDOUT: 110;
} = Object.freeze(
  {
    EIO: 5,
    EINVAL: 22,
    ERANGE: 34,
    EPROTO: 71,
    EPROTONOSUPPORT: 93,
    ETIMEDOUT: 110,
  } as const,
);

/**
 * The name of an errno-like code ({@linkcode AgentErrno}), or `error N`.
 *
 * @example
 * ```ts
 * import { errnoName } from "./frame.ts";
 * console.log(errnoName(5), errnoName(1)); // "EIO" "error 1"
 * ```
 */
export function errnoName(code: number): string {
  for (const [name, value] of Object.entries(AgentErrno)) if (value === code) return name;
  return `error ${code}`;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * The agent link broke its protocol: a malformed or oversized frame, an
 * unexpected message, an unsupported version, a peer that reported an error.
 * A backend error (exit code 3); `code` is the errno-like code
 * ({@linkcode AgentErrno}).
 *
 * @example
 * ```ts
 * import { AgentErrno, ProtocolError } from "./frame.ts";
 * const e = new ProtocolError("bad frame magic 0x0", { code: AgentErrno.EPROTO });
 * console.log(e.code, e.exitCode, e.backend); // 71 3 "agent"
 * ```
 */
export class ProtocolError extends BackendError {
  /** Errno-like code ({@linkcode AgentErrno}). */
  readonly code: number;
  /** Creates the error; the message is prefixed with "agent protocol: ". */
  constructor(
    message: string,
    options: { code?: number; backend?: string; stderr?: string; cause?: unknown } = {},
  ) {
    super(`agent protocol: ${message}`, {
      backend: options.backend ?? "agent",
      stderr: options.stderr,
      cause: options.cause,
    });
    this.code = options.code ?? AgentErrno.EPROTO;
  }
}

/**
 * A request to the agent got no reply in time. A backend error (exit code 3).
 *
 * @example
 * ```ts
 * import { AgentTimeoutError } from "./frame.ts";
 * const e = new AgentTimeoutError({ seq: 7, timeout: 5000, what: "read of 4096 bytes at 0x0" });
 * console.log(e.seq, e.timeout, e.exitCode); // 7 5000 3
 * ```
 */
export class AgentTimeoutError extends BackendError {
  /** The request's id. */
  readonly seq: number;
  /** The timeout, ms. */
  readonly timeout: number;
  /** Creates the error. */
  constructor(options: { seq: number; timeout: number; what: string; backend?: string }) {
    super(
      `agent: no reply to request ${options.seq} (${options.what}) within ${options.timeout} ms; ` +
        `the agent or the link is stuck`,
      { backend: options.backend ?? "agent" },
    );
    this.seq = options.seq;
    this.timeout = options.timeout;
  }
}

// ---------------------------------------------------------------------------
// Frame codec
// ---------------------------------------------------------------------------

/**
 * A decoded frame.
 *
 * @example
 * ```ts
 * import { type Frame, FrameKind } from "./frame.ts";
 * const f: Frame = { kind: FrameKind.Data, flags: 0, seq: 3, payload: new Uint8Array(8) };
 * console.log(f.payload.length); // 8
 * ```
 */
export interface Frame {
  /** What the payload is. */
  kind: FrameKind;
  /** Flags (0 in this version). */
  flags: number;
  /** Request id; 0 for the hello. */
  seq: number;
  /** The payload. */
  payload: Uint8Array;
}

/**
 * A decoded frame header.
 *
 * @example
 * ```ts
 * import { decodeFrameHeader, encodeFrame, FrameKind, type FrameHeader } from "./frame.ts";
 * const bytes = encodeFrame({ kind: FrameKind.List, flags: 0, seq: 1, payload: new Uint8Array(5) });
 * const h: FrameHeader = decodeFrameHeader(bytes);
 * console.log(h.length); // 5
 * ```
 */
export interface FrameHeader {
  /** What the payload is. */
  kind: FrameKind;
  /** Flags. */
  flags: number;
  /** Request id. */
  seq: number;
  /** Payload bytes. */
  length: number;
}

/**
 * Encodes a frame (header and payload) into one new buffer.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameKind } from "./frame.ts";
 * const bytes = encodeFrame({ kind: FrameKind.Data, flags: 0, seq: 2, payload: new Uint8Array([1, 2]) });
 * console.log(bytes.length, new TextDecoder().decode(bytes.subarray(0, 4))); // 18 "RDC1"
 * ```
 */
export function encodeFrame(frame: Frame): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + frame.payload.length);
  writeFrameHeader(out, { ...frame, length: frame.payload.length });
  out.set(frame.payload, FRAME_HEADER_SIZE);
  return out;
}

/**
 * Writes a frame header into the first {@linkcode FRAME_HEADER_SIZE} bytes of `out`.
 *
 * @example
 * ```ts
 * import { FrameKind, FRAME_HEADER_SIZE, writeFrameHeader } from "./frame.ts";
 * const out = new Uint8Array(FRAME_HEADER_SIZE + 4);
 * writeFrameHeader(out, { kind: FrameKind.Data, flags: 0, seq: 1, length: 4 });
 * ```
 */
export function writeFrameHeader(out: Uint8Array, h: FrameHeader): void {
  const v = new DataView(out.buffer, out.byteOffset, FRAME_HEADER_SIZE);
  v.setUint32(0, FRAME_MAGIC, true);
  v.setUint8(4, h.kind);
  v.setUint8(5, h.flags);
  v.setUint16(6, 0, true);
  v.setUint32(8, h.seq, true);
  v.setUint32(12, h.length, true);
}

/** Options of {@linkcode decodeFrameHeader} and {@linkcode decodeFrame}. */
export interface DecodeFrameOptions {
  /** Largest payload accepted for a data frame; default {@linkcode DEFAULT_MAX_READ}. */
  maxData?: number;
  /** Largest payload accepted for any other frame; default {@linkcode MAX_CONTROL_FRAME}. */
  maxControl?: number;
}

/**
 * Checks and decodes the 16-byte header at the start of `bytes`. Throws a
 * {@linkcode ProtocolError} for a short buffer, a bad magic, an unknown kind,
 * non-zero flags or reserved bits, or a length above the cap for its kind.
 *
 * @example
 * ```ts
 * import { decodeFrameHeader, ProtocolError } from "./frame.ts";
 * try {
 *   decodeFrameHeader(new TextEncoder().encode("SSH-2.0-OpenSSH_9"));
 * } catch (e) {
 *   if (e instanceof ProtocolError) console.log(e.message);
 * }
 * ```
 */
export function decodeFrameHeader(
  bytes: Uint8Array,
  options: DecodeFrameOptions = {},
): FrameHeader {
  if (bytes.length < FRAME_HEADER_SIZE) {
    throw new ProtocolError(
      `truncated frame header: ${bytes.length} of ${FRAME_HEADER_SIZE} bytes`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_SIZE);
  const magic = v.getUint32(0, true);
  if (magic !== FRAME_MAGIC) {
    throw new ProtocolError(
      `bad frame magic ${hex(magic)} (expected "RDC1"; got ${
        JSON.stringify(printable(bytes.subarray(0, FRAME_HEADER_SIZE)))
      }): the peer is not a ringdump agent of this version, or something wrote to its stdout`,
    );
  }
  const kind = v.getUint8(4);
  if (kind < 1 || kind > 4) throw new ProtocolError(`unknown frame kind ${kind}`);
  const flags = v.getUint8(5);
  if (flags !== 0) throw new ProtocolError(`unknown frame flags ${hex(flags)}`);
  const reserved = v.getUint16(6, true);
  if (reserved !== 0) throw new ProtocolError(`reserved frame field is ${hex(reserved)}, not 0`);
  const seq = v.getUint32(8, true);
  const length = v.getUint32(12, true);
  const cap = kind === FrameKind.Data
    ? options.maxData ?? DEFAULT_MAX_READ
    : options.maxControl ?? MAX_CONTROL_FRAME;
  if (length > cap) {
    throw new ProtocolError(
      `frame of kind ${kind} announces ${length} bytes; the limit is ${cap} (${formatBytes(cap)})`,
    );
  }
  return { kind: kind as FrameKind, flags, seq, length };
}

function printable(bytes: Uint8Array): string {
  return [...bytes].map((b) => b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".").join("");
}

/**
 * Decodes the frame at the start of `bytes`: the frame and the bytes it used,
 * or `undefined` when `bytes` holds only part of a frame (read more). The
 * payload is a view into `bytes`. Throws a {@linkcode ProtocolError} for a
 * malformed header (see {@linkcode decodeFrameHeader}).
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame, FrameKind } from "./frame.ts";
 * const bytes = encodeFrame({ kind: FrameKind.List, flags: 0, seq: 9, payload: new Uint8Array(3) });
 * console.log(decodeFrame(bytes)?.frame.seq, decodeFrame(bytes.subarray(0, 10))); // 9 undefined
 * ```
 */
export function decodeFrame(
  bytes: Uint8Array,
  options: DecodeFrameOptions = {},
): { frame: Frame; size: number } | undefined {
  if (bytes.length < FRAME_HEADER_SIZE) {
    // Fail early on garbage: whatever header bytes there are must match the magic.
    const magic = new Uint8Array(4);
    new DataView(magic.buffer).setUint32(0, FRAME_MAGIC, true);
    for (let i = 0; i < Math.min(4, bytes.length); i++) {
      if (bytes[i] !== magic[i]) decodeFrameHeader(padded(bytes));
    }
    return undefined;
  }
  const h = decodeFrameHeader(bytes, options);
  const size = FRAME_HEADER_SIZE + h.length;
  if (bytes.length < size) return undefined;
  return {
    frame: { kind: h.kind, flags: h.flags, seq: h.seq, payload: bytes.subarray(16, size) },
    size,
  };
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  out.set(bytes);
  return out;
}

/**
 * Encodes an error frame: a u32 code and a UTF-8 message.
 *
 * @example
 * ```ts
 * import { AgentErrno, decodeErrorPayload, decodeFrame, encodeErrorFrame } from "./frame.ts";
 * const bytes = encodeErrorFrame(4, { code: AgentErrno.EIO, message: "read failed" });
 * console.log(decodeErrorPayload(decodeFrame(bytes)!.frame.payload).message); // "read failed"
 * ```
 */
export function encodeErrorFrame(
  seq: number,
  error: { code: number; message: string },
): Uint8Array {
  const text = new TextEncoder().encode(error.message);
  const body = text.subarray(0, MAX_CONTROL_FRAME - 4);
  const payload = new Uint8Array(4 + body.length);
  new DataView(payload.buffer).setUint32(0, error.code, true);
  payload.set(body, 4);
  return encodeFrame({ kind: FrameKind.Error, flags: 0, seq, payload });
}

/**
 * Decodes an error frame's payload. Throws a {@linkcode ProtocolError} when it
 * is shorter than its code.
 *
 * @example
 * ```ts
 * import { decodeErrorPayload } from "./frame.ts";
 * const p = new Uint8Array([5, 0, 0, 0, 0x68, 0x69]);
 * console.log(decodeErrorPayload(p)); // { code: 5, message: "hi" }
 * ```
 */
export function decodeErrorPayload(payload: Uint8Array): { code: number; message: string } {
  if (payload.length < 4) {
    throw new ProtocolError(`error frame of ${payload.length} bytes has no code`);
  }
  const code = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
  const message = new TextDecoder().decode(payload.subarray(4)); // lossy: never throws
  return { code, message };
}

/**
 * Serializes writes to a stream: frames never interleave.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameKind, FrameWriter } from "./frame.ts";
 * const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
 * const writer = new FrameWriter(writable);
 * const done = writer.write(encodeFrame({ kind: FrameKind.Data, flags: 0, seq: 1, payload: new Uint8Array(2) }));
 * const reader = readable.getReader();
 * console.log((await reader.read()).value?.length); // 18
 * await done;
 * ```
 */
export class FrameWriter {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chain: Promise<void> = Promise.resolve();
  #failed: unknown;
  /** Writes to `stream`, which it locks. */
  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }
  /** Queues the chunks, in order and together; resolves when written. */
  write(...chunks: Uint8Array[]): Promise<void> {
    const p = this.#chain.then(async () => {
      if (this.#failed !== undefined) throw this.#failed;
      try {
        for (const c of chunks) await this.#writer.write(c);
      } catch (e) {
        this.#failed = e;
        throw e;
      }
    });
    this.#chain = p.catch(() => {});
    return p;
  }
  /** Waits for the queued writes, then closes the stream. */
  async close(): Promise<void> {
    await this.#chain;
    try {
      await this.#writer.close();
    } catch {
      // the peer is gone already
    }
  }
}
