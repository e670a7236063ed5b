/**
 * lib/controls/: lists of libcamera's global controls and properties
 * (handle 0), maps of the global id map types, and what the reader takes
 * from libcamera as it is: any entry order, any reserved and padding bytes;
 * what it refuses, and how NaN payloads come out.
 */
import assert from "node:assert/strict";
import {
  boolValue,
  ControlId,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlType,
  ControlTypeError,
  floatValue,
  int32Value,
  int64Value,
  InvalidControlInfoError,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  LIBCAMERA_CONTROLS,
  LIBCAMERA_PROPERTIES,
  MalformedControlsError,
  rectangleValue,
  sizeValue,
  stringValue,
  UnknownControlError,
} from "../lib/controls/mod.ts";

const H = IPA_CONTROLS_HEADER_LAYOUT.offsets;
const V = IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets;
const HSIZE = IPA_CONTROLS_HEADER_LAYOUT.size;
const ESIZE = IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;

function serialized(s: ControlSerializer, x: ControlInfoMap | ControlList): Uint8Array {
  const buf = new Uint8Array(s.binarySize(x));
  assert.equal(s.serialize(x, buf), buf.length);
  return buf;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

Deno.test("handle-0 lists of controls:: and properties:: round-trip, no map needed", () => {
  const controls = new ControlList(LIBCAMERA_CONTROLS)
    .set(8, floatValue(2)) // AnalogueGain
    .set(15, floatValue([1.5, 2])) // ColourGains
    .set(27, int64Value(123n)); // SensorTimestamp
  const properties = new ControlList(LIBCAMERA_PROPERTIES)
    .set(3, stringValue("imx219")) // Model
    .set(5, sizeValue({ width: 3280, height: 2464 })); // PixelArraySize
  for (const [list, type] of [[controls, 0], [properties, 1]] as const) {
    const bytes = serialized(new ControlSerializer(), list);
    assert.equal(view(bytes).getUint32(H.handle, true), 0);
    assert.equal(view(bytes).getUint32(H.id_map_type, true), type);
    const back = new ControlSerializer({ role: "worker" }).deserializeList(bytes);
    assert.equal(back.infoMap, undefined);
    assert.equal(back.idMap, type === 0 ? LIBCAMERA_CONTROLS : LIBCAMERA_PROPERTIES);
    assert.equal(back.idMapType, type);
    assert.deepEqual([...back], [...list]);
  }
});

Deno.test("handle-0 lists: ids, types and array-ness are libcamera's", () => {
  const list = new ControlList(LIBCAMERA_CONTROLS);
  assert.throws(() => list.set(999, int32Value(1)), UnknownControlError);
  assert.throws(() => list.set(7, int64Value(1)), ControlTypeError); // ExposureTime is Integer32
  assert.throws(() => list.set(15, floatValue(1)), /takes an array/); // ColourGains
  // On read: an id libcamera does not define, a value of another type.
  const bytes = serialized(new ControlSerializer(), list.set(7, int32Value(5)));
  const unknown = bytes.slice();
  view(unknown).setUint32(HSIZE + V.id, 999, true);
  assert.throws(() => new ControlSerializer().deserializeList(unknown), UnknownControlError);
  // A handle-0 list of local (V4L2) controls has no map to resolve its ids with.
  const local = bytes.slice();
  view(local).setUint32(H.id_map_type, IpaControlIdMapType.V4L2, true);
  assert.throws(
    () => new ControlSerializer().deserializeList(local),
    (e: unknown) => e instanceof MalformedControlsError && /handle 0.*V4L2/.test(e.message),
  );
});

Deno.test("maps of id map type Controls/Properties hold libcamera's ids only", () => {
  const exposure = LIBCAMERA_CONTROLS.get(7)!;
  const map = new ControlInfoMap([[exposure, new ControlInfo(int32Value(1), int32Value(9))]], {
    idMapType: IpaControlIdMapType.Controls,
  });
  const proxy = new ControlSerializer();
  const back = new ControlSerializer({ role: "worker" }).deserializeInfoMap(serialized(proxy, map));
  // Names come from libcamera's table, not from the packet (which has none).
  assert.equal(back.controlId(7)?.name, "ExposureTime");
  assert.throws(
    () =>
      new ControlInfoMap([[
        new ControlId(999, "Mine", { type: ControlType.Bool }),
        new ControlInfo(boolValue(false)),
      ]], {
        idMapType: IpaControlIdMapType.Controls,
      }),
    (e: unknown) =>
      e instanceof UnknownControlError && /not one of libcamera's controls::/.test(e.message),
  );
  assert.throws(
    () =>
      new ControlInfoMap([[
        new ControlId(7, "ExposureTime", { type: ControlType.Integer64 }),
        new ControlInfo(int64Value(1)),
      ]], {
        idMapType: IpaControlIdMapType.Controls,
      }),
    (e: unknown) =>
      e instanceof ControlTypeError && /controls::ExposureTime is Integer32/.test(e.message),
  );
  // A packet whose entry contradicts libcamera's type for the id.
  const bytes = serialized(new ControlSerializer(), map);
  view(bytes).setUint32(HSIZE + 4, ControlType.Integer64, true);
  assert.throws(
    () => new ControlSerializer().deserializeInfoMap(bytes),
    (e: unknown) =>
      e instanceof ControlTypeError &&
      /entry 0: the packet says Integer64, libcamera's controls::ExposureTime is Integer32/.test(
        e.message,
      ),
  );
});

