/**
 * Control limits and the maps of the controls a device offers (libcamera's
 * `ControlInfo` and `ControlInfoMap`).
 *
 * @module
 */

import {
  ControlTypeError,
  ControlValidationError,
  InvalidControlInfoError,
  UnknownControlError,
} from "./errors.ts";
import { ControlType, controlTypeName, IpaControlIdMapType } from "./format.ts";
import { ControlId } from "./ids.ts";
import { globalIdMap } from "./libcamera_ids.ts";
import { checkValue, type ControlValue, freezeValue, isInt, noneValue } from "./values.ts";

/**
 * A control's limits, like libcamera's `ControlInfo`: min, max and default
 * value, each `None` when unset. The format (libcamera 0.0.3) stores them as
 * scalars, so array values are rejected. For a String control they are
 * Integer32 lengths; otherwise they have the control's type (checked when
 * put into a {@linkcode ControlInfoMap}).
 *
 * @example
 * ```ts
 * import { ControlInfo, floatValue } from "./mod.ts";
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
 * import { ControlId, ControlInfo, ControlInfoMap, ControlType, int32Value } from "./mod.ts";
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
   * id and {@linkcode InvalidControlInfoError} for an info libcamera would
   * refuse (a `min` without the control's type, unset included) or whose
   * `max`/`def` has another type. A map of id map type `Controls` or
   * `Properties` may only hold libcamera's own controls of that map
   * ({@linkcode LIBCAMERA_CONTROLS}, {@linkcode LIBCAMERA_PROPERTIES}) with
   * their type and array-ness: anything else is an
   * {@linkcode UnknownControlError} or a {@linkcode ControlTypeError}
   * (libcamera's deserializer dies on an id its map lacks).
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
      checkAgainstGlobalMap(cid, idMapType);
      checkInfo(cid, info);
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

/** libcamera's `ControlInfoMap::validate()`, plus ringdump's rule for max and def. */
function checkInfo(cid: ControlId, info: ControlInfo): void {
  // A String control's range is its length.
  const rangeType = cid.type === ControlType.String ? ControlType.Integer32 : cid.type;
  for (const [field, v] of [["min", info.min], ["max", info.max], ["def", info.def]] as const) {
    const unsetOk = field !== "min";
    if (v.type !== rangeType && !(unsetOk && v.type === ControlType.None)) {
      throw new InvalidControlInfoError(cid.id, {
        controlName: cid.name,
        field,
        expected: rangeType,
        actual: v.type,
      });
    }
  }
}

/** A map of a global id map type holds that map's ControlIds, as libcamera's does. */
function checkAgainstGlobalMap(cid: ControlId, idMapType: IpaControlIdMapType): void {
  const global = globalIdMap(idMapType);
  if (global === undefined) return;
  const which = idMapType === IpaControlIdMapType.Controls ? "controls::" : "properties::";
  const known = global.get(cid.id);
  if (known === undefined) {
    throw new UnknownControlError(
      cid.id,
      `not one of libcamera's ${which} ids, which a map of id map type ${idMapType} may only hold`,
    );
  }
  if (known.type !== cid.type || (cid.isArray !== null && cid.isArray !== known.isArray)) {
    throw new ControlTypeError(cid.id, {
      expected: known.type,
      actual: cid.type,
      reason: `libcamera's ${which}${known.name} is ${controlTypeName(known.type)}${
        known.isArray ? " array" : ""
      }, not ${controlTypeName(cid.type)}${cid.isArray ? " array" : ""}`,
    });
  }
}
