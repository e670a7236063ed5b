/**
 * The serializer of {@linkcode ControlInfoMap}s and {@linkcode ControlList}s
 * to `ipa_controls` packets and back (libcamera's `ControlSerializer`).
 *
 * @module
 */

import {
  ControlSerializerError,
  ControlTypeError,
  ControlValidationError,
  formatId,
  MalformedControlsError,
  NoSpaceError,
  UnknownControlError,
  UnknownHandleError,
} from "./errors.ts";
import { globalIdMap } from "./libcamera_ids.ts";
import {
  ControlType,
  controlTypeName,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_FORMAT_VERSION,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  isControlType,
  UINT32_MAX,
} from "./format.ts";
import { ControlId } from "./ids.ts";
import { ControlInfo, ControlInfoMap } from "./info_map.ts";
import { ControlList } from "./list.ts";
import { checkValue, type ControlValue, elementCount, valueSize } from "./values.ts";
import { checkEntryOffset, H, I, readHeader, readValue, V, viewOf, writeValue } from "./wire.ts";

/**
 * Options of {@linkcode ControlSerializer}.
 *
 * @example
 * ```ts
 * import { ControlSerializer, type ControlSerializerOptions } from "./mod.ts";
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
}

/**
 * Options of {@linkcode ControlSerializer.prototype.deserializeInfoMap}.
 *
 * @example
 * ```ts
 * import { ControlId, ControlType, type DeserializeInfoMapOptions } from "./mod.ts";
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

/**
 * Serializes {@linkcode ControlInfoMap}s and {@linkcode ControlList}s to
 * `ipa_controls` packets and back, keeping the handle tables that tie lists
 * to maps, like libcamera's `ControlSerializer`. Use one instance per side of
 * a link, with different roles.
 *
 * Packets are laid out as libcamera 0.0.3 writes them (each value right
 * after the previous one, the only layout its deserializer accepts); a
 * list without info map (of {@linkcode LIBCAMERA_CONTROLS} or
 * {@linkcode LIBCAMERA_PROPERTIES}) is written and read with handle 0.
 *
 * Differences from libcamera 0.0.3, all on the safe side: serializing a map
 * this serializer already knows writes it again with its existing handle
 * (libcamera writes nothing); ringdump writes zeros in `header.reserved`
 * and each entry's `padding` (libcamera leaves whatever its stack held) and
 * ignores them when reading; every packet is fully validated before use,
 * and a value of another type than its control's is refused, where
 * libcamera takes it (an Integer64 for an Integer32 control, say). Float
 * elements go through JavaScript numbers, so a NaN's payload bits are not
 * kept: any NaN is written as the quiet NaN `0x7fc00000`.
 *
 * @example
 * ```ts
 * import {
 *   boolValue, ControlId, ControlInfo, ControlInfoMap, ControlSerializer, ControlType,
 *   NoSpaceError,
 * } from "./mod.ts";
 * const map = new ControlInfoMap([
 *   [new ControlId(7, "Enable", { type: ControlType.Bool }), new ControlInfo(boolValue(false))],
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
    if ("alignValues" in options) {
      throw new ControlValidationError(
        undefined,
        "the alignValues option was removed: libcamera 0.0.3 refuses packets whose values " +
          'are aligned ("Bad data, entry offset mismatch"); drop the option',
      );
    }
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
      if (mapOrList.infoMap === undefined) {
        handle = 0; // a list of libcamera's global controls or properties
      } else {
        const known = this.#handles.get(mapOrList.infoMap);
        if (known === undefined) throw new UnknownHandleError(undefined);
        handle = known;
      }
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
   * returned (as libcamera does) once the packet has been validated. A map of
   * id map type `Controls` or `Properties` resolves its ids in libcamera's
   * tables ({@linkcode LIBCAMERA_CONTROLS}, {@linkcode LIBCAMERA_PROPERTIES}):
   * names and array-ness come from there, and an id they lack or a type
   * they contradict is refused. Throws
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
    const global = globalIdMap(hdr.idMapType);
    const which = hdr.idMapType === IpaControlIdMapType.Controls ? "controls::" : "properties::";
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
      let cid = global !== undefined ? global.get(id) : known.get(id);
      if (global !== undefined && cid === undefined) {
        throw new UnknownControlError(
          id,
          `entry ${i}: not one of libcamera's ${which} ids (id map type ${hdr.idMapType}); ` +
            "libcamera 0.0.3 dies on such a map",
        );
      }
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
          reason: `entry ${i}: the packet says ${controlTypeName(type)}, ${
            global !== undefined ? `libcamera's ${which}${cid.name}` : "the known control"
          } is ${controlTypeName(cid.type)}`,
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
   * the map its handle names, or, for handle 0, against libcamera's global id
   * map its id map type names ({@linkcode LIBCAMERA_CONTROLS} or
   * {@linkcode LIBCAMERA_PROPERTIES}). Throws {@linkcode UnknownHandleError}
   * if the handle's map is unknown, {@linkcode MalformedControlsError} for an invalid packet,
   * {@linkcode UnknownControlError} / {@linkcode ControlTypeError} for a value
   * the map does not accept.
   */
  deserializeList(buffer: Uint8Array): ControlList {
    const view = viewOf(buffer);
    const hdr = readHeader(buffer, view, IPA_CONTROL_VALUE_ENTRY_LAYOUT.size);
    let list: ControlList;
    if (hdr.handle === 0) {
      // A list of libcamera's global controls or properties, with no info map.
      const global = globalIdMap(hdr.idMapType);
      if (global === undefined) {
        throw new MalformedControlsError(
          H.handle,
          `handle 0 (no info map) with id map type ${hdr.idMapType} (V4L2): a list of local ` +
            "controls needs its ControlInfoMap's handle (libcamera 0.0.3 dies on this list)",
        );
      }
      list = new ControlList(global);
    } else {
      const map = this.#maps.get(hdr.handle);
      if (map === undefined) throw new UnknownHandleError(hdr.handle);
      if (map.idMapType !== hdr.idMapType) {
        throw new MalformedControlsError(
          H.id_map_type,
          `id map type ${hdr.idMapType}, but the ControlInfoMap of handle ${hdr.handle} has ` +
            `id map type ${map.idMapType}`,
        );
      }
      list = new ControlList(map);
    }
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
      const offset = data;
      data = offset + bytes;
      return offset;
    };
    if (mapOrList instanceof ControlList) {
      entrySize = IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
      idMapType = mapOrList.idMapType;
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
