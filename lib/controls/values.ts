/**
 * Control values (libcamera's `ControlValue`): constructors, validation and
 * their size on the wire.
 *
 * @module
 */

import { ControlValidationError } from "./errors.ts";
import {
  CONTROL_TYPE_SIZE,
  ControlType,
  controlTypeName,
  ELEMENT_SIZE,
  INT64_MAX,
  INT64_MIN,
  isControlType,
  MAX_COUNT,
  UINT32_MAX,
} from "./format.ts";

/**
 * A `Rectangle` element (libcamera's `Rectangle`: int32 x, y; uint32 width,
 * height).
 *
 * @example
 * ```ts
 * import type { Rectangle } from "./mod.ts";
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
 * import type { Size } from "./mod.ts";
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
 * import { ControlType, type ControlValue } from "./mod.ts";
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
 * import { noneValue } from "./mod.ts";
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
 * import { boolValue } from "./mod.ts";
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
 * import { byteValue } from "./mod.ts";
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
 * import { int32Value } from "./mod.ts";
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
 * import { int64Value } from "./mod.ts";
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
 * import { floatValue } from "./mod.ts";
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
 * import { stringValue } from "./mod.ts";
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
 * import { rectangleValue } from "./mod.ts";
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
 * import { sizeValue } from "./mod.ts";
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
export function freezeValue(value: ControlValue): ControlValue {
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

/** The UTF-8 encoder of String values. */
export const encoder: TextEncoder = new TextEncoder();
/** The strict UTF-8 decoder of String values. */
export const decoder: TextDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether `v` is an integer in [min, max]. */
export function isInt(v: unknown, min: number, max: number): boolean {
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
export function checkValue(value: ControlValue, id: number | undefined): void {
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
export function elementCount(value: ControlValue): number {
  if (value.type === ControlType.String) return encoder.encode(value.values[0]).length;
  return value.values.length;
}

/** Bytes a value takes in the data section: its type, then its elements. */
export function valueSize(value: ControlValue): number {
  return CONTROL_TYPE_SIZE + elementCount(value) * ELEMENT_SIZE[value.type];
}
