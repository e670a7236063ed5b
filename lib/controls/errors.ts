/**
 * The errors of the controls modules, one class per case libcamera reports
 * with an errno.
 *
 * @module
 */

import { RingdumpError } from "../errors.ts";
import { controlTypeName } from "./format.ts";

/**
 * The errno-like code of a {@linkcode ControlSerializerError}.
 *
 * @example
 * ```ts
 * import type { ControlErrorCode } from "./mod.ts";
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
 * import { ControlSerializer, ControlSerializerError } from "./mod.ts";
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
 * import { UnknownHandleError } from "./mod.ts";
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
 * import { NoSpaceError } from "./mod.ts";
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
 * import { MalformedControlsError } from "./mod.ts";
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
 * import { ControlValidationError } from "./mod.ts";
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
 * import { ControlInfoMap, ControlList, int32Value, UnknownControlError } from "./mod.ts";
 * try {
 *   new ControlList(new ControlInfoMap([])).set(42, int32Value(1));
 * } catch (e) {
 *   if (e instanceof UnknownControlError) console.log(e.id); // 42
 * }
 * ```
 */
export class UnknownControlError extends ControlValidationError {
  /** Creates the error; `reason` defaults to "not in the ControlInfoMap". */
  constructor(id: number, reason: string = "not in the ControlInfoMap") {
    super(id, reason);
  }
}

/**
 * A value's type (or array-ness) does not match its control's.
 *
 * @example
 * ```ts
 * import { ControlTypeError, ControlType } from "./mod.ts";
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

/** A control id as libcamera prints it (`0x0000002a`). */
export function formatId(id: number): string {
  return Number.isInteger(id) && id >= 0 ? `0x${id.toString(16).padStart(8, "0")}` : String(id);
}

/**
 * A {@linkcode ControlInfoMap} libcamera would refuse: libcamera 0.0.3's
 * `ControlInfoMap::validate()` needs every info's `min` to have the
 * control's type (Integer32 for a String control: its range is a length)
 * and aborts the process otherwise (`assertion "validate()" failed`), so an
 * unset (None) `min` is refused too. ringdump is stricter for `max` and
 * `def`, which libcamera does not check: they have that type or are unset.
 * `field` says which of the three is wrong; `name` is the control's name.
 *
 * @example
 * ```ts
 * import { ControlId, ControlInfo, ControlInfoMap, ControlType, InvalidControlInfoError } from "./mod.ts";
 * try {
 *   new ControlInfoMap([[new ControlId(9, "Gain", { type: ControlType.Float }), new ControlInfo()]]);
 * } catch (e) {
 *   if (e instanceof InvalidControlInfoError) console.log(e.name, e.field, e.controlName); // "InvalidControlInfoError" "min" "Gain"
 * }
 * ```
 */
export class InvalidControlInfoError extends ControlTypeError {
  /** The control's name ("" if it has none). */
  readonly controlName: string;
  /** Which value of the info is wrong. */
  readonly field: "min" | "max" | "def";
  /** Creates the error. */
  constructor(
    id: number,
    options: {
      controlName: string;
      field: "min" | "max" | "def";
      expected: number;
      actual: number;
    },
  ) {
    const reason = `info ${options.field} is ${controlTypeName(options.actual)}, it must be ${
      controlTypeName(options.expected)
    }${
      options.field === "min"
        ? " (libcamera's ControlInfoMap::validate() aborts on any other min, unset included)"
        : " or unset"
    }`;
    super(id, { expected: options.expected, actual: options.actual, reason });
    const named = options.controlName === "" ? "" : ` (${options.controlName})`;
    this.message = `control ${formatId(id)}${named}: ${reason}`;
    this.controlName = options.controlName;
    this.field = options.field;
  }
}
