/**
 * Controls and their serializer in libcamera's `ipa_controls` binary format,
 * the format libcamera's `ControlSerializer` uses between pipeline handlers
 * and IPA modules (`include/libcamera/ipa/ipa_controls.h`, format version 1,
 * as shipped in Debian's `libcamera-dev` 0.0.3).
 *
 * A packet is a 32-byte `ipa_controls_header`, an array of 16-byte entries
 * (`ipa_control_info_entry` for a {@linkcode ControlInfoMap},
 * `ipa_control_value_entry` for a {@linkcode ControlList}) and a data section
 * starting at `header.data_offset` (a multiple of 8). Every value in the data
 * section is a little-endian 32-bit `ControlType` followed by the value's
 * elements; an info entry's data is its min, max and default values, one after
 * the other. All integers are little-endian.
 *
 * An info map gets a handle when it is serialized (1, 3, 5, ... for the
 * "proxy" role, 2, 4, 6, ... for the "worker" role, as libcamera does); a
 * list carries its map's handle, so a list can only be serialized or
 * deserialized by a serializer that has already serialized or deserialized
 * the list's map.
 *
 * @example
 * ```ts
 * import {
 *   ControlId, ControlInfo, ControlInfoMap, ControlList, ControlSerializer, ControlType,
 *   int32Value,
 * } from "./controls.ts";
 * const gain = new ControlId(1, "Gain", { type: ControlType.Integer32 });
 * const map = new ControlInfoMap([[gain, new ControlInfo(int32Value(0), int32Value(16))]]);
 * const board = new ControlSerializer({ role: "proxy" });
 * const host = new ControlSerializer({ role: "worker" });
 *
 * const mapBytes = new Uint8Array(board.binarySize(map));
 * board.serialize(map, mapBytes);
 * const offered = host.deserializeInfoMap(mapBytes, { controls: [gain] });
 *
 * const list = new ControlList(offered).set(1, int32Value(4));
 * const listBytes = new Uint8Array(host.binarySize(list));
 * host.serialize(list, listBytes);
 * console.log(board.deserializeList(listBytes).get(1)); // { type: 3, isArray: false, values: [4] }
 * ```
 *
 * @module
 */

import { RingdumpError } from "./errors.ts";

// ---------------------------------------------------------------------------
// Wire-format constants
// ---------------------------------------------------------------------------

/**
 * `IPA_CONTROLS_FORMAT_VERSION`: the only packet format version this module
 * writes and accepts.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_FORMAT_VERSION } from "./controls.ts";
 * console.log(IPA_CONTROLS_FORMAT_VERSION); // 1
 * ```
 */
export const IPA_CONTROLS_FORMAT_VERSION: number = 1;

/**
 * Size and field offsets (in bytes) of one C struct of `ipa_controls.h`.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_HEADER_LAYOUT, type StructLayout } from "./controls.ts";
 * const layout: StructLayout = IPA_CONTROLS_HEADER_LAYOUT;
 * console.log(layout.size, layout.offsets.data_offset); // 32 16
 * ```
 */
export interface StructLayout {
  /** `sizeof` the struct. */
  readonly size: number;
  /** `offsetof` every field, by its C name. */
  readonly offsets: Readonly<Record<string, number>>;
}

/**
 * Layout of `struct ipa_controls_header` (what this module reads and writes).
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_HEADER_LAYOUT } from "./controls.ts";
 * console.log(IPA_CONTROLS_HEADER_LAYOUT.offsets.handle); // 4
 * ```
 */
export const IPA_CONTROLS_HEADER_LAYOUT: StructLayout = Object.freeze({
  size: 32,
  offsets: Object.freeze({
    version: 0,
    handle: 4,
    entries: 8,
    size: 12,
    data_offset: 16,
    id_map_type: 20,
    reserved: 24,
  }),
});

/**
 * Layout of `struct ipa_control_value_entry` (one entry of a serialized
 * {@linkcode ControlList}).
 *
 * @example
 * ```ts
 * import { IPA_CONTROL_VALUE_ENTRY_LAYOUT } from "./controls.ts";
 * console.log(IPA_CONTROL_VALUE_ENTRY_LAYOUT.size); // 16
 * ```
 */
export const IPA_CONTROL_VALUE_ENTRY_LAYOUT: StructLayout = Object.freeze({
  size: 16,
  offsets: Object.freeze({ id: 0, type: 4, is_array: 5, count: 6, offset: 8, padding: 12 }),
});

/**
 * Layout of `struct ipa_control_info_entry` (one entry of a serialized
 * {@linkcode ControlInfoMap}).
 *
 * @example
 * ```ts
 * import { IPA_CONTROL_INFO_ENTRY_LAYOUT } from "./controls.ts";
 * console.log(IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets.offset); // 8
 * ```
 */
export const IPA_CONTROL_INFO_ENTRY_LAYOUT: StructLayout = Object.freeze({
  size: 16,
  offsets: Object.freeze({ id: 0, type: 4, offset: 8, padding: 12 }),
});

/**
 * `sizeof(enum ControlType)`: every value in the data section starts with its
 * type stored on this many bytes (libcamera's `ControlSerializer::store`).
 *
 * @example
 * ```ts
 * import { CONTROL_TYPE_SIZE } from "./controls.ts";
 * console.log(CONTROL_TYPE_SIZE); // 4
 * ```
 */
export const CONTROL_TYPE_SIZE: number = 4;

/**
 * Alignment of the data section (and, with `alignValues`, of every value in
 * it), as `ipa_controls.h`'s documentation specifies.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_ALIGNMENT } from "./controls.ts";
 * console.log(IPA_CONTROLS_ALIGNMENT); // 8
 * ```
 */
export const IPA_CONTROLS_ALIGNMENT: number = 8;

/**
 * `enum ipa_controls_id_map_type`: which id map resolves a packet's numeric
 * ids. ringdump's own controls use `V4L2`, libcamera's "local id map" (ids are
 * created from the packet itself).
 *
 * @example
 * ```ts
 * import { ControlInfoMap, IpaControlIdMapType } from "./controls.ts";
 * const map = new ControlInfoMap([], { idMapType: IpaControlIdMapType.Properties });
 * console.log(map.idMapType); // 1
 * ```
 */
export const IpaControlIdMapType: {
  readonly Controls: 0;
  readonly Properties: 1;
  readonly V4L2: 2;
} = Object.freeze({ Controls: 0, Properties: 1, V4L2: 2 } as const);

/**
 * One of the {@linkcode IpaControlIdMapType} values.
 *
 * @example
 * ```ts
 * import { IpaControlIdMapType } from "./controls.ts";
 * const t: IpaControlIdMapType = IpaControlIdMapType.V4L2;
 * console.log(t); // 2
 * ```
 */
export type IpaControlIdMapType = 0 | 1 | 2;

/**
 * libcamera's `enum ControlType`, numbered exactly as in Debian's
 * `libcamera-dev` (`libcamera/controls.h`, libcamera 0.0.3).
 *
 * @example
 * ```ts
 * import { ControlType } from "./controls.ts";
 * console.log(ControlType.Integer32, ControlType.String); // 3 6
 * ```
 */
