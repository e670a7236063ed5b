/**
 * Control identities (libcamera's `ControlId`).
 *
 * @module
 */

import { ControlValidationError } from "./errors.ts";
import { ControlType, isControlType, UINT32_MAX } from "./format.ts";
import { isInt } from "./values.ts";

/**
 * A control's identity: numeric id (uint32), name, type and whether its
 * values are arrays. `isArray` is `null` when unknown (a control recreated
 * from a packet, which carries no array flag): both are then accepted.
 * Strings are always arrays.
 *
 * @example
 * ```ts
 * import { ControlId, ControlType } from "./mod.ts";
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
