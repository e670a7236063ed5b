/**
 * The `ipa_controls` wire format of libcamera 0.0.3 (format version 1): the
 * struct layouts of `ipa_controls.h`, the control types and id map types.
 *
 * @module
 */

/**
 * `IPA_CONTROLS_FORMAT_VERSION`: the only packet format version this module
 * writes and accepts.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_FORMAT_VERSION } from "./mod.ts";
 * console.log(IPA_CONTROLS_FORMAT_VERSION); // 1
 * ```
 */
export const IPA_CONTROLS_FORMAT_VERSION: number = 1;

/**
 * Size and field offsets (in bytes) of one C struct of `ipa_controls.h`.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_HEADER_LAYOUT, type StructLayout } from "./mod.ts";
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
 * import { IPA_CONTROLS_HEADER_LAYOUT } from "./mod.ts";
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
 * import { IPA_CONTROL_VALUE_ENTRY_LAYOUT } from "./mod.ts";
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
 * import { IPA_CONTROL_INFO_ENTRY_LAYOUT } from "./mod.ts";
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
 * import { CONTROL_TYPE_SIZE } from "./mod.ts";
 * console.log(CONTROL_TYPE_SIZE); // 4
 * ```
 */
export const CONTROL_TYPE_SIZE: number = 4;

/**
 * Alignment of the data section (`header.data_offset`), as `ipa_controls.h`
 * specifies. Values inside it are not aligned: libcamera 0.0.3 writes each
 * right after the previous one and refuses any gap.
 *
 * @example
 * ```ts
 * import { IPA_CONTROLS_ALIGNMENT } from "./mod.ts";
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
 * import { ControlInfoMap, IpaControlIdMapType } from "./mod.ts";
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
 * import { IpaControlIdMapType } from "./mod.ts";
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
 * import { ControlType } from "./mod.ts";
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
 * import { ControlType } from "./mod.ts";
 * const t: ControlType = ControlType.Float;
 * console.log(t); // 5
 * ```
 */
export type ControlType = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** Bytes per element of each control type (libcamera's `ControlValueSize`). */
export const ELEMENT_SIZE: readonly number[] = [0, 1, 1, 4, 8, 4, 1, 16, 8];

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
 * import { isControlType } from "./mod.ts";
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
 * import { controlTypeName } from "./mod.ts";
 * console.log(controlTypeName(4)); // "Integer64"
 * ```
 */
export function controlTypeName(type: number): string {
  return isControlType(type) ? TYPE_NAMES[type] : `Unknown(${type})`;
}

/** Largest element count an entry's 16-bit `count` field holds. */
export const MAX_COUNT = 0xffff;
/** Largest uint32. */
export const UINT32_MAX = 0xffff_ffff;
/** Smallest int64. */
export const INT64_MIN: bigint = -(1n << 63n);
/** Largest int64. */
export const INT64_MAX: bigint = (1n << 63n) - 1n;
