/**
 * The resident agent protocol: `ringdump agent` runs on the board and serves
 * memory reads over its stdin/stdout, so a capture over SSH pays for one
 * process start, not one per read. The messages are libcamera `ipa_controls`
 * packets ({@linkcode ControlSerializer}, {@link ./controls.ts}) carried in
 * small frames.
 *
 * ## Frames
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
 * ## Conversation
 *
 * 1. Agent: an info map frame ({@linkcode agentInfoMap}: the protocol version,
 *    page size and largest read as the infos' defaults), then a hello list
 *    (seq 0) with the same values, the memory device in use and its origin.
 * 2. Client: checks the version (an error frame and a {@linkcode ProtocolError}
 *    on both sides when it is not {@linkcode AGENT_PROTOCOL_VERSION}), then a
 *    hello list (seq 0): its protocol version and the ring geometry, so the
 *    agent maps just that window.
 * 3. Agent: opens the memory and answers with a list (seq 0) holding status 0,
 *    or an error frame saying why it cannot.
 * 4. Requests (seq 1, 2, ...): a list with the op (read a register, read a
 *    range), the address, and the width or length. The reply is a list with
 *    the same seq: the status, the register value or an error message; for a
 *    range with status 0 a data frame with the same seq follows, holding the
 *    bytes. Requests may be pipelined; replies are matched by seq.
 *
 * There is no write request: the agent only reads memory.
 *
 * @module
 */
import {
  ControlId,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlSerializerError,
  ControlType,
  type ControlValue,
  int32Value,
  int64Value,
  stringValue,
} from "./controls.ts";
import { BackendError } from "./errors.ts";
import { type RingGeometry, ringGeometry } from "./ring.ts";
import { formatBytes, hex } from "./units.ts";
import type { Backend, RegisterWidth } from "../backends/mod.ts";

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/**
 * The agent protocol version this module speaks (and the only one it accepts).
 *
 * @example
 * ```ts
 * import { AGENT_PROTOCOL_VERSION } from "./agent.ts";
 * console.log(AGENT_PROTOCOL_VERSION); // 1
 * ```
 */
export const AGENT_PROTOCOL_VERSION: number = 1;

/**
 * The frame magic, `"RDC1"` read as a little-endian u32.
 *
 * @example
 * ```ts
 * import { FRAME_MAGIC } from "./agent.ts";
 * console.log(FRAME_MAGIC.toString(16)); // "31434452"
 * ```
 */
export const FRAME_MAGIC: number = 0x31434452;

/**
 * Bytes in a frame header.
 *
 * @example
 * ```ts
 * import { FRAME_HEADER_SIZE } from "./agent.ts";
 * console.log(FRAME_HEADER_SIZE); // 16
 * ```
 */
export const FRAME_HEADER_SIZE: number = 16;

/**
 * Largest payload of a frame that is not a data frame (maps, lists, errors).
 *
 * @example
 * ```ts
 * import { MAX_CONTROL_FRAME } from "./agent.ts";
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
 * import { DEFAULT_MAX_READ } from "./agent.ts";
 * console.log(DEFAULT_MAX_READ); // 4194304
 * ```
 */
export const DEFAULT_MAX_READ: number = 4 * 1024 * 1024;

/**
 * Frame kinds.
 *
 * @example
 * ```ts
 * import { FrameKind } from "./agent.ts";
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
 * import { FrameKind } from "./agent.ts";
 * const kind: FrameKind = FrameKind.Data;
 * console.log(kind); // 4
 * ```
 */
export type FrameKind = 1 | 2 | 3 | 4;

/**
 * Request ops.
 *
 * @example
 * ```ts
 * import { AgentOp } from "./agent.ts";
 * console.log(AgentOp.ReadRegister, AgentOp.ReadRange); // 1 2
 * ```
 */
export const AgentOp: { readonly ReadRegister: 1; readonly ReadRange: 2 } = Object.freeze(
  { ReadRegister: 1, ReadRange: 2 } as const,
);

/**
 * Errno-like codes of error frames and reply statuses (Linux numbering).
 *
 * @example
 * ```ts
 * import { AgentErrno } from "./agent.ts";
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    Deno.unrefTimer(t);
  });
}

function errnoName(code: number): string {
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
 * import { AgentErrno, ProtocolError } from "./agent.ts";
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
 * import { AgentTimeoutError } from "./agent.ts";
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
 * import { type Frame, FrameKind } from "./agent.ts";
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
 * import { decodeFrameHeader, encodeFrame, FrameKind, type FrameHeader } from "./agent.ts";
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
 * import { encodeFrame, FrameKind } from "./agent.ts";
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

function writeFrameHeader(out: Uint8Array, h: FrameHeader): void {
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
 * import { decodeFrameHeader, ProtocolError } from "./agent.ts";
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
 * import { decodeFrame, encodeFrame, FrameKind } from "./agent.ts";
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
 * import { AgentErrno, decodeErrorPayload, decodeFrame, encodeErrorFrame } from "./agent.ts";
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
 * import { decodeErrorPayload } from "./agent.ts";
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
 * Reads frames from a byte stream, one at a time, checking every header
 * before reading its payload. `read()` resolves to `null` at a clean end of
 * stream (between frames) and throws a {@linkcode ProtocolError} for a
 * malformed frame or a stream that ends inside one.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameKind, FrameReader } from "./agent.ts";
 * const bytes = encodeFrame({ kind: FrameKind.Data, flags: 0, seq: 1, payload: new Uint8Array(4) });
 * const reader = new FrameReader(ReadableStream.from([bytes.subarray(0, 7), bytes.subarray(7)]));
 * console.log((await reader.read())?.payload.length, await reader.read()); // 4 null
 * ```
 */