Deno.test("an unset min or a min of another type is refused, naming the control", () => {
  const gain = new ControlId(3, "Gain", { type: ControlType.Integer32 });
  assert.throws(
    () => new ControlInfoMap([[gain, new ControlInfo()]]),
    (e: unknown) =>
      e instanceof InvalidControlInfoError && e.id === 3 && e.controlName === "Gain" &&
      e.field === "min" && e.message.startsWith("control 0x00000003 (Gain): info min is None"),
  );
  assert.throws(
    () => new ControlInfoMap([[gain, new ControlInfo(int32Value(0), floatValue(1))]]),
    (e: unknown) => e instanceof InvalidControlInfoError && e.field === "max",
  );
  // A String control's range is its length: Integer32.
  const model = new ControlId(4, "Model", { type: ControlType.String });
  new ControlInfoMap([[model, new ControlInfo(int32Value(0), int32Value(32))]]);
  assert.throws(
    () => new ControlInfoMap([[model, new ControlInfo(floatValue(0))]]),
    InvalidControlInfoError,
  );
});

Deno.test("reads any entry order and any reserved/padding bytes; writes zeros", () => {
  const list = new ControlList(LIBCAMERA_CONTROLS)
    .set(22, rectangleValue({ x: 1, y: 2, width: 3, height: 4 }))
    .set(1, boolValue(true))
    .set(7, int32Value(-5));
  const clean = serialized(new ControlSerializer(), list);
  const dirty = clean.slice();
  dirty.fill(0xa5, H.reserved, HSIZE); // libcamera leaves its stack there
  for (let i = 0; i < list.size; i++) {
    dirty.fill(0x5a, HSIZE + i * ESIZE + V.padding, HSIZE + (i + 1) * ESIZE);
  }
  const back = new ControlSerializer().deserializeList(dirty);
  // Entry order is the packet's (ids 22, 1, 7: not sorted), as libcamera's hash order is.
  assert.deepEqual([...back].map(([id]) => id), [22, 1, 7]);
  assert.deepEqual([...back], [...list]);
  assert.deepEqual(serialized(new ControlSerializer(), back), clean);
});

Deno.test("NaN payloads are not kept: any NaN reads as NaN and is written as 0x7fc00000", () => {
  const list = new ControlList(LIBCAMERA_CONTROLS).set(8, floatValue(1)); // AnalogueGain
  const bytes = serialized(new ControlSerializer(), list);
  const at = view(bytes).getUint32(H.data_offset, true) + 4;
  view(bytes).setUint32(at, 0x7fa00001, true); // a signalling NaN with a payload
  const back = new ControlSerializer().deserializeList(bytes);
  assert.ok(Number.isNaN(back.get(8)!.values[0]));
  const again = serialized(new ControlSerializer(), back);
  assert.equal(view(again).getUint32(at, true), 0x7fc00000);
});

Deno.test("a list naming a map's handle must carry that map's id map type", () => {
  const gain = new ControlId(3, "Gain", { type: ControlType.Integer32 });
  const map = new ControlInfoMap([[gain, new ControlInfo(int32Value(0))]]);
  const s = new ControlSerializer();
  serialized(s, map);
  const bytes = serialized(s, new ControlList(map).set(3, int32Value(1)));
  view(bytes).setUint32(H.id_map_type, IpaControlIdMapType.Controls, true);
  assert.throws(
    () => s.deserializeList(bytes),
    (e: unknown) =>
      e instanceof MalformedControlsError &&
      /id map type 0, but the ControlInfoMap of handle 1 has id map type 2/.test(e.message),
  );
});
