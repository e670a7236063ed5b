/**
 * libcamera's own id tables, `controls::` and `properties::` of libcamera
 * 0.0.3 (Debian's `libcamera-dev`, `control_ids.h` and
 * `property_ids.h`), kept here as data: what a handle-0 `ControlList`
 * (a list of global controls with no info map) and a map of id map type
 * `Controls` or `Properties` resolve their ids with. `tests/controls_ids_test.ts`
 * compares these rows with the installed headers, so a libcamera upgrade
 * fails a test instead of drifting silently.
 *
 * @module
 */

import { ControlType, IpaControlIdMapType } from "./format.ts";
import { ControlId, ControlIdMap } from "./ids.ts";

/**
 * The libcamera version the tables (and the whole `ipa_controls` format of
 * this module) were taken from and checked against.
 *
 * @example
 * ```ts
 * import { LIBCAMERA_VERSION } from "./mod.ts";
 * console.log(LIBCAMERA_VERSION); // "0.0.3"
 * ```
 */
export const LIBCAMERA_VERSION: string = "0.0.3";

/**
 * One row of a libcamera id table: what `control_ids.h` / `property_ids.h`
 * declare for a control (`extern const Control<T> Name;` and its enum id).
 *
 * @example
 * ```ts
 * import { LIBCAMERA_CONTROL_ROWS, type LibcameraIdRow } from "./mod.ts";
 * const row: LibcameraIdRow = LIBCAMERA_CONTROL_ROWS[14];
 * console.log(row.name, row.isArray, row.arraySize); // "ColourGains" true 2
 * ```
 */
export interface LibcameraIdRow {
  /** Numeric id (the header's enum value). */
  readonly id: number;
  /** Name, without namespace (`ExposureTime`, `AePrecaptureTrigger`). */
  readonly name: string;
  /** Element type. */
  readonly type: ControlType;
  /** Whether values are arrays (`Span<const T>`, `Span<const T, N>`, `std::string`). */
  readonly isArray: boolean;
  /** The fixed length of a `Span<const T, N>` array, if any. */
  readonly arraySize?: number;
  /** Declared in the `draft` namespace. */
  readonly draft?: boolean;
}

/**
 * `controls::` of libcamera 0.0.3, in header order.
 *
 * @example
 * ```ts
 * import { LIBCAMERA_CONTROL_ROWS } from "./mod.ts";
 * console.log(LIBCAMERA_CONTROL_ROWS.length); // 48
 * ```
 */
export const LIBCAMERA_CONTROL_ROWS: readonly LibcameraIdRow[] = Object.freeze([
  { id: 1, name: "AeEnable", type: ControlType.Bool, isArray: false },
  { id: 2, name: "AeLocked", type: ControlType.Bool, isArray: false },
  { id: 3, name: "AeMeteringMode", type: ControlType.Integer32, isArray: false },
  { id: 4, name: "AeConstraintMode", type: ControlType.Integer32, isArray: false },
  { id: 5, name: "AeExposureMode", type: ControlType.Integer32, isArray: false },
  { id: 6, name: "ExposureValue", type: ControlType.Float, isArray: false },
  { id: 7, name: "ExposureTime", type: ControlType.Integer32, isArray: false },
  { id: 8, name: "AnalogueGain", type: ControlType.Float, isArray: false },
  { id: 9, name: "Brightness", type: ControlType.Float, isArray: false },
  { id: 10, name: "Contrast", type: ControlType.Float, isArray: false },
  { id: 11, name: "Lux", type: ControlType.Float, isArray: false },
  { id: 12, name: "AwbEnable", type: ControlType.Bool, isArray: false },
  { id: 13, name: "AwbMode", type: ControlType.Integer32, isArray: false },
  { id: 14, name: "AwbLocked", type: ControlType.Bool, isArray: false },
  { id: 15, name: "ColourGains", type: ControlType.Float, isArray: true, arraySize: 2 },
  { id: 16, name: "ColourTemperature", type: ControlType.Integer32, isArray: false },
  { id: 17, name: "Saturation", type: ControlType.Float, isArray: false },
  { id: 18, name: "SensorBlackLevels", type: ControlType.Integer32, isArray: true, arraySize: 4 },
  { id: 19, name: "Sharpness", type: ControlType.Float, isArray: false },
  { id: 20, name: "FocusFoM", type: ControlType.Integer32, isArray: false },
  { id: 21, name: "ColourCorrectionMatrix", type: ControlType.Float, isArray: true, arraySize: 9 },
  { id: 22, name: "ScalerCrop", type: ControlType.Rectangle, isArray: false },
  { id: 23, name: "DigitalGain", type: ControlType.Float, isArray: false },
  { id: 24, name: "FrameDuration", type: ControlType.Integer64, isArray: false },
  { id: 25, name: "FrameDurationLimits", type: ControlType.Integer64, isArray: true, arraySize: 2 },
  { id: 26, name: "SensorTemperature", type: ControlType.Float, isArray: false },
  { id: 27, name: "SensorTimestamp", type: ControlType.Integer64, isArray: false },
  { id: 28, name: "AfMode", type: ControlType.Integer32, isArray: false },
  { id: 29, name: "AfRange", type: ControlType.Integer32, isArray: false },
  { id: 30, name: "AfSpeed", type: ControlType.Integer32, isArray: false },
  { id: 31, name: "AfMetering", type: ControlType.Integer32, isArray: false },
  { id: 32, name: "AfWindows", type: ControlType.Rectangle, isArray: true },
  { id: 33, name: "AfTrigger", type: ControlType.Integer32, isArray: false },
  { id: 34, name: "AfPause", type: ControlType.Integer32, isArray: false },
  { id: 35, name: "LensPosition", type: ControlType.Float, isArray: false },
  { id: 36, name: "AfState", type: ControlType.Integer32, isArray: false },
  { id: 37, name: "AfPauseState", type: ControlType.Integer32, isArray: false },
  { id: 38, name: "AePrecaptureTrigger", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 39, name: "NoiseReductionMode", type: ControlType.Integer32, isArray: false, draft: true },
  {
    id: 40,
    name: "ColorCorrectionAberrationMode",
    type: ControlType.Integer32,
    isArray: false,
    draft: true,
  },
  { id: 41, name: "AeState", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 42, name: "AwbState", type: ControlType.Integer32, isArray: false, draft: true },
  {
    id: 43,
    name: "SensorRollingShutterSkew",
    type: ControlType.Integer64,
    isArray: false,
    draft: true,
  },
  { id: 44, name: "LensShadingMapMode", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 45, name: "SceneFlicker", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 46, name: "PipelineDepth", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 47, name: "MaxLatency", type: ControlType.Integer32, isArray: false, draft: true },
  { id: 48, name: "TestPatternMode", type: ControlType.Integer32, isArray: false, draft: true },
].map((r: LibcameraIdRow) => Object.freeze(r)));