export class FrameReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #options: DecodeFrameOptions;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #eof = false;

  /** Creates a reader of `stream`, which it locks. */
  constructor(stream: ReadableStream<Uint8Array>, options: DecodeFrameOptions = {}) {
    this.#reader = stream.getReader();
    this.#options = { ...options };
  }

  /** Changes the payload caps (e.g. once the hello has told the largest read). */
  setLimits(options: DecodeFrameOptions): void {
    Object.assign(this.#options, options);
  }

  /** The next frame (its payload is a fresh copy), or `null` at a clean end. */
  async read(): Promise<Frame | null> {
    while (true) {
      const have = this.#buf.subarray(this.#start, this.#end);
      const decoded = decodeFrame(have, this.#options);
      if (decoded !== undefined) {
        this.#start += decoded.size;
        const f = decoded.frame;
        return { kind: f.kind, flags: f.flags, seq: f.seq, payload: f.payload.slice() };
      }
      if (this.#eof) {
        if (have.length === 0) return null;
        throw new ProtocolError(
          `the stream ended inside a frame (${have.length} bytes of a frame received)`,
          { code: AgentErrno.EPROTO },
        );
      }
      await this.#fill();
    }
  }

  async #fill(): Promise<void> {
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#eof = true;
      return;
    }
    if (!value || value.length === 0) return;
    const used = this.#end - this.#start;
    if (this.#end + value.length > this.#buf.length) {
      if (used + value.length <= this.#buf.length && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, used + value.length));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(value, this.#end);
    this.#end += value.length;
    // Give memory back after a big frame.
    if (this.#start === this.#end && this.#buf.length > 1024 * 1024) {
      this.#buf = new Uint8Array(64 * 1024);
      this.#start = this.#end = 0;
    }
  }

  /** Stops reading and releases the stream. */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch {
      // already errored or closed
    }
  }
}

// ---------------------------------------------------------------------------
// Controls of the protocol
// ---------------------------------------------------------------------------

const i32 = ControlType.Integer32;
const i64 = ControlType.Integer64;
const str = ControlType.String;

/**
 * The controls of the agent protocol (ids 1..17, a local id map).
 *
 * @example
 * ```ts
 * import { AgentControls } from "./agent.ts";
 * console.log(AgentControls.Address.id, AgentControls.Address.name); // 7 "Address"
 * ```
 */
export const AgentControls: {
  readonly ProtocolVersion: ControlId;
  readonly PageSize: ControlId;
  readonly MaxRead: ControlId;
  readonly MemoryDevice: ControlId;
  readonly Origin: ControlId;
  readonly Op: ControlId;
  readonly Address: ControlId;
  readonly Width: ControlId;
  readonly Length: ControlId;
  readonly Status: ControlId;
  readonly Value: ControlId;
  readonly Message: ControlId;
  readonly RingBase: ControlId;
  readonly RingPageSize: ControlId;
  readonly RingPages: ControlId;
  readonly CounterAddress: ControlId;
  readonly CounterWrap: ControlId;
} = Object.freeze({
  ProtocolVersion: new ControlId(1, "ProtocolVersion", { type: i32 }),
  PageSize: new ControlId(2, "PageSize", { type: i32 }),
  MaxRead: new ControlId(3, "MaxRead", { type: i32 }),
  MemoryDevice: new ControlId(4, "MemoryDevice", { type: str }),
  Origin: new ControlId(5, "Origin", { type: i64 }),
  Op: new ControlId(6, "Op", { type: i32 }),
  Address: new ControlId(7, "Address", { type: i64 }),
  Width: new ControlId(8, "Width", { type: i32 }),
  Length: new ControlId(9, "Length", { type: i32 }),
  Status: new ControlId(10, "Status", { type: i32 }),
  Value: new ControlId(11, "Value", { type: i64 }),
  Message: new ControlId(12, "Message", { type: str }),
  RingBase: new ControlId(13, "RingBase", { type: i64 }),
  RingPageSize: new ControlId(14, "RingPageSize", { type: i32 }),
  RingPages: new ControlId(15, "RingPages", { type: i32 }),
  CounterAddress: new ControlId(16, "CounterAddress", { type: i64 }),
  CounterWrap: new ControlId(17, "CounterWrap", { type: i64 }),
});

const C = AgentControls;

/**
 * The info map an agent offers in its hello: every protocol control, with
 * the protocol version, page size and largest read as fixed values
 * (min = max = default).
 *
 * @example
 * ```ts
 * import { agentInfoMap } from "./agent.ts";
 * const map = agentInfoMap({ pageSize: 4096, maxRead: 1 << 20 });
 * console.log(map.get(3)?.def.values); // [1048576]
 * ```
 */
