/**
 * The resident agent protocol: `ringdump agent` runs on the board and serves
 * memory reads over its stdin/stdout, so a capture over SSH pays for one
 * process start, not one per read. The messages are libcamera `ipa_controls`
 * packets ({@linkcode ControlSerializer}, {@link ../controls/mod.ts}) carried in
 * small frames ({@link ./frame.ts}): this module holds the controls of the
 * protocol and what both sides share; `server.ts` is the board side
 * ({@linkcode runAgent}), `client.ts` the capture side ({@linkcode AgentClient}).
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
  type ControlSerializer,
  ControlSerializerError,
  ControlType,
  type ControlValue,
  int32Value,
  int64Value,
  stringValue,
} from "../controls/mod.ts";
import {
  AgentErrno,
  FRAME_HEADER_SIZE,
  FrameKind,
  ProtocolError,
  writeFrameHeader,
} from "./frame.ts";

/**
 * The agent protocol version this module speaks (and the only one it accepts).
 *
 * @example
 * ```ts
 * import { AGENT_PROTOCOL_VERSION } from "./protocol.ts";
 * console.log(AGENT_PROTOCOL_VERSION); // 1
 * ```
 */
export const AGENT_PROTOCOL_VERSION: number = 1;

/**
 * Request ops.
 *
 * @example
 * ```ts
 * import { AgentOp } from "./protocol.ts";
 * console.log(AgentOp.ReadRegister, AgentOp.ReadRange); // 1 2
 * ```
 */
export const AgentOp: { readonly ReadRegister: 1; readonly ReadRange: 2 } = Object.freeze(
  { ReadRegister: 1, ReadRange: 2 } as const,
);

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
 * import { AgentControls } from "./protocol.ts";
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
 * (min = max = default). Every control has a min of its type, as libcamera's
 * `ControlInfoMap::validate()` demands (the map is valid for libcamera
 * 0.0.3): addresses and values are full-range int64 (uint64 bit patterns,
 * see {@linkcode toWire}), strings are 0 to 65535 bytes long.
 *
 * @example
 * ```ts
 * import { agentInfoMap } from "./protocol.ts";
 * const map = agentInfoMap({ pageSize: 4096, maxRead: 1 << 20 });
 * console.log(map.get(3)?.def.values); // [1048576]
 * ```
 */
export function agentInfoMap(
  options: { pageSize: number; maxRead: number; protocolVersion?: number },
): ControlInfoMap {
  const fixed = (v: number) =>
    new ControlInfo(int32Value(v), int32Value(v), { def: int32Value(v) });
  const int32 = (min: number, max: number) => new ControlInfo(int32Value(min), int32Value(max));
  const int64 = new ControlInfo(int64Value(-(1n << 63n)), int64Value((1n << 63n) - 1n));
  const length = new ControlInfo(int32Value(0), int32Value(0xffff));
  const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
  return new ControlInfoMap([
    [C.ProtocolVersion, fixed(version)],
    [C.PageSize, fixed(options.pageSize)],
    [C.MaxRead, fixed(options.maxRead)],
    [C.MemoryDevice, new ControlInfo(int32Value(0), int32Value(4096))],
    [C.Origin, int64],
    [C.Op, int32(AgentOp.ReadRegister, AgentOp.ReadRange)],
    [C.Address, int64],
    [C.Width, int32(8, 64)],
    [C.Length, int32(1, options.maxRead)],
    [C.Status, int32(0, 0x7fff_ffff)],
    [C.Value, int64],
    [C.Message, length],
    [C.RingBase, int64],
    [C.RingPageSize, int32(1, 0x7fff_ffff)],
    [C.RingPages, int32(1, 0x7fff_ffff)],
    [C.CounterAddress, int64],
    [C.CounterWrap, new ControlInfo(int64Value(0), int64Value((1n << 63n) - 1n))],
  ]);
}

/**
 * The hello list an agent sends right after its map (seq 0): its protocol
 * version, page size, largest read, memory device and the physical address
 * of the device's byte 0.
 *
 * @example
 * ```ts
 * import { agentHelloList, agentInfoMap, AgentControls } from "./protocol.ts";
 * const map = agentInfoMap({ pageSize: 4096, maxRead: 65536 });
 * const hello = agentHelloList(map, {
 *   protocolVersion: 1, pageSize: 4096, maxRead: 65536, memory: "/dev/mem", origin: 0n,
 * });
 * console.log(hello.get(AgentControls.MemoryDevice)?.values); // ["/dev/mem"]
 * ```
 */
export function agentHelloList(
  map: ControlInfoMap,
  hello: {
    protocolVersion: number;
    pageSize: number;
    maxRead: number;
    memory: string;
    origin: bigint;
  },
): ControlList {
  return new ControlList(map)
    .set(C.ProtocolVersion, int32Value(hello.protocolVersion))
    .set(C.PageSize, int32Value(hello.pageSize))
    .set(C.MaxRead, int32Value(hello.maxRead))
    .set(C.MemoryDevice, stringValue(hello.memory))
    .set(C.Origin, toWire(hello.origin));
}