/**
 * `properties::` of libcamera 0.0.3, in header order.
 *
 * @example
 * ```ts
 * import { LIBCAMERA_PROPERTY_ROWS } from "./mod.ts";
 * console.log(LIBCAMERA_PROPERTY_ROWS[2].name); // "Model"
 * ```
 */
export const LIBCAMERA_PROPERTY_ROWS: readonly LibcameraIdRow[] = Object.freeze([
  { id: 1, name: "Location", type: ControlType.Integer32, isArray: false },
  { id: 2, name: "Rotation", type: ControlType.Integer32, isArray: false },
  { id: 3, name: "Model", type: ControlType.String, isArray: true },
  { id: 4, name: "UnitCellSize", type: ControlType.Size, isArray: false },
  { id: 5, name: "PixelArraySize", type: ControlType.Size, isArray: false },
  { id: 6, name: "PixelArrayOpticalBlackRectangles", type: ControlType.Rectangle, isArray: true },
  { id: 7, name: "PixelArrayActiveAreas", type: ControlType.Rectangle, isArray: true },
  { id: 8, name: "ScalerCropMaximum", type: ControlType.Rectangle, isArray: false },
  { id: 9, name: "SensorSensitivity", type: ControlType.Float, isArray: false },
  {
    id: 10,
    name: "ColorFilterArrangement",
    type: ControlType.Integer32,
    isArray: false,
    draft: true,
  },
].map((r: LibcameraIdRow) => Object.freeze(r)));

function idMap(
  type: typeof IpaControlIdMapType.Controls | typeof IpaControlIdMapType.Properties,
  rows: readonly LibcameraIdRow[],
): ControlIdMap {
  return new ControlIdMap(
    type,
    rows.map((r) => new ControlId(r.id, r.name, { type: r.type, isArray: r.isArray })),
  );
}

/**
 * libcamera's `controls::controls` id map (id map type 0).
 *
 * @example
 * ```ts
 * import { ControlList, floatValue, LIBCAMERA_CONTROLS } from "./mod.ts";
 * const list = new ControlList(LIBCAMERA_CONTROLS).set(8, floatValue(2)); // AnalogueGain
 * console.log(LIBCAMERA_CONTROLS.get(8)?.name, list.size); // "AnalogueGain" 1
 * ```
 */
export const LIBCAMERA_CONTROLS: ControlIdMap = idMap(
  IpaControlIdMapType.Controls,
  LIBCAMERA_CONTROL_ROWS,
);

/**
 * libcamera's `properties::properties` id map (id map type 1).
 *
 * @example
 * ```ts
 * import { LIBCAMERA_PROPERTIES } from "./mod.ts";
 * console.log(LIBCAMERA_PROPERTIES.get(3)?.type); // 6 (String)
 * ```
 */
export const LIBCAMERA_PROPERTIES: ControlIdMap = idMap(
  IpaControlIdMapType.Properties,
  LIBCAMERA_PROPERTY_ROWS,
);

/**
 * The global id map of an id map type, or `undefined` for `V4L2` (a local
 * id map, built from the packet).
 *
 * @example
 * ```ts
 * import { globalIdMap, IpaControlIdMapType } from "./mod.ts";
 * console.log(globalIdMap(IpaControlIdMapType.V4L2)); // undefined
 * ```
 */
export function globalIdMap(idMapType: IpaControlIdMapType): ControlIdMap | undefined {
  return idMapType === IpaControlIdMapType.Controls
    ? LIBCAMERA_CONTROLS
    : idMapType === IpaControlIdMapType.Properties
    ? LIBCAMERA_PROPERTIES
    : undefined;
}
