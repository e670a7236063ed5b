/**
 * Lists of control values (libcamera's `ControlList`).
 *
 * @module
 */

import { ControlTypeError, ControlValidationError, UnknownControlError } from "./errors.ts";
import type { IpaControlIdMapType } from "./format.ts";
import { type ControlId, ControlIdMap } from "./ids.ts";
import { ControlInfoMap } from "./info_map.ts";
import { checkValue, type ControlValue, freezeValue } from "./values.ts";

/**
 * Control values validated against a {@linkcode ControlInfoMap}, like
 * libcamera's `ControlList`: setting an id the map does not offer throws
 * {@linkcode UnknownControlError}, a value of the wrong type or array-ness
 * {@linkcode ControlTypeError}, a malformed value
 * {@linkcode ControlValidationError}. Values are copied and frozen; order is
 * insertion order.
 *
 * A list made from a global {@linkcode ControlIdMap} instead
 * ({@linkcode LIBCAMERA_CONTROLS}, {@linkcode LIBCAMERA_PROPERTIES}) has no
 * info map: libcamera serializes such a list with handle 0, the header's id
 * map type naming the map.
 *
 * @example
 * ```ts
 * import {
 *   ControlId, ControlInfo, ControlInfoMap, ControlList, ControlType, int32Value,
 * } from "./mod.ts";
 * const gain = new ControlId(1, "Gain", { type: ControlType.Integer32 });
 * const list = new ControlList(new ControlInfoMap([[gain, new ControlInfo(int32Value(0))]]));
 * list.set(gain, int32Value(3));
 * console.log(list.get(1)?.values, list.size); // [3] 1
 * ```
 */
export class ControlList implements Iterable<[number, ControlValue]> {
  /** The info map the list is validated against (and serialized with); none for a global list. */
  readonly infoMap: ControlInfoMap | undefined;
  /** The global id map of a list without info map (handle 0 on the wire). */
  readonly idMap: ControlIdMap | undefined;
  readonly #values = new Map<number, ControlValue>();

  /** Creates an empty list for `map`: an info map, or one of libcamera's global id maps. */
  constructor(map: ControlInfoMap | ControlIdMap) {
    if (map instanceof ControlInfoMap) {
      this.infoMap = map;
    } else if (map instanceof ControlIdMap) {
      this.idMap = map;
    } else {
      throw new ControlValidationError(
        undefined,
        "a ControlList needs a ControlInfoMap or a global ControlIdMap",
      );
    }
  }

  /** The id map type on the wire: the info map's, or the global id map's. */
  get idMapType(): IpaControlIdMapType {
    return this.infoMap !== undefined ? this.infoMap.idMapType : this.idMap!.idMapType;
  }

  /** The ControlId of a numeric id this list accepts. */
  controlId(id: number): ControlId | undefined {
    return this.infoMap !== undefined ? this.infoMap.controlId(id) : this.idMap!.get(id);
  }

  /** Sets a control's value (replacing any previous one); returns the list. */
  set(id: number | ControlId, value: ControlValue): this {
    const num = typeof id === "number" ? id : id.id;
    const cid = this.controlId(num);
    if (cid === undefined) {
      throw new UnknownControlError(
        num,
        this.infoMap !== undefined ? undefined : "not in the global id map of the list",
      );
    }
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