/**
 * Every control of the protocol.
 *
 * @example
 * ```ts
 * import { ALL_CONTROLS } from "./protocol.ts";
 * console.log(ALL_CONTROLS.length); // 17
 * ```
 */
export const ALL_CONTROLS: readonly ControlId[] = Object.values(AgentControls);

/**
 * The value of control `id` in `list` when it is a 32-bit integer, else `undefined`.
 *
 * @example
 * ```ts
 * import { ControlList, int32Value } from "../controls/mod.ts";
 * import { agentInfoMap, AgentControls, intOf } from "./protocol.ts";
 * console.log(intOf(new ControlList(agentInfoMap({ pageSize: 4096, maxRead: 4096 })).set(AgentControls.Op, int32Value(1)), AgentControls.Op));
 * ```
 */
export function intOf(list: ControlList, id: ControlId): number | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.Integer32 ? v.values[0] : undefined;
}

/**
 * The value of control `id` in `list` when it is a 64-bit integer, else `undefined`.
 *
 * @example
 * ```ts
 * import { ControlList } from "../controls/mod.ts";
 * import { agentInfoMap, AgentControls, bigOf } from "./protocol.ts";
 * console.log(bigOf(new ControlList(agentInfoMap({ pageSize: 4096, maxRead: 4096 })), AgentControls.Address));
 * ```
 */
export function bigOf(list: ControlList, id: ControlId): bigint | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.Integer64 ? v.values[0] : undefined;
}

/**
 * The value of control `id` in `list` when it is a string, else `undefined`.
 *
 * @example
 * ```ts
 * import { ControlList } from "../controls/mod.ts";
 * import { agentInfoMap, AgentControls, strOf } from "./protocol.ts";
 * console.log(strOf(new ControlList(agentInfoMap({ pageSize: 4096, maxRead: 4096 })), AgentControls.Message));
 * ```
 */
export function strOf(list: ControlList, id: ControlId): string | undefined {
  const v = list.get(id);
  return v && v.type === ControlType.String ? v.values[0] : undefined;
}

/**
 * The default of control `id` in `map` when it is a 32-bit integer.
 *
 * @example
 * ```ts
 * import { agentInfoMap, AgentControls, defOf } from "./protocol.ts";
 * console.log(defOf(agentInfoMap({ pageSize: 4096, maxRead: 8192 }), AgentControls.MaxRead)); // 8192
 * ```
 */
export function defOf(map: ControlInfoMap, id: ControlId): number | undefined {
  const v = map.get(id)?.def;
  return v && v.type === ControlType.Integer32 ? v.values[0] : undefined;
}

/**
 * A `u64` (an address, a register value) as the wire's `int64`.
 *
 * @example
 * ```ts
 * import { toWire } from "./protocol.ts";
 * console.log(toWire(0xffff_ffff_ffff_ffffn).values); // [-1n]
 * ```
 */
export function toWire(v: bigint): ControlValue {
  return int64Value(BigInt.asIntN(64, v));
}

/**
 * The wire's `int64` back as a `u64`.
 *
 * @example
 * ```ts
 * import { fromWire } from "./protocol.ts";
 * console.log(fromWire(-1n)); // 18446744073709551615n
 * ```
 */
export function fromWire(v: bigint): bigint {
  return BigInt.asUintN(64, v);
}

/**
 * Serializes an info map or a control list into one frame (header and payload).
 *
 * @example
 * ```ts
 * import { ControlSerializer } from "../controls/mod.ts";
 * import { agentInfoMap, serializeFrame } from "./protocol.ts";
 * const bytes = serializeFrame(new ControlSerializer(), agentInfoMap({ pageSize: 4096, maxRead: 4096 }), 0);
 * console.log(bytes[4]); // 1
 * ```
 */
export function serializeFrame(
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

/**
 * A serializer error as a {@linkcode ProtocolError} about `what`; anything else unchanged.
 *
 * @example
 * ```ts
 * import { ControlSerializerError } from "../controls/mod.ts";
 * import { errorMessage } from "../errors.ts";
 * import { asProtocolError } from "./protocol.ts";
 * const e = asProtocolError(new ControlSerializerError("short", { code: "EINVAL" }), "hello");
 * console.log(errorMessage(e)); // "agent protocol: hello: short"
 * ```
 */
export function asProtocolError(e: unknown, what: string): unknown {
  if (e instanceof ControlSerializerError) {
    return new ProtocolError(`${what}: ${e.message}`, { code: AgentErrno.EPROTO, cause: e });
  }
  return e;
}