export function agentInfoMap(
  options: { pageSize: number; maxRead: number; protocolVersion?: number },
): ControlInfoMap {
  const fixed = (v: number) =>
    new ControlInfo(int32Value(v), int32Value(v), { def: int32Value(v) });
  const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
  return new ControlInfoMap([
    [C.ProtocolVersion, fixed(version)],
    [C.PageSize, fixed(options.pageSize)],
    [C.MaxRead, fixed(options.maxRead)],
    [C.MemoryDevice, new ControlInfo(int32Value(0), int32Value(4096))],
    [C.Origin, new ControlInfo()],
    [
      C.Op,
      new ControlInfo(int32Value(AgentOp.ReadRegister), int32Value(AgentOp.ReadRange)),
    ],
    [C.Address, new ControlInfo()],
    [C.Width, new ControlInfo(int32Value(8), int32Value(64))],
    [C.Length, new ControlInfo(int32Value(1), int32Value(options.maxRead))],
    [C.Status, new ControlInfo()],
    [C.Value, new ControlInfo()],
    [C.Message, new ControlInfo()],
    [C.RingBase, new ControlInfo()],
    [C.RingPageSize, new ControlInfo()],
    [C.RingPages, new ControlInfo()],
    [C.CounterAddress, new ControlInfo()],
    [C.CounterWrap, new ControlInfo()],
  ]);
}

const ALL_CONTROLS = Object.values(AgentControls);

function intOf(list: ControlList, id: ControlId): number | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.Integer32 ? v.values[0] : undefined;
}

function bigOf(list: ControlList, id: ControlId): bigint | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.Integer64 ? v.values[0] : undefined;
}

function strOf(list: ControlList, id: ControlId): string | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.String ? v.values[0] : undefined;
}

function defOf(map: ControlInfoMap, id: ControlId): number | undefined {
  const v = map.get(id)?.def;
  return v && v.type === ControlType.Integer32 ? v.values[0] : undefined;
}

/** `u64` as the wire's `int64`, and back. */
const toWire = (v: bigint): ControlValue => int64Value(BigInt.asIntN(64, v));
const fromWire = (v: bigint): bigint => BigInt.asUintN(64, v);

function serializeFrame(
  serializer: ControlSerializer,
  what: ControlInfoMap | ControlList,
  seq: number,
): Uint8Array {
  const size = serializer.binarySize(what);
  const out = new Uint8Array(FRAME_HEADER_SIZE + size);
  serializer.serialize(what, out.subarray(FRAME_HEADER_SIZE));
  writeFrameHeader(out, {
    kind: what instanceof ControlList ? FrameKind.List : FrameKind.InfoMap,
    flags: 0,
    seq,
    length: size,
  });
  return out;
}

function asProtocolError(e: unknown, what: string): unknown {
  if (e instanceof ControlSerializerError) {
    return new ProtocolError(`${what}: ${e.message}`, { code: AgentErrno.EPROTO, cause: e });
  }
  return e;
}

/** Serializes writes to a stream: frames never interleave. */
class FrameWriter {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chain: Promise<void> = Promise.resolve();
  #failed: unknown;
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
  async close(): Promise<void> {
    await this.#chain;
    try {
      await this.#writer.close();
    } catch {
      // the peer is gone already
    }
  }
}

// ---------------------------------------------------------------------------
// The agent (server side)
// ---------------------------------------------------------------------------

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** Where requests come from (the agent's stdin). */
  input: ReadableStream<Uint8Array>;
  /** Where replies go (the agent's stdout). */
  output: WritableStream<Uint8Array>;
  /**
   * Opens the memory for the ring the client names in its hello (e.g. the
   * devmem backend over `/dev/mem` or an image file).
   */
  open: (geometry: RingGeometry) => Promise<Backend>;
  /** The memory device, as reported in the hello (e.g. `/dev/mem`). */
  memory: string;
  /** Physical address of the device's byte 0, as reported in the hello; default 0. */
  origin?: bigint;
  /** Page size reported in the hello; default 4096. */
  pageSize?: number;
  /** Largest read served in one request; default {@linkcode DEFAULT_MAX_READ}. */
  maxRead?: number;
  /** Protocol version to offer (tests only); default {@linkcode AGENT_PROTOCOL_VERSION}. */
  protocolVersion?: number;
}

/** What an agent did, for its log. */
export interface AgentStats {
  /** Requests served (including failed ones). */
  requests: number;
  /** Bytes of ranges sent. */
  bytes: number;
}

/**
 * Serves one client on a pair of streams until the client closes its end
 * (then resolves) or breaks the protocol (then sends an error frame and
 * throws a {@linkcode ProtocolError}). A read that fails is answered with a
 * non-zero status and the message; the agent goes on.
 *
 * @example
 * ```ts
 * import { AgentClient, runAgent } from "./agent.ts";
 * import { openSim } from "../backends/sim.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const served = runAgent({
 *   input: up.readable,
 *   output: down.writable,
 *   memory: "sim",
 *   open: (g) => Promise.resolve(openSim(g, { pattern: "counter" })),
 * });
 * const client = await AgentClient.connect({ readable: down.readable, writable: up.writable }, { geometry });
 * console.log(await client.readRegister(geometry.counterAddress, 32)); // 0n
 * await client.close();
 * await served;
 * ```
 */
