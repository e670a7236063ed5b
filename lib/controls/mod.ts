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
 * the list's map; a list of libcamera's own controls or properties
 * ({@linkcode LIBCAMERA_CONTROLS}, {@linkcode LIBCAMERA_PROPERTIES}) has no
 * map and goes with handle 0. A map libcamera would refuse (an info whose
 * min lacks the control's type) cannot be built
 * ({@linkcode InvalidControlInfoError}). The whole format is libcamera
 * 0.0.3's, checked against its own `ControlSerializer` by
 * `tests/controls_libcamera_test.ts`.
 *
 * @example
 * ```ts
 * import {
 *   ControlId, ControlInfo, ControlInfoMap, ControlList, ControlSerializer, ControlType,
 *   int32Value,
 * } from "./mod.ts";
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

export {
  CONTROL_TYPE_SIZE,
  ControlType,
  controlTypeName,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_ALIGNMENT,
  IPA_CONTROLS_FORMAT_VERSION,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  isControlType,
  type StructLayout,
} from "./format.ts";
export {
  type ControlErrorCode,
  ControlSerializerError,
  ControlTypeError,
  ControlValidationError,
  InvalidControlInfoError,
  MalformedControlsError,
  NoSpaceError,
  UnknownControlError,
  UnknownHandleError,
} from "./errors.ts";
export {
  boolValue,
  byteValue,
  type ControlValue,
  floatValue,
  int32Value,
  int64Value,
  noneValue,
  type Rectangle,
  rectangleValue,
  type Size,
  sizeValue,
  stringValue,
} from "./values.ts";
export { ControlId, ControlIdMap } from "./ids.ts";
export {
  globalIdMap,
  LIBCAMERA_CONTROL_ROWS,
  LIBCAMERA_CONTROLS,
  LIBCAMERA_PROPERTIES,
  LIBCAMERA_PROPERTY_ROWS,
  LIBCAMERA_VERSION,
  type LibcameraIdRow,
} from "./libcamera_ids.ts";
export { ControlInfo, ControlInfoMap } from "./info_map.ts";
export { ControlList } from "./list.ts";
export {
  ControlSerializer,
  type ControlSerializerOptions,
  type DeserializeInfoMapOptions,
} from "./serializer.ts";
