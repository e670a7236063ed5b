/**
 * Control identities (libcamera's `ControlId`).
 *
 * @module
 */

import { ControlValidationError } from "./errors.ts";
import { ControlType, IpaControlIdMapType, isControlType, UINT32_MAX } from "./format.ts";
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

/**
 * A global id map: the controls a whole id space defines, like libcamera's
 * `controls::controls` and `properties::properties`. A
 * {@linkcode ControlList} made from an id map (and no info map) is what
 * libcamera serializes with handle 0; its `idMapType` says which map
 * resolves the ids ({@linkcode IpaControlIdMapType}.Controls or
 * `.Properties`).
 *
 * @example
 * ```ts
 * import { ControlId, ControlIdMap, ControlType, IpaControlIdMapType } from "./mod.ts";
 * const map = new ControlIdMap(IpaControlIdMapType.Controls, [
 *   new ControlId(7, "ExposureTime", { type: ControlType.Integer32 }),
 * ]);
 * console.log(map.get(7)?.name, map.size); // "ExposureTime" 1
 * ```
 */
export class ControlIdMap implements Iterable<ControlId> {
  /** Which global map this is: `Controls` (0) or `Properties` (1). */
  readonly idMapType: typeof IpaControlIdMapType.Controls | typeof IpaControlIdMapType.Properties;
  readonly #ids = new Map<number, ControlId>();

  /** Creates the map; throws {@linkcode ControlValidationError} for a duplicate id. */
  constructor(
    idMapType: typeof IpaControlIdMapType.Controls | typeof IpaControlIdMapType.Properties,
    ids: Iterable<ControlId>,
  ) {
    if (
      idMapType !== IpaControlIdMapType.Controls && idMapType !== IpaControlIdMapType.Properties
    ) {
      throw new ControlValidationError(
        undefined,
        `a global id map is of type Controls (0) or Properties (1), not ${String(idMapType)}`,
      );
    }
    this.idMapType = idMapType;
    for (const cid of ids) {
      if (!(cid instanceof ControlId)) {
        throw new ControlValidationError(undefined, "an id map holds ControlId instances");
      }
      if (this.#ids.has(cid.id)) throw new ControlValidationError(cid.id, "duplicate id");
      this.#ids.set(cid.id, cid);
    }
    Object.freeze(this);
  }

  /** The ControlId of a numeric id. */
  get(id: number): ControlId | undefined {
    return this.#ids.get(id);
  }

  /** Whether the map defines an id. */
  has(id: number): boolean {
    return this.#ids.has(id);
  }

  /** Number of ids. */
  get size(): number {
    return this.#ids.size;
  }

  /** Iterates over the ControlIds, in id order of definition. */
  [Symbol.iterator](): IterableIterator<ControlId> {
    return [...this.#ids.values()].values();
  }
}