export async function runAgent(options: AgentOptions): Promise<AgentStats> {
  const maxRead = options.maxRead ?? DEFAULT_MAX_READ;
  const pageSize = options.pageSize ?? 4096;
  const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
  if (!Number.isSafeInteger(maxRead) || maxRead < 1 || maxRead > 0x7fff_ffff) {
    throw new ProtocolError(`max read must be between 1 and 2^31-1 bytes (got ${maxRead})`, {
      code: AgentErrno.EINVAL,
    });
  }
  const serializer = new ControlSerializer({ role: "proxy" });
  const reader = new FrameReader(options.input, { maxData: 0 });
  const writer = new FrameWriter(options.output);
  const stats: AgentStats = { requests: 0, bytes: 0 };
  let backend: Backend | undefined;

  const fatal = async (error: ProtocolError): Promise<never> => {
    try {
      await writer.write(encodeErrorFrame(0, { code: error.code, message: error.message }));
    } catch {
      // the client is gone; the local message is all there is
    }
    throw error;
  };

  try {
    // 1. Hello: the map, then the hello list.
    const map = agentInfoMap({ pageSize, maxRead, protocolVersion: version });
    const hello = new ControlList(map)
      .set(C.ProtocolVersion, int32Value(version))
      .set(C.PageSize, int32Value(pageSize))
      .set(C.MaxRead, int32Value(maxRead))
      .set(C.MemoryDevice, stringValue(options.memory))
      .set(C.Origin, toWire(options.origin ?? 0n));
    // One chunk, so a client that refuses the map has no half-written hello to wait for.
    const mapFrame = serializeFrame(serializer, map, 0);
    const helloFrame = serializeFrame(serializer, hello, 0);
    const both = new Uint8Array(mapFrame.length + helloFrame.length);
    both.set(mapFrame);
    both.set(helloFrame, mapFrame.length);
    try {
      await writer.write(both);
    } catch (e) {
      // The client stopped listening; it may have said why before it went.
      const said = await Promise.race([
        reader.read().catch(() => null),
        new Promise<null>((r) => setTimeout(() => r(null), 1000)),
      ]);
      if (said?.kind === FrameKind.Error) {
        const { code, message } = decodeErrorPayload(said.payload);
        throw new ProtocolError(`the client gave up: ${message}`, { code });
      }
      throw new ProtocolError(
        `cannot send the hello: the client went away (${(e as Error).message})`,
        {
          cause: e,
        },
      );
    }

    // 2. The client's hello.
    let first: Frame | null;
    try {
      first = await reader.read();
    } catch (e) {
      if (e instanceof ProtocolError) return await fatal(e);
      throw e;
    }
    if (first === null) return stats; // the client looked and left
    if (first.kind === FrameKind.Error) {
      const { code, message } = decodeErrorPayload(first.payload);
      throw new ProtocolError(`the client gave up: ${message}`, { code });
    }
    if (first.kind !== FrameKind.List || first.seq !== 0) {
      return await fatal(
        new ProtocolError(
          `expected the client's hello (a list with seq 0), got a frame of kind ${first.kind} seq ${first.seq}`,
        ),
      );
    }
    let clientHello: ControlList;
    try {
      clientHello = serializer.deserializeList(first.payload);
    } catch (e) {
      return await fatal(asProtocolError(e, "the client's hello") as ProtocolError);
    }
    const clientVersion = intOf(clientHello, C.ProtocolVersion);
    if (clientVersion !== version) {
      return await fatal(
        new ProtocolError(
          `the client speaks protocol version ${
            clientVersion ?? "(none)"
          }, this agent speaks ${version}; ` +
            `deploy the same ringdump on both sides (ringdump deploy)`,
          { code: AgentErrno.EPROTONOSUPPORT },
        ),
      );
    }
    let geometry: RingGeometry;
    try {
      geometry = ringGeometry({
        base: fromWire(bigOf(clientHello, C.RingBase) ?? 0n),
        pageSize: intOf(clientHello, C.RingPageSize) ?? 0,
        pages: intOf(clientHello, C.RingPages) ?? 0,
        counterAddress: fromWire(bigOf(clientHello, C.CounterAddress) ?? 0n),
        counterWrap: Number(bigOf(clientHello, C.CounterWrap) ?? 0n),
      });
    } catch (e) {
      return await fatal(
        new ProtocolError(`the client's hello has a bad ring geometry: ${(e as Error).message}`, {
          code: AgentErrno.EINVAL,
        }),
      );
    }

    // 3. Open the memory; say whether it worked.
    try {
      backend = await options.open(geometry);
    } catch (e) {
      const message = `cannot open ${options.memory}: ${(e as Error).message}`;
      await writer.write(encodeErrorFrame(0, { code: AgentErrno.EIO, message })).catch(() => {});
      throw new BackendError(message, { backend: "agent", cause: e });
    }
    await writer.write(
      serializeFrame(serializer, new ControlList(map).set(C.Status, int32Value(0)), 0),
    );

    // 4. Requests, until the client closes its end.
    while (true) {
      let frame: Frame | null;
      try {
        frame = await reader.read();
      } catch (e) {
        if (e instanceof ProtocolError) return await fatal(e);
        throw e;
      }
      if (frame === null) return stats;
      if (frame.kind === FrameKind.Error) {
        const { code, message } = decodeErrorPayload(frame.payload);
        throw new ProtocolError(`the client reported: ${message}`, { code });
      }
      if (frame.kind !== FrameKind.List || frame.seq === 0) {
        return await fatal(
          new ProtocolError(
            `expected a request (a list with seq > 0), got a frame of kind ${frame.kind} seq ${frame.seq}`,
          ),
        );
      }
      let request: ControlList;
      try {
        request = serializer.deserializeList(frame.payload);
      } catch (e) {
        return await fatal(asProtocolError(e, `request ${frame.seq}`) as ProtocolError);
      }
      stats.requests++;
      const reply = await serve(backend, request, { seq: frame.seq, maxRead, map });
      const head = serializeFrame(serializer, reply.list, frame.seq);
      if (reply.data) stats.bytes += reply.data.length - FRAME_HEADER_SIZE;
      try {
        await writer.write(...(reply.data ? [head, reply.data] : [head]));
      } catch (e) {
        throw new BackendError(
          `agent: cannot send the reply to request ${frame.seq}: the client went away (${
            (e as Error).message
          })`,
          { backend: "agent", cause: e },
        );
      }
    }
  } finally {
    await reader.cancel();
    await writer.close();
    await backend?.close();
  }
}

