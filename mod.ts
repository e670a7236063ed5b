/**
 * ringdump: stream what capture hardware writes into a ring buffer in
 * physical memory to a file, without losing a byte.
 *
 * The library behind the `ringdump` command, for ad-hoc scripts:
 *
 * ```ts
 * import { dump } from "./mod.ts";
 * const out = await Deno.makeTempFile();
 * const stats = await dump("sim:?pattern=counter&rate=1MiB")
 *   .pageSize("4KiB").pages(64).period("20ms").duration("300ms")
 *   .to(out);
 * console.log(`${stats.bytes} bytes, headroom ${stats.headroom}`);
 * ```
 *
 * Lower level: {@linkcode ringGeometry}, {@linkcode openBackend},
 * {@linkcode openSink} and {@linkcode Dumper}; {@linkcode verifyCounterFile}
 * checks a capture of the `counter` test pattern.
 *
 * @module
 */
export * from "./lib/ring.ts";
export * from "./lib/errors.ts";
export * from "./lib/clock.ts";
export * from "./lib/units.ts";
export * from "./lib/sim/pattern.ts";
export * from "./lib/sink/mod.ts";
export * from "./lib/dumper.ts";
export * from "./lib/capture.ts";
export * from "./lib/sim/verify.ts";
export * from "./lib/trace/mod.ts";
export * from "./backends/mod.ts";
export { openSim } from "./backends/sim.ts";
export { MemoryRing, SimDevice, type SimMemory, type SimOptions } from "./lib/sim/device.ts";
export {
  boolValue,
  byteValue,
  CONTROL_TYPE_SIZE,
  type ControlErrorCode,
  ControlId,
  ControlIdMap,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlSerializerError,
  type ControlSerializerOptions,
  ControlType,
  ControlTypeError,
  controlTypeName,
  ControlValidationError,
  type ControlValue,
  type DeserializeInfoMapOptions,
  floatValue,
  globalIdMap,
  int32Value,
  int64Value,
  InvalidControlInfoError,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_ALIGNMENT,
  IPA_CONTROLS_FORMAT_VERSION,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  isControlType,
  LIBCAMERA_CONTROL_ROWS,
  LIBCAMERA_CONTROLS,
  LIBCAMERA_PROPERTIES,
  LIBCAMERA_PROPERTY_ROWS,
  LIBCAMERA_VERSION,
  type LibcameraIdRow,
  MalformedControlsError,
  noneValue,
  NoSpaceError,
  type Rectangle as ControlRectangle,
  rectangleValue,
  type Size as ControlSize,
  sizeValue,
  stringValue,
  type StructLayout,
  UnknownControlError,
  UnknownHandleError,
} from "./lib/controls/mod.ts";