export const ControlType: {
  readonly None: 0;
  readonly Bool: 1;
  readonly Byte: 2;
  readonly Integer32: 3;
  readonly Integer64: 4;
  readonly Float: 5;
  readonly String: 6;
  readonly Rectangle: 7;
  readonly Size: 8;
} = Object.freeze(
  {
    None: 0,
    Bool: 1,
    Byte: 2,
    Integer32: 3,
    Integer64: 4,
    Float: 5,
    String: 6,
    Rectangle: 7,
    Size: 8,
  } as const,
);

/**
 * One of the {@linkcode ControlType} values.
 *
 * @example
 * ```ts
 * import { ControlType } from "./controls.ts";
 * const t: ControlType = ControlType.Float;
 * console.log(t); // 5
 * ```
 */
export type ControlType = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** Bytes per element of each control type (libcamera's `ControlValueSize`). */
const ELEMENT_SIZE: readonly number[] = [0, 1, 1, 4, 8, 4, 1, 16, 8];

const TYPE_NAMES: readonly string[] = [
  "None",
  "Bool",
  "Byte",
  "Integer32",
  "Integer64",
  "Float",
  "String",
  "Rectangle",
  "Size",
];

/**
 * Whether `value` is one of the {@linkcode ControlType} numbers.
 *
 * @example
 * ```ts
 * import { isControlType } from "./controls.ts";
 * console.log(isControlType(8), isControlType(9)); // true false
 * ```
 */
export function isControlType(value: unknown): value is ControlType {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 &&
    value < ELEMENT_SIZE.length;
}

/**
 * The name of a control type ("Integer32", ...), or "Unknown(n)".
 *
 * @example
 * ```ts
 * import { controlTypeName } from "./controls.ts";
 * console.log(controlTypeName(4)); // "Integer64"
 * ```
 */
export function controlTypeName(type: number): string {
  return isControlType(type) ? TYPE_NAMES[type] : `Unknown(${type})`;
}

/** Largest element count an entry's 16-bit `count` field holds. */
const MAX_COUNT = 0xffff;
const UINT32_MAX = 0xffff_ffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * The errno-like code of a {@linkcode ControlSerializerError}.
 *
 * @example
 * ```ts
 * import type { ControlErrorCode } from "./controls.ts";
 * const code: ControlErrorCode = "ENOSPC";
 * console.log(code);
 * ```
 */
export type ControlErrorCode = "ENOENT" | "ENOSPC" | "EINVAL";

/**
 * Base class of every error of this module. `code` is the errno libcamera
 * returns for the same case: `ENOENT` (unknown info map handle), `ENOSPC`
 * (buffer too small), `EINVAL` (bad packet or bad control/value).
 *
 * @example
 * ```ts
 * import { ControlSerializer, ControlSerializerError } from "./controls.ts";
 * try {
 *   new ControlSerializer().deserializeList(new Uint8Array(3));
 * } catch (e) {
 *   if (e instanceof ControlSerializerError) console.log(e.code); // "EINVAL"
 * }
 * ```
 */
export class ControlSerializerError extends RingdumpError {
  /** errno-like code. */
  readonly code: ControlErrorCode;
  /** Creates the error. */
  constructor(message: string, options: { code: ControlErrorCode; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.code = options.code;
  }
}

/**
 * A list refers to an info map this serializer does not know (never
 * serialized nor deserialized here, or forgotten by `reset()`): libcamera's
 * `-ENOENT`. `handle` is the packet's handle when deserializing, `undefined`
 * when serializing a list whose map has no handle.
 *
 * @example
 * ```ts
 * import { UnknownHandleError } from "./controls.ts";
 * const e = new UnknownHandleError(7);
 * console.log(e.code, e.handle); // "ENOENT" 7
 * ```
 */
export class UnknownHandleError extends ControlSerializerError {
  /** The unknown handle, if there was one. */
  readonly handle: number | undefined;
  /** Creates the error. */
  constructor(handle: number | undefined) {
    super(
      handle === undefined
        ? "cannot serialize the ControlList: its ControlInfoMap was never serialized or " +
          "deserialized by this serializer (serialize the map first)"
        : `cannot deserialize the ControlList: unknown ControlInfoMap handle ${handle} ` +
          "(deserialize the map first)",
      { code: "ENOENT" },
    );
    this.handle = handle;
  }
}

/**
 * The caller's buffer is too small: libcamera's `-ENOSPC`. Nothing was
 * written and no handle was assigned.
 *
 * @example
 * ```ts
 * import { NoSpaceError } from "./controls.ts";
 * const e = new NoSpaceError(64, 32);
 * console.log(e.code, e.needed, e.available); // "ENOSPC" 64 32
 * ```
 */
export class NoSpaceError extends ControlSerializerError {
  /** Bytes the packet needs. */
  readonly needed: number;
  /** Bytes the buffer has. */
  readonly available: number;
  /** Creates the error. */
  constructor(needed: number, available: number) {
    super(`buffer too small: the packet needs ${needed} bytes, the buffer has ${available}`, {
      code: "ENOSPC",
    });
    this.needed = needed;
    this.available = available;
  }
}

/**
 * A packet is not a valid `ipa_controls` packet: truncated, sizes or offsets
 * outside the buffer, unknown version or type, inconsistent entry, ...
 *
 * @example
 * ```ts
 * import { MalformedControlsError } from "./controls.ts";
 * const e = new MalformedControlsError(0, "unsupported format version 2");
 * console.log(e.code, e.offset, e.reason); // "EINVAL" 0 "unsupported format version 2"
 * ```
 */
export class MalformedControlsError extends ControlSerializerError {
  /** Byte offset in the packet of the field found wrong. */
  readonly offset: number;
  /** What is wrong. */
  readonly reason: string;
  /** Creates the error. */
  constructor(offset: number, reason: string, options: { cause?: unknown } = {}) {
    super(`malformed controls packet at byte ${offset}: ${reason}`, {
      code: "EINVAL",
      cause: options.cause,
    });
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * A control, info or value is invalid: bad id or type, value out of range,
 * array too long, duplicate id, ... (`EINVAL`).
 *
 * @example
 * ```ts
 * import { ControlValidationError } from "./controls.ts";
 * const e = new ControlValidationError(3, "Integer32 value out of range");
 * console.log(e.code, e.id, e.reason); // "EINVAL" 3 "Integer32 value out of range"
 * ```
 */
export class ControlValidationError extends ControlSerializerError {
  /** The control's numeric id, if known. */
  readonly id: number | undefined;
  /** What is wrong. */
  readonly reason: string;
  /** Creates the error. */
  constructor(id: number | undefined, reason: string) {
    super(id === undefined ? reason : `control ${formatId(id)}: ${reason}`, { code: "EINVAL" });
    this.id = id;
    this.reason = reason;
  }
}

/**
 * A {@linkcode ControlList} names a control its {@linkcode ControlInfoMap}
 * does not offer.
 *
 * @example
 * ```ts
 * import { ControlInfoMap, ControlList, int32Value, UnknownControlError } from "./controls.ts";
 * try {
 *   new ControlList(new ControlInfoMap([])).set(42, int32Value(1));
 * } catch (e) {
 *   if (e instanceof UnknownControlError) console.log(e.id); // 42
 * }
 * ```
 */
export class UnknownControlError extends ControlValidationError {
  /** Creates the error. */
  constructor(id: number) {
    super(id, "not in the ControlInfoMap");
  }
}

/**
 * A value's type (or array-ness) does not match its control's.
 *
 * @example
 * ```ts
 * import { ControlTypeError, ControlType } from "./controls.ts";
 * const e = new ControlTypeError(1, { expected: ControlType.Float, actual: ControlType.Integer32 });
 * console.log(e.expected, e.actual); // 5 3
 * ```
 */
export class ControlTypeError extends ControlValidationError {
  /** The control's type. */
  readonly expected: number;
  /** The value's type. */
  readonly actual: number;
  /** Creates the error. */
  constructor(id: number, options: { expected: number; actual: number; reason?: string }) {
    super(
      id,
      options.reason ??
        `type mismatch: expected ${controlTypeName(options.expected)}, got ${
          controlTypeName(options.actual)
        }`,
    );
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

function formatId(id: number): string {
  return Number.isInteger(id) && id >= 0 ? `0x${id.toString(16).padStart(8, "0")}` : String(id);
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/**
 * A `Rectangle` element (libcamera's `Rectangle`: int32 x, y; uint32 width,
 * height).
 *
 * @example
 * ```ts
 * import type { Rectangle } from "./controls.ts";
 * const crop: Rectangle = { x: 0, y: 0, width: 640, height: 480 };
 * console.log(crop.width);
 * ```
 */
export interface Rectangle {
  /** Left, int32. */
  readonly x: number;
  /** Top, int32. */
  readonly y: number;
  /** Width, uint32. */
  readonly width: number;
  /** Height, uint32. */
  readonly height: number;
}

/**
 * A `Size` element (libcamera's `Size`: uint32 width, height).
 *
 * @example
 * ```ts
 * import type { Size } from "./controls.ts";
 * const s: Size = { width: 1920, height: 1080 };
 * console.log(s.height);
 * ```
 */
export interface Size {
  /** Width, uint32. */
  readonly width: number;
  /** Height, uint32. */
  readonly height: number;
}

/**
 * A control value, like libcamera's `ControlValue`: a type, whether it is an
 * array, and its elements. A scalar has exactly one element; `None` has none;
 * a `String` is always an array (of UTF-8 bytes on the wire) and holds the
 * whole string as its one element. Floats are stored as float32.
 *
 * @example
 * ```ts
 * import { ControlType, type ControlValue } from "./controls.ts";
 * const v: ControlValue = { type: ControlType.Integer32, isArray: true, values: [1, 2, 3] };
 * console.log(v.values.length); // 3
 * ```
 */
export type ControlValue =
  | {
    readonly type: typeof ControlType.None;
    readonly isArray: false;
    readonly values: readonly [];
  }
  | {
    readonly type: typeof ControlType.Bool;
    readonly isArray: boolean;
    readonly values: readonly boolean[];
  }
  | {
    readonly type:
      | typeof ControlType.Byte
      | typeof ControlType.Integer32
      | typeof ControlType.Float;
    readonly isArray: boolean;
    readonly values: readonly number[];
  }
  | {
    readonly type: typeof ControlType.Integer64;
    readonly isArray: boolean;
    readonly values: readonly bigint[];
  }
  | {
    readonly type: typeof ControlType.String;
    readonly isArray: true;
    readonly values: readonly [string];
  }
  | {
    readonly type: typeof ControlType.Rectangle;
    readonly isArray: boolean;
    readonly values: readonly Rectangle[];
  }
  | {
    readonly type: typeof ControlType.Size;
    readonly isArray: boolean;
    readonly values: readonly Size[];
  };

/**
 * The empty value (`ControlTypeNone`), e.g. an unset min/max/default.
 *
 * @example
 * ```ts
 * import { noneValue } from "./controls.ts";
 * console.log(noneValue()); // { type: 0, isArray: false, values: [] }
 * ```
 */
export function noneValue(): ControlValue {
  return freezeValue({ type: ControlType.None, isArray: false, values: [] });
}

/**
 * A Bool value; an array when given an array.
 *
 * @example
 * ```ts
 * import { boolValue } from "./controls.ts";
 * console.log(boolValue(true).values, boolValue([true, false]).isArray); // [true] true
 * ```
 */
export function boolValue(value: boolean | readonly boolean[]): ControlValue {
  return makeValue(ControlType.Bool, value);
}

/**
 * A Byte (uint8) value; an array when given an array.
 *
 * @example
 * ```ts
 * import { byteValue } from "./controls.ts";
 * console.log(byteValue([0xde, 0xad]).values); // [222, 173]
 * ```
 */
export function byteValue(value: number | readonly number[]): ControlValue {
  return makeValue(ControlType.Byte, value);
}

/**
 * An Integer32 value; an array when given an array.
 *
 * @example
 * ```ts
 * import { int32Value } from "./controls.ts";
 * console.log(int32Value(-5).values); // [-5]
 * ```
 */
export function int32Value(value: number | readonly number[]): ControlValue {
  return makeValue(ControlType.Integer32, value);
}

/**
 * An Integer64 value (numbers must be safe integers); an array when given an
 * array.
 *
 * @example
 * ```ts
 * import { int64Value } from "./controls.ts";
 * console.log(int64Value(1n << 40n).values); // [1099511627776n]
 * ```
 */
export function int64Value(
  value: bigint | number | readonly (bigint | number)[],
): ControlValue {
  const toBig = (v: bigint | number): bigint => {
    if (typeof v === "bigint") return v;
    if (!Number.isSafeInteger(v)) {
      throw new ControlValidationError(undefined, `Integer64 value ${v} is not a safe integer`);
    }
    return BigInt(v);
  };
  return makeValue(
    ControlType.Integer64,
    Array.isArray(value) ? value.map(toBig) : toBig(value as bigint | number),
  );
}

/**
 * A Float value, rounded to float32 as it is stored; an array when given an
 * array.
 *
 * @example
 * ```ts
 * import { floatValue } from "./controls.ts";
 * console.log(floatValue(0.5).values); // [0.5]
 * ```
 */
export function floatValue(value: number | readonly number[]): ControlValue {
  const round = (v: number): number => typeof v === "number" ? Math.fround(v) : v;
  return makeValue(
    ControlType.Float,
    Array.isArray(value) ? value.map(round) : round(value as number),
  );
}

/**
 * A String value (always an array of UTF-8 bytes on the wire).
 *
 * @example
 * ```ts
 * import { stringValue } from "./controls.ts";
 * console.log(stringValue("imx219").values); // ["imx219"]
 * ```
 */
export function stringValue(value: string): ControlValue {
  return checkedValue({ type: ControlType.String, isArray: true, values: [value] });
}

/**
 * A Rectangle value; an array when given an array.
 *
 * @example
 * ```ts
 * import { rectangleValue } from "./controls.ts";
 * console.log(rectangleValue({ x: 0, y: 0, width: 4, height: 2 }).isArray); // false
 * ```
 */
export function rectangleValue(value: Rectangle | readonly Rectangle[]): ControlValue {
  return makeValue(ControlType.Rectangle, value);
}

/**
 * A Size value; an array when given an array.
 *
 * @example
 * ```ts
 * import { sizeValue } from "./controls.ts";
 * console.log(sizeValue([{ width: 4, height: 2 }]).values.length); // 1
 * ```
 */
export function sizeValue(value: Size | readonly Size[]): ControlValue {
  return makeValue(ControlType.Size, value);
}

function makeValue(type: ControlType, value: unknown): ControlValue {
  const isArray = Array.isArray(value);
  return checkedValue({ type, isArray, values: isArray ? value : [value] } as ControlValue);
}

function checkedValue(value: ControlValue): ControlValue {
  checkValue(value, undefined);
  return freezeValue(value);
}

/** A frozen copy; Float elements rounded to float32, as they are stored. */
function freezeValue(value: ControlValue): ControlValue {
  const values = Object.freeze(
    value.values.map((v: unknown) =>
      typeof v === "object" && v !== null
        ? Object.freeze({ ...v })
        : value.type === ControlType.Float
        ? Math.fround(v as number)
        : v
    ),
  );
  return Object.freeze({ type: value.type, isArray: value.isArray, values }) as ControlValue;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

function checkElement(type: ControlType, v: unknown): string | undefined {
  switch (type) {
    case ControlType.Bool:
      return typeof v === "boolean" ? undefined : "Bool elements must be booleans";
    case ControlType.Byte:
      return isInt(v, 0, 0xff) ? undefined : "Byte elements must be integers in [0, 255]";
    case ControlType.Integer32:
      return isInt(v, -0x8000_0000, 0x7fff_ffff)
        ? undefined
        : "Integer32 elements must be integers in [-2^31, 2^31-1]";
    case ControlType.Integer64:
      return typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX
        ? undefined
        : "Integer64 elements must be bigints in [-2^63, 2^63-1]";
    case ControlType.Float:
      return typeof v === "number" ? undefined : "Float elements must be numbers";
    case ControlType.String:
      return typeof v === "string" && v.isWellFormed()
        ? undefined
        : "a String value must hold one well-formed string";
    case ControlType.Rectangle: {
      const r = v as Rectangle;
      return typeof v === "object" && v !== null && isInt(r.x, -0x8000_0000, 0x7fff_ffff) &&
          isInt(r.y, -0x8000_0000, 0x7fff_ffff) && isInt(r.width, 0, UINT32_MAX) &&
          isInt(r.height, 0, UINT32_MAX)
        ? undefined
        : "Rectangle elements need int32 x, y and uint32 width, height";
    }
    case ControlType.Size: {
      const s = v as Size;
      return typeof v === "object" && v !== null && isInt(s.width, 0, UINT32_MAX) &&
          isInt(s.height, 0, UINT32_MAX)
        ? undefined
        : "Size elements need uint32 width, height";
    }
    default:
      return "None values have no elements";
  }
}

/** Throws a ControlValidationError unless `value` is a well-formed value. */
function checkValue(value: ControlValue, id: number | undefined): void {
  const bad = (reason: string): never => {
    throw new ControlValidationError(id, reason);
  };
  if (typeof value !== "object" || value === null) bad("a value must be an object");
  if (!isControlType(value.type)) bad(`unknown control type ${String(value.type)}`);
  if (typeof value.isArray !== "boolean") bad("isArray must be a boolean");
  if (!Array.isArray(value.values)) bad("values must be an array");
  const { type, isArray, values } = value;
  if (type === ControlType.None) {
    if (isArray || values.length !== 0) bad("a None value is a scalar with no elements");
    return;
  }
  if (type === ControlType.String) {
    if (!isArray || values.length !== 1) bad("a String value is an array holding one string");
  } else if (!isArray && values.length !== 1) {
    bad(`a scalar ${controlTypeName(type)} value holds exactly one element`);
  }
  for (const v of values) {
    const reason = checkElement(type, v);
    if (reason !== undefined) bad(reason);
  }
  if (elementCount(value) > MAX_COUNT) {
    bad(`${elementCount(value)} elements exceed the entry's 16-bit count (${MAX_COUNT})`);
  }
}

/** Number of wire elements (bytes for a string). */
function elementCount(value: ControlValue): number {
  if (value.type === ControlType.String) return encoder.encode(value.values[0]).length;
  return value.values.length;
}

/** Bytes a value takes in the data section: its type, then its elements. */
function valueSize(value: ControlValue): number {
  return CONTROL_TYPE_SIZE + elementCount(value) * ELEMENT_SIZE[value.type];
}

// ---------------------------------------------------------------------------
// Controls, infos, maps, lists
// ---------------------------------------------------------------------------

/**
 * A control's identity: numeric id (uint32), name, type and whether its
 * values are arrays. `isArray` is `null` when unknown (a control recreated
 * from a packet, which carries no array flag): both are then accepted.
 * Strings are always arrays.
 *
 * @example
 * ```ts
 * import { ControlId, ControlType } from "./controls.ts";
 * const lut = new ControlId(0x100, "GammaLut", { type: ControlType.Integer32, isArray: true });
 * console.log(lut.id, lut.name, lut.type, lut.isArray); // 256 "GammaLut" 3 true
 * ```
 */
export class ControlId {
  /** Numeric id (uint32). */
  readonly id: number;
  /** Name ("" for a control recreated from a packet and not in the known list). */
  readonly name: string;
  /** Value type. */
  readonly type: ControlType;
  /** Whether values are arrays; `null` when unknown. */
  readonly isArray: boolean | null;
  /** Creates a control id; throws {@linkcode ControlValidationError} if invalid. */
  constructor(id: number, name: string, options: { type: ControlType; isArray?: boolean | null }) {
    if (!isInt(id, 0, UINT32_MAX)) {
      throw new ControlValidationError(undefined, `control id ${id} is not a uint32`);
    }
    if (typeof name !== "string") throw new ControlValidationError(id, "name must be a string");
    if (!isControlType(options.type)) {
      throw new ControlValidationError(id, `unknown control type ${String(options.type)}`);
    }
    const isArray = options.isArray === undefined
      ? options.type === ControlType.String
      : options.isArray;
    if (isArray !== null && typeof isArray !== "boolean") {
      throw new ControlValidationError(id, "isArray must be a boolean or null");
    }
    if (options.type === ControlType.String && isArray === false) {
      throw new ControlValidationError(id, "String controls are arrays");
    }
    if (options.type === ControlType.None && isArray === true) {
      throw new ControlValidationError(id, "None controls cannot be arrays");
    }
    this.id = id;
    this.name = name;
    this.type = options.type;
    this.isArray = isArray;
    Object.freeze(this);
  }
}

/**
 * A control's limits, like libcamera's `ControlInfo`: min, max and default
 * value, each `None` when unset. The format (libcamera 0.0.3) stores them as
 * scalars, so array values are rejected. For a String control they are
 * Integer32 lengths; otherwise they have the control's type (checked when
 * put into a {@linkcode ControlInfoMap}).
 *
 * @example
 * ```ts
 * import { ControlInfo, floatValue } from "./controls.ts";
 * const info = new ControlInfo(floatValue(1), floatValue(16), { def: floatValue(1) });
 * console.log(info.max.values); // [16]
 * ```
 */
export class ControlInfo {
  /** Minimum. */
  readonly min: ControlValue;
  /** Maximum. */
  readonly max: ControlValue;
  /** Default. */
  readonly def: ControlValue;
  /** Creates an info; throws {@linkcode ControlValidationError} for a bad or array value. */
  constructor(min?: ControlValue, max?: ControlValue, options: { def?: ControlValue } = {}) {
    const take = (v: ControlValue | undefined, what: string): ControlValue => {
      if (v === undefined) return noneValue();
      checkValue(v, undefined);
      if (v.isArray) {
        throw new ControlValidationError(
          undefined,
          `ControlInfo ${what} must be a scalar (the format stores scalars only)`,
        );
      }
      return freezeValue(v);
    };
    this.min = take(min, "min");
    this.max = take(max, "max");
    this.def = take(options.def, "def");
    Object.freeze(this);
  }
}

/**
 * The controls a device or agent offers, like libcamera's `ControlInfoMap`:
 * numeric id to {@linkcode ControlId} and {@linkcode ControlInfo}, in
 * insertion order (which is the serialization order).
 *
 * @example
 * ```ts
 * import { ControlId, ControlInfo, ControlInfoMap, ControlType, int32Value } from "./controls.ts";
 * const gain = new ControlId(1, "Gain", { type: ControlType.Integer32 });
 * const map = new ControlInfoMap([[gain, new ControlInfo(int32Value(0), int32Value(16))]]);
 * console.log(map.size, map.get(1)?.max.values, map.controlId(1)?.name); // 1 [16] "Gain"
 * ```
 */
export class ControlInfoMap implements Iterable<[ControlId, ControlInfo]> {
  /** Which id map resolves the ids on the wire (default `V4L2`, a local id map). */
  readonly idMapType: IpaControlIdMapType;
  readonly #entries = new Map<number, [ControlId, ControlInfo]>();

  /**
   * Creates the map; throws {@linkcode ControlValidationError} for a duplicate
   * id and {@linkcode ControlTypeError} for an info whose values do not match
   * the control's type.
   */
  constructor(
    entries: Iterable<readonly [ControlId, ControlInfo]>,
    options: { idMapType?: IpaControlIdMapType } = {},
  ) {
    const idMapType = options.idMapType ?? IpaControlIdMapType.V4L2;
    if (!isInt(idMapType, 0, 2)) {
      throw new ControlValidationError(undefined, `unknown id map type ${idMapType}`);
    }
    this.idMapType = idMapType;
    for (const [cid, info] of entries) {
      if (!(cid instanceof ControlId)) {
        throw new ControlValidationError(undefined, "keys must be ControlId instances");
      }
      if (!(info instanceof ControlInfo)) {
        throw new ControlValidationError(cid.id, "infos must be ControlInfo instances");
      }
      if (this.#entries.has(cid.id)) throw new ControlValidationError(cid.id, "duplicate id");
      // libcamera's ControlInfoMap::validate(): a String control's range is its length.
      const rangeType = cid.type === ControlType.String ? ControlType.Integer32 : cid.type;
      for (const [what, v] of [["min", info.min], ["max", info.max], ["def", info.def]] as const) {
        if (v.type !== ControlType.None && v.type !== rangeType) {
          throw new ControlTypeError(cid.id, {
            expected: rangeType,
            actual: v.type,
            reason: `info ${what} has type ${controlTypeName(v.type)}, expected ${
              controlTypeName(rangeType)
            } (or None)`,
          });
        }
      }
      this.#entries.set(cid.id, [cid, info]);
    }
  }

  /** Number of controls. */
  get size(): number {
    return this.#entries.size;
  }

  /** The info of a control, by numeric id or ControlId. */
  get(id: number | ControlId): ControlInfo | undefined {
    return this.#entries.get(typeof id === "number" ? id : id.id)?.[1];
  }

  /** Whether the map offers a control. */
  has(id: number | ControlId): boolean {
    return this.#entries.has(typeof id === "number" ? id : id.id);
  }

  /** The ControlId of a numeric id (libcamera's `idmap()` lookup). */
  controlId(id: number): ControlId | undefined {
    return this.#entries.get(id)?.[0];
  }

  /** The ControlIds, in order. */
  ids(): ControlId[] {
    return [...this.#entries.values()].map(([cid]) => cid);
  }

  /** Iterates over `[ControlId, ControlInfo]`, in order. */
  [Symbol.iterator](): IterableIterator<[ControlId, ControlInfo]> {
    return [...this.#entries.values()].map(([c, i]): [ControlId, ControlInfo] => [c, i])
      .values();
  }
}

/**
 * Control values validated against a {@linkcode ControlInfoMap}, like
 * libcamera's `ControlList`: setting an id the map does not offer throws
 * {@linkcode UnknownControlError}, a value of the wrong type or array-ness
 * {@linkcode ControlTypeError}, a malformed value
 * {@linkcode ControlValidationError}. Values are copied and frozen; order is
 * insertion order.
 *
 * @example
 * ```ts
 * import {
 *   ControlId, ControlInfo, ControlInfoMap, ControlList, ControlType, int32Value,
 * } from "./controls.ts";
 * const gain = new ControlId(1, "Gain", { type: ControlType.Integer32 });
 * const list = new ControlList(new ControlInfoMap([[gain, new ControlInfo()]]));
 * list.set(gain, int32Value(3));
 * console.log(list.get(1)?.values, list.size); // [3] 1
 * ```
 */
export class ControlList implements Iterable<[number, ControlValue]> {
  /** The map the list is validated against (and serialized with). */
  readonly infoMap: ControlInfoMap;
  readonly #values = new Map<number, ControlValue>();

  /** Creates an empty list for `infoMap`. */
  constructor(infoMap: ControlInfoMap) {
    if (!(infoMap instanceof ControlInfoMap)) {
      throw new ControlValidationError(undefined, "a ControlList needs a ControlInfoMap");
    }
    this.infoMap = infoMap;
  }

  /** Sets a control's value (replacing any previous one); returns the list. */
  set(id: number | ControlId, value: ControlValue): this {
    const num = typeof id === "number" ? id : id.id;
    const cid = this.infoMap.controlId(num);
    if (cid === undefined) throw new UnknownControlError(num);
    checkValue(value, num);
    if (value.type !== cid.type) {
      throw new ControlTypeError(num, { expected: cid.type, actual: value.type });
    }
    if (cid.isArray !== null && cid.isArray !== value.isArray) {
      throw new ControlTypeError(num, {
        expected: cid.type,
        actual: value.type,
        reason: cid.isArray ? "the control takes an array" : "the control takes a scalar",
      });
    }
    this.#values.set(num, freezeValue(value));
    return this;
  }

  /** A control's value, if set. */
  get(id: number | ControlId): ControlValue | undefined {
    return this.#values.get(typeof id === "number" ? id : id.id);
  }

  /** Whether a control is set. */
  has(id: number | ControlId): boolean {
    return this.#values.has(typeof id === "number" ? id : id.id);
  }

  /** Removes a control; returns whether it was set. */
  delete(id: number | ControlId): boolean {
    return this.#values.delete(typeof id === "number" ? id : id.id);
  }

  /** Removes every control. */
  clear(): void {
    this.#values.clear();
  }

  /** Number of controls set. */
  get size(): number {
    return this.#values.size;
  }

  /** Iterates over `[id, value]`, in insertion order. */
  [Symbol.iterator](): IterableIterator<[number, ControlValue]> {
    return [...this.#values.entries()].values();
  }
}

// ---------------------------------------------------------------------------
// Serializer
// ---------------------------------------------------------------------------

/**
 * Options of {@linkcode ControlSerializer}.
 *
 * @example
 * ```ts
 * import { ControlSerializer, type ControlSerializerOptions } from "./controls.ts";
 * const options: ControlSerializerOptions = { role: "worker" };
 * console.log(new ControlSerializer(options) instanceof ControlSerializer); // true
 * ```
 */
export interface ControlSerializerOptions {
  /**
   * Which side of the link this serializer is on; handles of the info maps
   * it serializes start at 1 for "proxy" (the default) and 2 for "worker"
   * and go up by 2, so the two sides never collide (libcamera's `Role`).
   */
  role?: "proxy" | "worker";
  /**
   * Start every entry's data at a multiple of 8 bytes of the data section,
   * as `ipa_controls.h`'s documentation asks. Default `false`: values are
   * contiguous, byte for byte what libcamera 0.0.3's `ControlSerializer`
   * writes and the only layout its deserializer accepts. This module reads
   * both.
   */
  alignValues?: boolean;
}

/**
 * Options of {@linkcode ControlSerializer.prototype.deserializeInfoMap}.
 *
 * @example
 * ```ts
 * import { ControlId, ControlType, type DeserializeInfoMapOptions } from "./controls.ts";
 * const options: DeserializeInfoMapOptions = {
 *   controls: [new ControlId(1, "Gain", { type: ControlType.Float })],
 * };
 * console.log(options.controls !== undefined); // true
 * ```
 */
export interface DeserializeInfoMapOptions {
  /**
   * The controls the reader knows (libcamera's global `controls::controls`):
   * the packet carries ids and types only, so names and array-ness come from
   * here. A known id whose type differs in the packet is a
   * {@linkcode ControlTypeError}. Unknown ids get name "" and `isArray: null`.
   */
  controls?: Iterable<ControlId>;
}

interface Header {
  handle: number;
  entries: number;
  size: number;
  dataOffset: number;
  idMapType: IpaControlIdMapType;
}

const H = IPA_CONTROLS_HEADER_LAYOUT.offsets;
const V = IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets;
const I = IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets;

function align8(n: number): number {
  return Math.ceil(n / IPA_CONTROLS_ALIGNMENT) * IPA_CONTROLS_ALIGNMENT;
}

function viewOf(buffer: Uint8Array): DataView {
  if (!(buffer instanceof Uint8Array)) {
    throw new ControlValidationError(undefined, "buffer must be a Uint8Array");
  }
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Serializes {@linkcode ControlInfoMap}s and {@linkcode ControlList}s to
 * `ipa_controls` packets and back, keeping the handle tables that tie lists
 * to maps, like libcamera's `ControlSerializer`. Use one instance per side of
 * a link, with different roles.
 *
 * Differences from libcamera 0.0.3, all on the safe side: serializing a map
 * this serializer already knows writes it again with its existing handle
 * (libcamera writes nothing); every packet is fully validated before use;
 * a list always needs its map (no handle-0 lists of global controls).
 *
 * @example
 * ```ts
 * import {
 *   ControlId, ControlInfo, ControlInfoMap, ControlSerializer, ControlType, NoSpaceError,
 * } from "./controls.ts";
 * const map = new ControlInfoMap([
 *   [new ControlId(7, "Enable", { type: ControlType.Bool }), new ControlInfo()],
 * ]);
 * const s = new ControlSerializer();
 * try {
 *   s.serialize(map, new Uint8Array(8));
 * } catch (e) {
 *   if (e instanceof NoSpaceError) console.log(e.needed, e.available); // 60 8
 * }
 * const used = s.serialize(map, new Uint8Array(s.binarySize(map)));
 * console.log(used, s.handleOf(map)); // 60 1
 * ```
 */
export class ControlSerializer {
  readonly #seed: number;
  readonly #alignValues: boolean;
  #serial: number;
  #handles = new Map<ControlInfoMap, number>();
  #maps = new Map<number, ControlInfoMap>();

  /** Creates a serializer with empty handle tables. */
  constructor(options: ControlSerializerOptions = {}) {
    const role = options.role ?? "proxy";
    if (role !== "proxy" && role !== "worker") {
      throw new ControlValidationError(undefined, `unknown serializer role ${String(role)}`);
    }
    this.#seed = role === "proxy" ? 1 : 2;
    this.#serial = this.#seed;
    this.#alignValues = options.alignValues ?? false;
  }

  /** Forgets every map handle (libcamera's `reset()`); handles restart. */
  reset(): void {
    this.#serial = this.#seed;
    this.#handles.clear();
    this.#maps.clear();
  }

  /** The handle of a map this serializer has serialized or deserialized. */
  handleOf(map: ControlInfoMap): number | undefined {
    return this.#handles.get(map);
  }

  /** Bytes `serialize` needs for a map or list (throws for an invalid value). */
  binarySize(mapOrList: ControlInfoMap | ControlList): number {
    return this.#plan(mapOrList).size;
  }

  /**
   * Writes a map or list into `buffer` from its start; returns the bytes
   * written. A new map gets the next handle. Throws {@linkcode NoSpaceError}
   * if `buffer` is too small and {@linkcode UnknownHandleError} for a list
   * whose map this serializer does not know; in both cases nothing changes.
   */
  serialize(mapOrList: ControlInfoMap | ControlList, buffer: Uint8Array): number {
    const view = viewOf(buffer);
    const plan = this.#plan(mapOrList);
    let handle: number;
    let newHandle = false;
    if (mapOrList instanceof ControlList) {
      const known = this.#handles.get(mapOrList.infoMap);
      if (known === undefined) throw new UnknownHandleError(undefined);
      handle = known;
    } else {
      const known = this.#handles.get(mapOrList);
      if (known === undefined) {
        if (this.#serial > UINT32_MAX) {
          throw new ControlSerializerError("out of handles: reset() the serializer", {
            code: "EINVAL",
          });
        }
        // Skip handles the peer already uses (a peer of the same role would collide).
        while (this.#maps.has(this.#serial)) this.#serial += 2;
        if (this.#serial > UINT32_MAX) {
          throw new ControlSerializerError("out of handles: reset() the serializer", {
            code: "EINVAL",
          });
        }
        handle = this.#serial;
        newHandle = true;
      } else {
        handle = known;
      }
    }
    if (buffer.length < plan.size) throw new NoSpaceError(plan.size, buffer.length);

    buffer.fill(0, 0, plan.size);
    view.setUint32(H.version, IPA_CONTROLS_FORMAT_VERSION, true);
    view.setUint32(H.handle, handle, true);
    view.setUint32(H.entries, plan.items.length, true);
    view.setUint32(H.size, plan.size, true);
    view.setUint32(H.data_offset, plan.dataOffset, true);
    view.setUint32(H.id_map_type, plan.idMapType, true);

    let entryPos = IPA_CONTROLS_HEADER_LAYOUT.size;
    for (const item of plan.items) {
      if (item.kind === "value") {
        view.setUint32(entryPos + V.id, item.id, true);
        view.setUint8(entryPos + V.type, item.value.type);
        view.setUint8(entryPos + V.is_array, item.value.isArray ? 1 : 0);
        view.setUint16(entryPos + V.count, elementCount(item.value), true);
        view.setUint32(entryPos + V.offset, item.offset, true);
        writeValue(buffer, view, plan.dataOffset + item.offset, item.value);
        entryPos += IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
      } else {
        view.setUint32(entryPos + I.id, item.id, true);
        view.setUint32(entryPos + I.type, item.type, true);
        view.setUint32(entryPos + I.offset, item.offset, true);
        let pos = plan.dataOffset + item.offset;
        for (const v of item.values) pos = writeValue(buffer, view, pos, v);
        entryPos += IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
      }
    }

    if (newHandle) {
      const map = mapOrList as ControlInfoMap;
      this.#handles.set(map, handle);
      this.#maps.set(handle, map);
      this.#serial += 2;
    }
    return plan.size;
  }

  /**
   * Reads a map packet (from the start of `buffer`; bytes past the header's
   * `size` are ignored) and remembers its handle, so lists referring to it
   * can be read and written. If the handle is already known, the known map is
   * returned (as libcamera does) once the packet has been validated. Throws
   * {@linkcode MalformedControlsError} for an invalid packet and
   * {@linkcode ControlValidationError} (or a subclass) for invalid content.
   */
  deserializeInfoMap(buffer: Uint8Array, options: DeserializeInfoMapOptions = {}): ControlInfoMap {
    const known = new Map<number, ControlId>();
    for (const cid of options.controls ?? []) known.set(cid.id, cid);
    const view = viewOf(buffer);
    const hdr = readHeader(buffer, view, IPA_CONTROL_INFO_ENTRY_LAYOUT.size);
    if (hdr.handle === 0) {
      throw new MalformedControlsError(H.handle, "a ControlInfoMap packet needs a non-zero handle");
    }
    const cursor = { pos: 0 };
    const entries: [ControlId, ControlInfo][] = [];
    const seen = new Set<number>();
    for (let i = 0; i < hdr.entries; i++) {
      const at = IPA_CONTROLS_HEADER_LAYOUT.size + i * IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
      const id = view.getUint32(at + I.id, true);
      const type = view.getUint32(at + I.type, true);
      const offset = view.getUint32(at + I.offset, true);
      if (!isControlType(type)) {
        throw new MalformedControlsError(at + I.type, `entry ${i}: unknown control type ${type}`);
      }
      if (seen.has(id)) {
        throw new MalformedControlsError(at + I.id, `entry ${i}: duplicate id ${formatId(id)}`);
      }
      seen.add(id);
      checkEntryOffset(hdr, cursor, offset, at + I.offset, i);
      const min = readValue(buffer, view, hdr, cursor, { isArray: false, count: 1, entry: i });
      const max = readValue(buffer, view, hdr, cursor, { isArray: false, count: 1, entry: i });
      const def = readValue(buffer, view, hdr, cursor, { isArray: false, count: 1, entry: i });
      let cid = known.get(id);
      if (cid === undefined) {
        const isArray = type === ControlType.String
          ? true
          : type === ControlType.None
          ? false
          : null;
        cid = new ControlId(id, "", { type, isArray });
      } else if (cid.type !== type) {
        throw new ControlTypeError(id, {
          expected: cid.type,
          actual: type,
          reason: `the packet says ${controlTypeName(type)}, the known control is ${
            controlTypeName(cid.type)
          }`,
        });
      }
      entries.push([cid, new ControlInfo(min, max, { def })]);
    }
    const map = new ControlInfoMap(entries, { idMapType: hdr.idMapType });
    const cached = this.#maps.get(hdr.handle);
    if (cached !== undefined) return cached;
    this.#maps.set(hdr.handle, map);
    this.#handles.set(map, hdr.handle);
    return map;
  }

  /**
   * Reads a list packet (from the start of `buffer`) and validates it against
   * the map its handle names. Throws {@linkcode UnknownHandleError} if that
   * map is unknown, {@linkcode MalformedControlsError} for an invalid packet,
   * {@linkcode UnknownControlError} / {@linkcode ControlTypeError} for a value
   * the map does not accept.
   */
  deserializeList(buffer: Uint8Array): ControlList {
    const view = viewOf(buffer);
    const hdr = readHeader(buffer, view, IPA_CONTROL_VALUE_ENTRY_LAYOUT.size);
    const map = this.#maps.get(hdr.handle);
    if (map === undefined) throw new UnknownHandleError(hdr.handle);
    const list = new ControlList(map);
    const cursor = { pos: 0 };
    for (let i = 0; i < hdr.entries; i++) {
      const at = IPA_CONTROLS_HEADER_LAYOUT.size + i * IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
      const id = view.getUint32(at + V.id, true);
      const type = view.getUint8(at + V.type);
      const isArray = view.getUint8(at + V.is_array);
      const count = view.getUint16(at + V.count, true);
      const offset = view.getUint32(at + V.offset, true);
      if (!isControlType(type)) {
        throw new MalformedControlsError(at + V.type, `entry ${i}: unknown control type ${type}`);
      }
      if (isArray > 1) {
        throw new MalformedControlsError(at + V.is_array, `entry ${i}: is_array is ${isArray}`);
      }
      if (list.has(id)) {
        throw new MalformedControlsError(at + V.id, `entry ${i}: duplicate id ${formatId(id)}`);
      }
      checkEntryOffset(hdr, cursor, offset, at + V.offset, i);
      const value = readValue(buffer, view, hdr, cursor, {
        isArray: isArray === 1,
        count,
        entry: i,
        entryType: type,
      });
      list.set(id, value);
    }
    return list;
  }

  #plan(mapOrList: ControlInfoMap | ControlList): Plan {
    const items: PlanItem[] = [];
    let entrySize: number;
    let idMapType: IpaControlIdMapType;
    let data = 0;
    const place = (bytes: number): number => {
      const offset = this.#alignValues ? align8(data) : data;
      data = offset + bytes;
      return offset;
    };
    if (mapOrList instanceof ControlList) {
      entrySize = IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
      idMapType = mapOrList.infoMap.idMapType;
      for (const [id, value] of mapOrList) {
        checkValue(value, id);
        items.push({ kind: "value", id, value, offset: place(valueSize(value)) });
      }
    } else if (mapOrList instanceof ControlInfoMap) {
      entrySize = IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
      idMapType = mapOrList.idMapType;
      for (const [cid, info] of mapOrList) {
        const values = [info.min, info.max, info.def] as const;
        const bytes = values.reduce((n, v) => n + valueSize(v), 0);
        items.push({ kind: "info", id: cid.id, type: cid.type, values, offset: place(bytes) });
      }
    } else {
      throw new ControlValidationError(undefined, "expected a ControlInfoMap or a ControlList");
    }
    const dataOffset = IPA_CONTROLS_HEADER_LAYOUT.size + items.length * entrySize;
    const size = dataOffset + data;
    if (size > UINT32_MAX) {
      throw new ControlValidationError(undefined, `packet of ${size} bytes exceeds 4 GiB`);
    }
    return { items, dataOffset, size, idMapType };
  }
}

type PlanItem =
  | { kind: "value"; id: number; value: ControlValue; offset: number }
  | {
    kind: "info";
    id: number;
    type: ControlType;
    values: readonly [ControlValue, ControlValue, ControlValue];
    offset: number;
  };

interface Plan {
  items: PlanItem[];
  dataOffset: number;
  size: number;
  idMapType: IpaControlIdMapType;
}

/** Writes type + elements at absolute `pos`; returns the position after. */
function writeValue(buffer: Uint8Array, view: DataView, pos: number, value: ControlValue): number {
  view.setUint32(pos, value.type, true);
  pos += CONTROL_TYPE_SIZE;
  switch (value.type) {
    case ControlType.None:
      break;
    case ControlType.Bool:
      for (const v of value.values) view.setUint8(pos++, v ? 1 : 0);
      break;
    case ControlType.Byte:
      for (const v of value.values) view.setUint8(pos++, v);
      break;
    case ControlType.Integer32:
      for (const v of value.values) view.setInt32((pos += 4) - 4, v, true);
      break;
    case ControlType.Float:
      for (const v of value.values) view.setFloat32((pos += 4) - 4, v, true);
      break;
    case ControlType.Integer64:
      for (const v of value.values) view.setBigInt64((pos += 8) - 8, v, true);
      break;
    case ControlType.String: {
      const bytes = encoder.encode(value.values[0]);
      buffer.set(bytes, pos);
      pos += bytes.length;
      break;
    }
    case ControlType.Rectangle:
      for (const r of value.values) {
        view.setInt32(pos, r.x, true);
        view.setInt32(pos + 4, r.y, true);
        view.setUint32(pos + 8, r.width, true);
        view.setUint32(pos + 12, r.height, true);
        pos += 16;
      }
      break;
    case ControlType.Size:
      for (const s of value.values) {
        view.setUint32(pos, s.width, true);
        view.setUint32(pos + 4, s.height, true);
        pos += 8;
      }
      break;
  }
  return pos;
}

/** Validates the header against the buffer before anything is allocated. */
function readHeader(buffer: Uint8Array, view: DataView, entrySize: number): Header {
  const hsize = IPA_CONTROLS_HEADER_LAYOUT.size;
  if (buffer.length < hsize) {
    throw new MalformedControlsError(
      0,
      `${buffer.length} bytes is shorter than the ${hsize}-byte header`,
    );
  }
  const version = view.getUint32(H.version, true);
  if (version !== IPA_CONTROLS_FORMAT_VERSION) {
    throw new MalformedControlsError(
      H.version,
      `unsupported format version ${version} (expected ${IPA_CONTROLS_FORMAT_VERSION})`,
    );
  }
  const idMapType = view.getUint32(H.id_map_type, true);
  if (idMapType > 2) {
    throw new MalformedControlsError(H.id_map_type, `unknown id map type ${idMapType}`);
  }
  const size = view.getUint32(H.size, true);
  if (size < hsize || size > buffer.length) {
    throw new MalformedControlsError(
      H.size,
      `header claims ${size} bytes, the buffer holds ${buffer.length}`,
    );
  }
  const entries = view.getUint32(H.entries, true);
  const dataOffset = view.getUint32(H.data_offset, true);
  if (dataOffset > size || dataOffset % IPA_CONTROLS_ALIGNMENT !== 0) {
    throw new MalformedControlsError(
      H.data_offset,
      `data offset ${dataOffset} is past the packet's ${size} bytes or not a multiple of 8`,
    );
  }
  // Both factors are < 2^32, so the product is exact in a double.
  if (hsize + entries * entrySize > dataOffset) {
    throw new MalformedControlsError(
      H.entries,
      `${entries} entries of ${entrySize} bytes do not fit before the data offset ${dataOffset}`,
    );
  }
  return { handle: view.getUint32(H.handle, true), entries, size, dataOffset, idMapType } as Header;
}

/**
 * An entry's data must come next in the data section: right at the cursor
 * (libcamera's contiguous layout) or at the next multiple of 8 (aligned).
 */
function checkEntryOffset(
  hdr: Header,
  cursor: { pos: number },
  offset: number,
  fieldAt: number,
  entry: number,
): void {
  if (offset !== cursor.pos && offset !== align8(cursor.pos)) {
    throw new MalformedControlsError(
      fieldAt,
      `entry ${entry}: data offset ${offset} does not follow the previous data (at ${cursor.pos})`,
    );
  }
  if (hdr.dataOffset + offset > hdr.size) {
    throw new MalformedControlsError(
      fieldAt,
      `entry ${entry}: data offset ${offset} is past the packet`,
    );
  }
  cursor.pos = offset;
}

/** Reads one value (type + elements) at the cursor of the data section. */
function readValue(
  buffer: Uint8Array,
  view: DataView,
  hdr: Header,
  cursor: { pos: number },
  shape: { isArray: boolean; count: number; entry: number; entryType?: number },
): ControlValue {
  const at = hdr.dataOffset + cursor.pos;
  const where = `entry ${shape.entry}`;
  if (at + CONTROL_TYPE_SIZE > hdr.size) {
    throw new MalformedControlsError(at, `${where}: value type past the end of the packet`);
  }
  const type = view.getUint32(at, true);
  if (!isControlType(type)) {
    throw new MalformedControlsError(at, `${where}: unknown value type ${type}`);
  }
  if (shape.entryType !== undefined && shape.entryType !== type) {
    throw new MalformedControlsError(
      at,
      `${where}: value type ${type} differs from the entry's type ${shape.entryType}`,
    );
  }
  const { isArray, count } = shape;
  if (type === ControlType.None && (isArray || (count !== 0 && shape.entryType !== undefined))) {
    throw new MalformedControlsError(at, `${where}: a None value has no elements`);
  }
  if (type === ControlType.String && !isArray) {
    throw new MalformedControlsError(at, `${where}: a String value must be an array`);
  }
  if (type !== ControlType.None && !isArray && count !== 1) {
    throw new MalformedControlsError(at, `${where}: a scalar has count ${count}, not 1`);
  }
  const n = type === ControlType.None ? 0 : count;
  const bytes = n * ELEMENT_SIZE[type];
  let pos = at + CONTROL_TYPE_SIZE;
  if (pos + bytes > hdr.size) {
    throw new MalformedControlsError(
      at,
      `${where}: ${n} ${controlTypeName(type)} elements (${bytes} bytes) run past the packet`,
    );
  }
  cursor.pos = pos + bytes - hdr.dataOffset;
  let values: unknown[];
  switch (type) {
    case ControlType.None:
      values = [];
      break;
    case ControlType.Bool:
      values = [];
      for (let k = 0; k < n; k++, pos++) {
        const b = view.getUint8(pos);
        if (b > 1) throw new MalformedControlsError(pos, `${where}: Bool byte is ${b}`);
        values.push(b === 1);
      }
      break;
    case ControlType.Byte:
      values = Array.from(buffer.subarray(pos, pos + n));
      break;
    case ControlType.Integer32:
      values = Array.from({ length: n }, (_, k) => view.getInt32(pos + 4 * k, true));
      break;
    case ControlType.Float:
      values = Array.from({ length: n }, (_, k) => view.getFloat32(pos + 4 * k, true));
      break;
    case ControlType.Integer64:
      values = Array.from({ length: n }, (_, k) => view.getBigInt64(pos + 8 * k, true));
      break;
    case ControlType.String:
      try {
        values = [decoder.decode(buffer.subarray(pos, pos + n))];
      } catch (e) {
        throw new MalformedControlsError(pos, `${where}: string is not valid UTF-8`, { cause: e });
      }
      break;
    case ControlType.Rectangle:
      values = Array.from({ length: n }, (_, k) => ({
        x: view.getInt32(pos + 16 * k, true),
        y: view.getInt32(pos + 16 * k + 4, true),
        width: view.getUint32(pos + 16 * k + 8, true),
        height: view.getUint32(pos + 16 * k + 12, true),
      }));
      break;
    case ControlType.Size:
      values = Array.from({ length: n }, (_, k) => ({
        width: view.getUint32(pos + 8 * k, true),
        height: view.getUint32(pos + 8 * k + 4, true),
      }));
      break;
  }
  return freezeValue({ type, isArray, values } as ControlValue);
}