async function serve(
  backend: Backend,
  request: ControlList,
  ctx: { seq: number; maxRead: number; map: ControlInfoMap },
): Promise<{ list: ControlList; data?: Uint8Array }> {
  const fail = (code: number, message: string) => ({
    list: new ControlList(ctx.map).set(C.Status, int32Value(code)).set(
      C.Message,
      stringValue(message),
    ),
  });
  const op = intOf(request, C.Op);
  const address = bigOf(request, C.Address);
  if (address === undefined) return fail(AgentErrno.EINVAL, "request without an address");
  const addr = fromWire(address);
  try {
    if (op === AgentOp.ReadRegister) {
      const width = intOf(request, C.Width);
      if (width !== 8 && width !== 16 && width !== 32 && width !== 64) {
        return fail(AgentErrno.EINVAL, `register width ${width} is not 8, 16, 32 or 64`);
      }
      const value = await backend.readRegister(addr, width as RegisterWidth);
      return {
        list: new ControlList(ctx.map).set(C.Status, int32Value(0)).set(C.Value, toWire(value)),
      };
    }
    if (op === AgentOp.ReadRange) {
      const length = intOf(request, C.Length);
      if (length === undefined || length < 1 || length > ctx.maxRead) {
        return fail(
          AgentErrno.ERANGE,
          `read length ${length} is not between 1 and the agent's largest read ${ctx.maxRead}`,
        );
      }
      const data = new Uint8Array(FRAME_HEADER_SIZE + length);
      await backend.read(addr, data.subarray(FRAME_HEADER_SIZE));
      writeFrameHeader(data, { kind: FrameKind.Data, flags: 0, seq: ctx.seq, length });
      return { list: new ControlList(ctx.map).set(C.Status, int32Value(0)), data };
    }
    return fail(
      AgentErrno.EINVAL,
      `unknown op ${op ?? "(none)"}: the agent only reads registers (1) and ranges (2); ` +
        `it has no write request`,
    );
  } catch (e) {
    return fail(AgentErrno.EIO, (e as Error).message ?? String(e));
  }
}

// ---------------------------------------------------------------------------
// The client (a Backend)
// ---------------------------------------------------------------------------

/** What the agent said in its hello. */
export interface AgentHello {
  /** Protocol version. */
  protocolVersion: number;
  /** The agent's page size. */
  pageSize: number;
  /** Largest read the agent serves in one request. */
  maxRead: number;
  /** The memory device the agent reads, e.g. `/dev/mem`. */
  memoryDevice: string;
  /** Physical address of the device's byte 0. */
  origin: bigint;
}

/** Options of {@linkcode AgentClient.connect}. */
export interface AgentClientOptions {
  /** The ring to capture; sent to the agent so it maps that window. */
  geometry: RingGeometry;
  /** Timeout of every request, ms; default 10000. */
  timeout?: number;
  /** Timeout of the hello (the agent's start-up), ms; default 30000. */
  helloTimeout?: number;
  /** Backend name used in errors and `name`; default `agent`. */
  name?: string;
  /** What the agent process wrote to stderr so far, for error messages. */
  stderr?: () => string;
  /** Runs on `close()` after the streams are closed (e.g. waits for the process). */
  onClose?: () => Promise<void>;
  /** Protocol version to speak (tests only); default {@linkcode AGENT_PROTOCOL_VERSION}. */
  protocolVersion?: number;
  /** Aborts the hello. */
  signal?: AbortSignal;
}

interface Pending {
  seq: number;
  what: string;
  resolve: (v: bigint | undefined) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
  /** For a range: where the data frame goes, once a status-0 reply came. */
  dest?: Uint8Array;
  awaitingData?: boolean;
  address: bigint;
}

/**
 * A {@linkcode Backend} that reads through an agent on the other end of a
 * pair of streams (a subprocess's stdout/stdin, an SSH channel). Requests are
 * pipelined and matched to replies by id; a read larger than the agent's
 * largest read is split into several requests in flight at once. Every
 * request has a timeout ({@linkcode AgentTimeoutError}); a peer that goes away
 * or breaks the protocol fails every pending and later request with a
 * {@linkcode BackendError} that says so (with the agent's stderr when known).
 *
 * @example
 * ```ts ignore
 * import { AgentClient } from "./agent.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const child = new Deno.Command("ringdump", {
 *   args: ["agent", "--mem", "/dev/shm/ring.img"],
 *   stdin: "piped",
 *   stdout: "piped",
 * }).spawn();
 * const client = await AgentClient.connect(
 *   { readable: child.stdout, writable: child.stdin },
 *   { geometry },
 * );
 * console.log(client.hello.memoryDevice, await client.readRegister(geometry.counterAddress, 32));
 * await client.close();
 * ```
 */
export class AgentClient implements Backend {
  /** Backend name (`agent` unless given). */
  readonly name: string;
  /** What the agent said in its hello. */
  readonly hello: AgentHello;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #serializer: ControlSerializer;
  readonly #map: ControlInfoMap;
  readonly #timeout: number;
  readonly #stderr?: () => string;
  readonly #onClose?: () => Promise<void>;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #failure: BackendError | undefined;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();

  private constructor(
    parts: {
      reader: FrameReader;
      writer: FrameWriter;
      serializer: ControlSerializer;
      map: ControlInfoMap;
      hello: AgentHello;
    },
    options: AgentClientOptions,
  ) {
    this.name = options.name ?? "agent";
    this.hello = parts.hello;
    this.#reader = parts.reader;
    this.#writer = parts.writer;
    this.#serializer = parts.serializer;
    this.#map = parts.map;
    this.#timeout = options.timeout ?? 10_000;
    this.#stderr = options.stderr;
    this.#onClose = options.onClose;
  }

  /**
   * Does the hello with the agent at the other end of `streams` and returns a
   * client ready for reads. Throws a {@linkcode ProtocolError} for an
   * unsupported version or a malformed hello, a {@linkcode BackendError} when
   * the agent cannot open its memory or goes away, an
   * {@linkcode AgentTimeoutError} when it says nothing in time.
   */
  static async connect(
    streams: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
    options: AgentClientOptions,
  ): Promise<AgentClient> {
    const name = options.name ?? "agent";
    const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
    const reader = new FrameReader(streams.readable, { maxData: 0 });
    const writer = new FrameWriter(streams.writable);
    const serializer = new ControlSerializer({ role: "worker" });
    const helloTimeout = options.helloTimeout ?? 30_000;
    const stderrNote = () => {
      const s = options.stderr?.().trim();
      if (!s) return "";
      const hint = /not found|No such file or directory|cannot execute|Permission denied/i.test(s)
        ? " (is ringdump installed there? put it there with 'ringdump deploy', or name the command " +
          "that runs it with agent=CMD)"
        : "";
      return `; the agent said: ${s}${hint}`;
    };
    const closeAll = async () => {
      // End our side first and let the agent end its own (after reading an
      // error frame we sent), so it exits with its own clear message.
      await Promise.race([writer.close(), sleep(1000)]);
      await Promise.race([
        (async () => {
          try {
            while (await reader.read() !== null) { /* drain */ }
          } catch { /* broken frames: it is going away anyway */ }
        })(),
        sleep(1000),
      ]);
      await reader.cancel();
      await options.onClose?.();
    };

    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BackendError(
              `${name}: the agent did not say hello within ${helloTimeout} ms${stderrNote()}`,
              { backend: name, stderr: options.stderr?.() },
            ),
          ),
        helloTimeout,
      );
      onAbort = () =>
        reject(new BackendError(`${name}: aborted during the hello`, { backend: name }));
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    deadline.catch(() => {}); // rejections are seen through Promise.race

    const next = async (what: string): Promise<Frame> => {
      let frame: Frame | null;
      try {
        frame = await Promise.race([reader.read(), deadline]);
      } catch (e) {
        if (e instanceof ProtocolError) {
          // Let the note about stderr reach the user: the cause is often a crash message.
          throw new ProtocolError(`${e.message.replace(/^agent protocol: /, "")}${stderrNote()}`, {
            code: e.code,
            backend: name,
            stderr: options.stderr?.(),
            cause: e,
          });
        }
        throw e;
      }
      if (frame === null) {
        // Give the process a moment to finish writing its stderr.
        await new Promise((r) => setTimeout(r, 50));
        throw new BackendError(
          `${name}: the agent went away before ${what}${stderrNote()}`,
          { backend: name, stderr: options.stderr?.() },
        );
      }
      if (frame.kind === FrameKind.Error) {
        const { code, message } = decodeErrorPayload(frame.payload);
        const text = message.replace(/^agent protocol: /, "");
        throw code === AgentErrno.EIO
          ? new BackendError(`${name}: ${text}`, { backend: name, stderr: options.stderr?.() })
          : new ProtocolError(`the agent refused: ${text}`, { code, backend: name });
      }
      return frame;
    };
    const refuse = async (error: ProtocolError): Promise<never> => {
      await Promise.race([
        writer.write(encodeErrorFrame(0, { code: error.code, message: error.message }))
          .catch(() => {}),
        sleep(1000),
      ]);
      throw error;
    };

    try {
      const mapFrame = await next("its hello");
      if (mapFrame.kind !== FrameKind.InfoMap) {
        await refuse(
          new ProtocolError(`expected the agent's info map, got a frame of kind ${mapFrame.kind}`, {
            backend: name,
          }),
        );
      }
      let map: ControlInfoMap;
      try {
        map = serializer.deserializeInfoMap(mapFrame.payload, { controls: ALL_CONTROLS });
      } catch (e) {
        return await refuse(asProtocolError(e, "the agent's info map") as ProtocolError);
      }
      const agentVersion = defOf(map, C.ProtocolVersion);
      if (agentVersion !== version) {
        await refuse(
          new ProtocolError(
            `the agent speaks protocol version ${
              agentVersion ?? "(none)"
            }, this ringdump speaks ${version}; ` +
              `deploy the same ringdump on both sides (ringdump deploy)`,
            { code: AgentErrno.EPROTONOSUPPORT, backend: name },
          ),
        );
      }
      const helloFrame = await next("its hello list");
      let helloList: ControlList;
      try {
        if (helloFrame.kind !== FrameKind.List || helloFrame.seq !== 0) {
          throw new ProtocolError(`expected the agent's hello list, got kind ${helloFrame.kind}`);
        }
        helloList = serializer.deserializeList(helloFrame.payload);
      } catch (e) {
        return await refuse(asProtocolError(e, "the agent's hello") as ProtocolError);
      }
      const hello: AgentHello = {
        protocolVersion: agentVersion!,
        pageSize: intOf(helloList, C.PageSize) ?? 0,
        maxRead: intOf(helloList, C.MaxRead) ?? 0,
        memoryDevice: strOf(helloList, C.MemoryDevice) ?? "",
        origin: fromWire(bigOf(helloList, C.Origin) ?? 0n),
      };
      if (!(hello.maxRead > 0)) {
        await refuse(new ProtocolError(`the agent's largest read is ${hello.maxRead}`));
      }
      reader.setLimits({ maxData: hello.maxRead });

      const g = options.geometry;
      const mine = new ControlList(map)
        .set(C.ProtocolVersion, int32Value(version))
        .set(C.RingBase, toWire(g.base))
        .set(C.RingPageSize, int32Value(g.pageSize))
        .set(C.RingPages, int32Value(g.pages))
        .set(C.CounterAddress, toWire(g.counterAddress))
        .set(C.CounterWrap, int64Value(g.counterWrap));
      await writer.write(serializeFrame(serializer, mine, 0)).catch((e) => {
        throw new BackendError(`${name}: cannot send the hello: ${e.message}${stderrNote()}`, {
          backend: name,
        });
      });
      const ready = await next("it opened its memory");
      let status: number | undefined;
      try {
        if (ready.kind !== FrameKind.List || ready.seq !== 0) {
          throw new ProtocolError(`expected the agent's ready reply, got kind ${ready.kind}`);
        }
        status = intOf(serializer.deserializeList(ready.payload), C.Status);
      } catch (e) {
        return await refuse(asProtocolError(e, "the agent's ready reply") as ProtocolError);
      }
      if (status !== 0) await refuse(new ProtocolError(`the agent's ready status is ${status}`));

      const client = new AgentClient({ reader, writer, serializer, map, hello }, options);
      client.#loop = client.#readLoop();
      return client;
    } catch (e) {
      await closeAll();
      throw e;
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Reads a register through the agent. */
  readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    const list = new ControlList(this.#map)
      .set(C.Op, int32Value(AgentOp.ReadRegister))
      .set(C.Address, toWire(address))
      .set(C.Width, int32Value(width));
    return this.#request(list, {
      what: `${width}-bit register at ${hex(address)}`,
      address,
    }) as Promise<bigint>;
  }

  /** Fills `dest` from `address`, in requests of at most the agent's largest read, all in flight. */
  async read(address: bigint, dest: Uint8Array): Promise<void> {
    const max = this.hello.maxRead;
    const parts: Promise<unknown>[] = [];
    for (let off = 0; off < dest.length; off += max) {
      const part = dest.subarray(off, Math.min(dest.length, off + max));
      const at = address + BigInt(off);
      const list = new ControlList(this.#map)
        .set(C.Op, int32Value(AgentOp.ReadRange))
        .set(C.Address, toWire(at))
        .set(C.Length, int32Value(part.length));
      parts.push(
        this.#request(list, {
          what: `read of ${part.length} bytes at ${hex(at)}`,
          address: at,
          dest: part,
        }),
      );
    }
    // Wait for every part (even after a failure) so no late data lands in `dest`.
    const results = await Promise.allSettled(parts);
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.#pending.size;
  }

  #request(
    list: ControlList,
    ctx: { what: string; address: bigint; dest?: Uint8Array },
  ): Promise<bigint | undefined> {
    if (this.#closed) {
      return Promise.reject(
        new BackendError(`${this.name}: ${ctx.what} after close`, { backend: this.name }),
      );
    }
    if (this.#failure) return Promise.reject(this.#failure);
    this.#seq = this.#seq >= 0xffff_ffff ? 1 : this.#seq + 1;
    const seq = this.#seq;
    const frame = serializeFrame(this.#serializer, list, seq);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(
          new AgentTimeoutError({
            seq,
            timeout: this.#timeout,
            what: ctx.what,
            backend: this.name,
          }),
        );
      }, this.#timeout);
      this.#pending.set(seq, {
        seq,
        what: ctx.what,
        resolve,
        reject,
        timer,
        dest: ctx.dest,
        address: ctx.address,
      });
      this.#writer.write(frame).catch((e) => {
        this.#fail(
          new BackendError(
            `${this.name}: cannot send a request to the agent (${(e as Error).message}): ` +
              `the agent went away${this.#stderrNote()}`,
            { backend: this.name, stderr: this.#stderr?.(), cause: e },
          ),
        );
      });
    });
  }

  #stderrNote(): string {
    const s = this.#stderr?.().trim();
    return s ? `; the agent said: ${s}` : "";
  }

  #settle(p: Pending, error?: unknown, value?: bigint): void {
    clearTimeout(p.timer);
    this.#pending.delete(p.seq);
    if (error !== undefined) p.reject(error);
    else p.resolve(value);
  }

  async #readLoop(): Promise<void> {
    try {
      while (true) {
        const frame = await this.#reader.read();
        if (frame === null) {
          if (this.#closed) return;
          await new Promise((r) => setTimeout(r, 50)); // let its stderr arrive
          throw new BackendError(
            `${this.name}: the agent went away (its output ended)` +
              (this.#pending.size ? ` with ${this.#pending.size} requests unanswered` : "") +
              this.#stderrNote(),
            { backend: this.name, stderr: this.#stderr?.() },
          );
        }
        if (frame.kind === FrameKind.Error) {
          const { code, message } = decodeErrorPayload(frame.payload);
          throw new ProtocolError(
            `the agent failed (${errnoName(code)}): ${message.replace(/^agent protocol: /, "")}`,
            { code, backend: this.name, stderr: this.#stderr?.() },
          );
        }
        const p = this.#pending.get(frame.seq);
        if (frame.kind === FrameKind.Data) {
          if (p === undefined) continue; // the request timed out; drop its bytes
          if (!p.awaitingData || !p.dest) {
            throw new ProtocolError(`unexpected data frame for request ${frame.seq}`, {
              backend: this.name,
            });
          }
          if (frame.payload.length !== p.dest.length) {
            throw new ProtocolError(
              `data frame for request ${frame.seq} has ${frame.payload.length} bytes, expected ${p.dest.length}`,
              { backend: this.name },
            );
          }
          p.dest.set(frame.payload);
          this.#settle(p);
          continue;
        }
        if (frame.kind !== FrameKind.List) {
          throw new ProtocolError(`unexpected frame of kind ${frame.kind} after the hello`, {
            backend: this.name,
          });
        }
        let reply: ControlList;
        try {
          reply = this.#serializer.deserializeList(frame.payload);
        } catch (e) {
          throw asProtocolError(e, `reply ${frame.seq}`);
        }
        if (p === undefined) continue; // a late reply to a request that timed out
        if (p.awaitingData) {
          throw new ProtocolError(`second reply to request ${frame.seq}`, { backend: this.name });
        }
        const status = intOf(reply, C.Status);
        if (status !== 0) {
          this.#settle(
            p,
            new BackendError(
              `${this.name}: ${p.what} failed on the board (${errnoName(status ?? -1)}): ${
                strOf(reply, C.Message) ?? "no message"
              }`,
              { backend: this.name, address: p.address },
            ),
          );
        } else if (p.dest) {
          p.awaitingData = true;
        } else {
          const v = bigOf(reply, C.Value);
          if (v === undefined) {
            throw new ProtocolError(`reply ${frame.seq} to a register read has no value`);
          }
          this.#settle(p, undefined, fromWire(v));
        }
      }
    } catch (e) {
      const error = e instanceof BackendError ? e : new BackendError(
        `${this.name}: reading from the agent failed: ${(e as Error).message}${this.#stderrNote()}`,
        { backend: this.name, cause: e },
      );
      this.#fail(error);
      if (!(e instanceof ProtocolError)) return;
      // Tell the agent why the link is dropped.
      await this.#writer.write(encodeErrorFrame(0, { code: e.code, message: e.message }))
        .catch(() => {});
    }
  }

  #fail(error: BackendError): void {
    if (this.#failure === undefined) this.#failure = error;
    for (const p of [...this.#pending.values()]) this.#settle(p, this.#failure);
  }

  /** Closes the link: the agent sees its input end and exits. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new BackendError(`${this.name}: closed`, { backend: this.name }));
    await this.#writer.close();
    // The agent answers the end of its input by ending its output; do not wait forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#loop, new Promise((r) => timer = setTimeout(r, 2000))]);
    clearTimeout(timer);
    await this.#reader.cancel();
    await this.#onClose?.();
  }
}

/**
 * Starts an agent command (`ringdump agent ...`, or `ssh host ringdump agent
 * ...`) and connects an {@linkcode AgentClient} to its stdin/stdout; its
 * stderr is kept for error messages. `close()` ends the process.
 *
 * @example
 * ```ts ignore
 * import { spawnAgent } from "./agent.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const client = await spawnAgent(["ringdump", "agent", "--mem", "/dev/shm/ring.img"], { geometry });
 * console.log(await client.readRegister(geometry.counterAddress, 32));
 * await client.close();
 * ```
 */
export async function spawnAgent(
  command: string[],
  options: AgentClientOptions & { env?: Record<string, string> },
): Promise<AgentClient> {
  const name = options.name ?? "agent";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
  } catch (e) {
    throw new BackendError(`${name}: cannot start ${command[0]}: ${(e as Error).message}`, {
      backend: name,
      command,
      cause: e,
    });
  }
  let stderr = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    try {
      for await (const chunk of child.stderr) {
        stderr += decoder.decode(chunk, { stream: true });
        if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
      }
    } catch {
      // the process is gone
    }
  })();
  const onClose = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), 3000)),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
      await child.status;
    }
    await drained;
    await options.onClose?.();
  };
  return await AgentClient.connect(
    { readable: child.stdout, writable: child.stdin },
    { ...options, stderr: () => stderr, onClose },
  );
}
