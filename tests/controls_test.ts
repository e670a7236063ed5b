import assert from "node:assert/strict";
import fc from "fast-check";
import {
  boolValue,
  byteValue,
  CONTROL_TYPE_SIZE,
  ControlId,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlSerializerError,
  type ControlSerializerOptions,
  ControlType,
  ControlTypeError,
  ControlValidationError,
  type ControlValue,
  floatValue,
  int32Value,
  int64Value,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  MalformedControlsError,
  noneValue,
  NoSpaceError,
  rectangleValue,
  sizeValue,
  stringValue,
  UnknownControlError,
  UnknownHandleError,
} from "../lib/controls/mod.ts";
import { RingdumpError } from "../lib/errors.ts";

const H = IPA_CONTROLS_HEADER_LAYOUT.offsets;
const V = IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets;
const I = IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets;
const HSIZE = IPA_CONTROLS_HEADER_LAYOUT.size;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const ids = {
  enable: new ControlId(1, "Enable", { type: ControlType.Bool }),
  pattern: new ControlId(2, "Pattern", { type: ControlType.Byte, isArray: true }),
  gain: new ControlId(3, "Gain", { type: ControlType.Integer32 }),
  frameDuration: new ControlId(4, "FrameDuration", { type: ControlType.Integer64 }),
  ev: new ControlId(5, "ExposureValue", { type: ControlType.Float }),
  model: new ControlId(6, "Model", { type: ControlType.String }),
  lut: new ControlId(7, "Lut", { type: ControlType.Integer32, isArray: true }),
  crop: new ControlId(8, "Crop", { type: ControlType.Rectangle }),
  sizes: new ControlId(9, "Sizes", { type: ControlType.Size, isArray: true }),
};
const allIds = Object.values(ids);

function fixtureMap(): ControlInfoMap {
  return new ControlInfoMap([
    [ids.enable, new ControlInfo(boolValue(false), boolValue(true), { def: boolValue(true) })],
    [ids.pattern, new ControlInfo(byteValue(0), byteValue(255))],
    [ids.gain, new ControlInfo(int32Value(-10), int32Value(1000), { def: int32Value(1) })],
    [ids.frameDuration, new ControlInfo(int64Value(1000), int64Value(1n << 40n))],
    [ids.ev, new ControlInfo(floatValue(-8), floatValue(8), { def: floatValue(0.25) })],
    [ids.model, new ControlInfo(int32Value(0), int32Value(64))],
    [ids.lut, new ControlInfo(int32Value(0))],
    [
      ids.crop,
      new ControlInfo(
        rectangleValue({ x: 0, y: 0, width: 1, height: 1 }),
        rectangleValue({ x: 0, y: 0, width: 4096, height: 4096 }),
      ),
    ],
    [ids.sizes, new ControlInfo(sizeValue({ width: 1, height: 1 }))],
  ]);
}

function fixtureList(map: ControlInfoMap): ControlList {
  return new ControlList(map)
    .set(ids.enable, boolValue(true))
    .set(ids.pattern, byteValue([0, 127, 255]))
    .set(ids.gain, int32Value(-123456))
    .set(ids.frameDuration, int64Value(-(1n << 40n) - 5n))
    .set(ids.ev, floatValue(1.5))
    .set(ids.model, stringValue("ringdump ✓"))
    .set(ids.lut, int32Value([1, -2, 3]))
    .set(ids.crop, rectangleValue({ x: -1, y: 2, width: 640, height: 480 }))
    .set(ids.sizes, sizeValue([{ width: 1920, height: 1080 }, { width: 1280, height: 720 }]));
}

function serialized(s: ControlSerializer, x: ControlInfoMap | ControlList): Uint8Array {
  const buf = new Uint8Array(s.binarySize(x));
  assert.equal(s.serialize(x, buf), buf.length);
  return buf;
}

/** A proxy that has serialized the fixture map and a worker that has read it. */
function linkedPair() {
  const proxy = new ControlSerializer({ role: "proxy" });
  const worker = new ControlSerializer({ role: "worker" });
  const map = fixtureMap();
  const mapBytes = serialized(proxy, map);
  const workerMap = worker.deserializeInfoMap(mapBytes, { controls: allIds });
  return { proxy, worker, map, mapBytes, workerMap };
}

function u32(buf: Uint8Array, at: number): number {
  return new DataView(buf.buffer, buf.byteOffset).getUint32(at, true);
}

function setU32(buf: Uint8Array, at: number, v: number): void {
  new DataView(buf.buffer, buf.byteOffset).setUint32(at, v, true);
}

function assertMalformed(fn: () => unknown, offset?: number): MalformedControlsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof MalformedControlsError, `expected MalformedControlsError: ${caught}`);
  assert.equal(caught.code, "EINVAL");
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}

// ---------------------------------------------------------------------------
// Round trips and layout
// ---------------------------------------------------------------------------

Deno.test("ControlType numbering is libcamera 0.0.3's", () => {
  assert.deepEqual({ ...ControlType }, {
    None: 0,
    Bool: 1,
    Byte: 2,
    Integer32: 3,
    Integer64: 4,
    Float: 5,
    String: 6,
    Rectangle: 7,
    Size: 8,
  });
});

Deno.test("info map round-trips between proxy and worker, with names from known controls", () => {
  const { map, workerMap, worker, proxy } = linkedPair();
  assert.deepEqual([...workerMap], [...map]);
  assert.equal(workerMap.idMapType, IpaControlIdMapType.V4L2);
  assert.equal(worker.handleOf(workerMap), 1);
  assert.equal(proxy.handleOf(map), 1);
});

Deno.test("info map without known controls: ids and types kept, names empty, array-ness unknown", () => {
  const { mapBytes } = linkedPair();
  const m = new ControlSerializer({ role: "worker" }).deserializeInfoMap(mapBytes);
  assert.deepEqual(
    m.ids().map((c) => [c.id, c.name, c.type, c.isArray]),
    allIds.map((c) => [
      c.id,
      "",
      c.type,
      c.type === ControlType.String ? true : null,
    ]),
  );
  // Unknown array-ness accepts both shapes.
  new ControlList(m).set(3, int32Value(1)).set(3, int32Value([1, 2]));
});

Deno.test("list round-trips both ways", () => {
  const { proxy, worker, map, workerMap } = linkedPair();
  const fromProxy = fixtureList(map);
  const atWorker = worker.deserializeList(serialized(proxy, fromProxy));
  assert.equal(atWorker.infoMap, workerMap);
  assert.deepEqual([...atWorker], [...fromProxy]);
  const back = proxy.deserializeList(serialized(worker, fixtureList(workerMap)));
  assert.equal(back.infoMap, map);
  assert.deepEqual([...back], [...fromProxy]);
});

Deno.test("packet layout: header fields, entries, inline ControlType, contiguous values", () => {
  const { proxy, map } = linkedPair();
  const list = new ControlList(map).set(ids.enable, boolValue(true)).set(
    ids.gain,
    int32Value(-2),
  ).set(ids.model, stringValue("ab"));
  const b = serialized(proxy, list);
  const dataOffset = HSIZE + 3 * IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
  assert.equal(u32(b, H.version), 1);
  assert.equal(u32(b, H.handle), 1);
  assert.equal(u32(b, H.entries), 3);
  assert.equal(u32(b, H.data_offset), dataOffset);
  assert.equal(u32(b, H.id_map_type), IpaControlIdMapType.V4L2);
  assert.deepEqual([...b.subarray(H.reserved, HSIZE)], new Array(8).fill(0));
  // bool: 4 + 1 bytes, int32: 4 + 4, string "ab": 4 + 2 (count = 2, is_array = 1).
  assert.equal(u32(b, H.size), dataOffset + 5 + 8 + 6);
  const e = (i: number) => HSIZE + i * IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
  assert.deepEqual(
    [0, 1, 2].map((i) => [
      u32(b, e(i) + V.id),
      b[e(i) + V.type],
      b[e(i) + V.is_array],
      b[e(i) + V.count] | (b[e(i) + V.count + 1] << 8),
      u32(b, e(i) + V.offset),
    ]),
    [[1, 1, 0, 1, 0], [3, 3, 0, 1, 5], [6, 6, 1, 2, 13]],
  );
  assert.deepEqual(
    [...b.subarray(dataOffset)],
    [1, 0, 0, 0, 1, 3, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 6, 0, 0, 0, 0x61, 0x62],
  );
  assert.equal(CONTROL_TYPE_SIZE, 4);
});

Deno.test("info packet layout: entry offset, min/max/def each as type + scalar", () => {
  const s = new ControlSerializer();
  const map = new ControlInfoMap([
    [ids.gain, new ControlInfo(int32Value(1), int32Value(2), { def: int32Value(3) })],
    [ids.enable, new ControlInfo(boolValue(true))],
  ]);
  const b = serialized(s, map);
  const dataOffset = HSIZE + 2 * IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
  const e1 = HSIZE + IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
  assert.equal(u32(b, H.data_offset), dataOffset);
  assert.deepEqual([u32(b, HSIZE + I.id), u32(b, HSIZE + I.type), u32(b, HSIZE + I.offset)], [
    3,
    3,
    0,
  ]);
  assert.deepEqual([u32(b, e1 + I.id), u32(b, e1 + I.type), u32(b, e1 + I.offset)], [1, 1, 24]);
  const words = Array.from({ length: 7 }, (_, k) => u32(b, dataOffset + 4 * k));
  assert.deepEqual(words, [3, 1, 3, 2, 3, 3, 1]);
  // The Bool min's one byte, then max and def unset: a None type, no element.
  assert.deepEqual([...b.subarray(dataOffset + 28)], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(b.length, dataOffset + 37);
});

Deno.test("alignValues is gone; a value after a gap is refused, as libcamera refuses it", () => {
  assert.throws(
    () => new ControlSerializer({ alignValues: true } as ControlSerializerOptions),
    (e: unknown) =>
      e instanceof ControlValidationError && /libcamera 0.0.3 refuses/.test(e.message),
  );
  // An 8-byte aligned layout (what alignValues wrote): entry 1 starts 3 bytes late.
  const { proxy, worker, map } = linkedPair();
  const list = new ControlList(map).set(ids.enable, boolValue(true)).set(ids.gain, int32Value(1));
  const contiguous = serialized(proxy, list);
  const aligned = new Uint8Array(contiguous.length + 3);
  const dataOffset = u32(contiguous, H.data_offset);
  aligned.set(contiguous.subarray(0, dataOffset + 5));
  aligned.set(contiguous.subarray(dataOffset + 5), dataOffset + 8);
  setU32(aligned, H.size, aligned.length);
  setU32(aligned, HSIZE + IPA_CONTROL_VALUE_ENTRY_LAYOUT.size + V.offset, 8);
  assert.throws(
    () => worker.deserializeList(aligned),
    (e: unknown) =>
      e instanceof MalformedControlsError &&
      /entry 1: data offset 8, but the previous data ends at 5/.test(e.message),
  );
  assert.equal(worker.deserializeList(contiguous).size, 2);
});

Deno.test("works on a Uint8Array view at a non-zero byteOffset", () => {
  const { proxy, worker, map } = linkedPair();
  const list = fixtureList(map);
  const backing = new Uint8Array(proxy.binarySize(list) + 7);
  const view = backing.subarray(3);
  proxy.serialize(list, view);
  assert.deepEqual([...worker.deserializeList(view)], [...list]);
});

// ---------------------------------------------------------------------------
// Handles: ENOENT, reset, roles
// ---------------------------------------------------------------------------

Deno.test("handles: proxy 1,3,5..., worker 2,4,...; a known map keeps its handle", () => {
  const proxy = new ControlSerializer();
  const worker = new ControlSerializer({ role: "worker" });
  const maps = [fixtureMap(), fixtureMap(), fixtureMap()];
  for (const m of maps) serialized(proxy, m);
  assert.deepEqual(maps.map((m) => proxy.handleOf(m)), [1, 3, 5]);
  const again = serialized(proxy, maps[0]);
  assert.equal(u32(again, H.handle), 1);
  serialized(worker, maps[0]);
  serialized(worker, maps[1]);
  assert.deepEqual([worker.handleOf(maps[0]), worker.handleOf(maps[1])], [2, 4]);
});

Deno.test("deserializing a known handle returns the cached map (libcamera behaviour)", () => {
  const { worker, workerMap, mapBytes } = linkedPair();
  assert.equal(worker.deserializeInfoMap(mapBytes), workerMap);
});

Deno.test("a new handle skips handles the peer already uses", () => {
  const peer = new ControlSerializer({ role: "proxy" });
  const me = new ControlSerializer({ role: "proxy" }); // same role: would collide
  const theirs = me.deserializeInfoMap(serialized(peer, fixtureMap()));
  const mine = fixtureMap();
  serialized(me, mine);
  assert.equal(me.handleOf(theirs), 1);
  assert.equal(me.handleOf(mine), 3);
});

Deno.test("ENOENT: list whose map was never serialized", () => {
  const s = new ControlSerializer();
  const list = fixtureList(fixtureMap());
  assert.throws(
    () => s.serialize(list, new Uint8Array(4096)),
    (e: unknown) =>
      e instanceof UnknownHandleError && e.code === "ENOENT" && e.handle === undefined &&
      e instanceof ControlSerializerError && e instanceof RingdumpError,
  );
});

Deno.test("ENOENT: list packet naming a map the reader never saw", () => {
  const { proxy, map } = linkedPair();
  const bytes = serialized(proxy, fixtureList(map));
  assert.throws(
    () => new ControlSerializer({ role: "worker" }).deserializeList(bytes),
    (e: unknown) => e instanceof UnknownHandleError && e.code === "ENOENT" && e.handle === 1,
  );
});

Deno.test("reset() forgets handles on both sides and restarts numbering", () => {
  const { proxy, worker, map, workerMap } = linkedPair();
  const listBytes = serialized(proxy, fixtureList(map));
  proxy.reset();
  worker.reset();
  assert.equal(proxy.handleOf(map), undefined);
  assert.equal(worker.handleOf(workerMap), undefined);
  assert.throws(() => serialized(proxy, fixtureList(map)), UnknownHandleError);
  assert.throws(() => worker.deserializeList(listBytes), UnknownHandleError);
  const other = fixtureMap();
  serialized(proxy, other);
  assert.equal(proxy.handleOf(other), 1);
});

// ---------------------------------------------------------------------------
// ENOSPC
// ---------------------------------------------------------------------------

Deno.test("ENOSPC: too small a buffer throws, writes nothing, assigns no handle", () => {
  const s = new ControlSerializer();
  const map = fixtureMap();
  const size = s.binarySize(map);
  const small = new Uint8Array(size - 1).fill(0xaa);
  assert.throws(
    () => s.serialize(map, small),
    (e: unknown) =>
      e instanceof NoSpaceError && e.code === "ENOSPC" && e.needed === size &&
      e.available === size - 1,
  );
  assert.ok(small.every((b) => b === 0xaa));
  assert.equal(s.handleOf(map), undefined);
  const big = new Uint8Array(size + 100).fill(0xaa);
  assert.equal(s.serialize(map, big), size);
  assert.equal(s.handleOf(map), 1);
  assert.ok(big.subarray(size).every((b) => b === 0xaa), "bytes past the packet untouched");

  const list = fixtureList(map);
  const need = s.binarySize(list);
  assert.throws(() => s.serialize(list, new Uint8Array(need - 1)), NoSpaceError);
  assert.throws(
    () => s.serialize(list, new Uint8Array(0)),
    (e: unknown) => e instanceof NoSpaceError && e.available === 0,
  );
});

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

Deno.test("ControlList validates ids, types, array-ness and values against its map", () => {
  const list = new ControlList(fixtureMap());
  assert.throws(
    () => list.set(99, int32Value(1)),
    (e: unknown) => e instanceof UnknownControlError && e.id === 99 && e.code === "EINVAL",
  );
  assert.throws(
    () => list.set(ids.gain, floatValue(1)),
    (e: unknown) =>
      e instanceof ControlTypeError && e.id === 3 && e.expected === ControlType.Integer32 &&
      e.actual === ControlType.Float,
  );
  assert.throws(() => list.set(ids.gain, int32Value([1, 2])), ControlTypeError);
  assert.throws(() => list.set(ids.lut, int32Value(1)), ControlTypeError);
  assert.throws(() => list.set(ids.gain, noneValue()), ControlTypeError);
  const bad = (v: unknown) => () => list.set(ids.gain, v as ControlValue);
  assert.throws(bad({ type: 3, isArray: false, values: [2 ** 31] }), ControlValidationError);
  assert.throws(bad({ type: 3, isArray: false, values: [1.5] }), ControlValidationError);
  assert.throws(bad({ type: 3, isArray: false, values: [] }), ControlValidationError);
  assert.throws(bad({ type: 3, isArray: false, values: [1, 2] }), ControlValidationError);
  assert.throws(bad(null), ControlValidationError);
  assert.throws(
    () => list.set(ids.lut, int32Value(new Array(0x10000).fill(0))),
    ControlValidationError,
  );
  list.set(ids.lut, int32Value(new Array(0xffff).fill(0)));
  assert.throws(() => list.set(ids.pattern, byteValue([256])), ControlValidationError);
  assert.throws(() => stringValue("\ud800"), ControlValidationError);
  assert.throws(() => int64Value(2 ** 60), ControlValidationError);
  assert.throws(
    () => list.set(ids.frameDuration, { type: 4, isArray: false, values: [1n << 63n] }),
    ControlValidationError,
  );
  assert.equal(list.size, 1);
});

Deno.test("ControlInfo, ControlInfoMap and ControlId reject what the format cannot carry", () => {
  assert.throws(() => new ControlInfo(int32Value([1, 2])), ControlValidationError);
  assert.throws(
    () =>
      new ControlInfoMap([[ids.gain, new ControlInfo(int32Value(0))], [
        ids.gain,
        new ControlInfo(int32Value(0)),
      ]]),
    ControlValidationError,
  );
  assert.throws(
    () => new ControlInfoMap([[ids.gain, new ControlInfo(floatValue(1))]]),
    ControlTypeError,
  );
  // A String control's range is Integer32 (libcamera's ControlInfoMap::validate()).
  assert.throws(
    () => new ControlInfoMap([[ids.model, new ControlInfo(byteValue(1))]]),
    ControlTypeError,
  );
  assert.throws(() => new ControlId(-1, "x", { type: ControlType.Bool }), ControlValidationError);
  assert.throws(() => new ControlId(2 ** 32, "x", { type: ControlType.Bool }));
  assert.throws(
    () => new ControlId(1, "x", { type: 9 as ControlType }),
    ControlValidationError,
  );
  assert.throws(
    () => new ControlId(1, "x", { type: ControlType.String, isArray: false }),
    ControlValidationError,
  );
});

Deno.test("value helpers: float rounding, int64 from numbers, frozen copies", () => {
  assert.deepEqual(floatValue(0.1).values, [Math.fround(0.1)]);
  assert.deepEqual(int64Value([1, 2n]).values, [1n, 2n]);
  const list = new ControlList(fixtureMap());
  const values = [1, 2, 3];
  list.set(ids.lut, { type: ControlType.Integer32, isArray: true, values });
  values[0] = 100;
  assert.deepEqual(list.get(ids.lut)?.values, [1, 2, 3]);
  assert.ok(Object.isFrozen(list.get(ids.lut)?.values));
  list.set(ids.ev, { type: ControlType.Float, isArray: false, values: [0.1] });
  assert.deepEqual(list.get(ids.ev)?.values, [Math.fround(0.1)]);
  const s = new ControlSerializer();
  assert.throws(
    () => s.deserializeList([1, 2, 3] as unknown as Uint8Array),
    ControlValidationError,
  );
});

// ---------------------------------------------------------------------------
// Malformed packets
// ---------------------------------------------------------------------------

Deno.test("malformed: short buffer, version, id map type", () => {
  const { worker, proxy, map } = linkedPair();
  assertMalformed(() => worker.deserializeList(new Uint8Array(0)), 0);
  assertMalformed(() => worker.deserializeInfoMap(new Uint8Array(31)), 0);
  const b = serialized(proxy, fixtureList(map));
  const v2 = b.slice();
  setU32(v2, H.version, 2);
  assertMalformed(() => worker.deserializeList(v2), H.version);
  const idm = b.slice();
  setU32(idm, H.id_map_type, 3);
  assertMalformed(() => worker.deserializeList(idm), H.id_map_type);
});

Deno.test("malformed: a header claiming gigabytes is rejected from the header alone", () => {
  const s = new ControlSerializer();
  const hdr = new Uint8Array(HSIZE);
  setU32(hdr, H.version, 1);
  setU32(hdr, H.handle, 1);
  setU32(hdr, H.entries, 0x0fff_ffff);
  setU32(hdr, H.size, 0xffff_fff0);
  setU32(hdr, H.data_offset, 0xffff_fff0);
  assertMalformed(() => s.deserializeInfoMap(hdr), H.size);
  // Size within the buffer but entries that cannot fit before data_offset.
  setU32(hdr, H.size, HSIZE);
  setU32(hdr, H.data_offset, HSIZE);
  assertMalformed(() => s.deserializeInfoMap(hdr), H.entries);
  // data_offset past size or misaligned.
  setU32(hdr, H.entries, 0);
  setU32(hdr, H.data_offset, HSIZE + 8);
  assertMalformed(() => s.deserializeInfoMap(hdr), H.data_offset);
  const big = new Uint8Array(HSIZE + 16);
  big.set(hdr);
  setU32(big, H.size, HSIZE + 16);
  setU32(big, H.data_offset, HSIZE + 4);
  assertMalformed(() => s.deserializeInfoMap(big), H.data_offset);
  // An empty map with a valid header is fine; handle 0 is not.
  setU32(big, H.data_offset, HSIZE);
  assert.equal(s.deserializeInfoMap(big).size, 0);
  setU32(big, H.handle, 0);
  assertMalformed(() => s.deserializeInfoMap(big), H.handle);
});

Deno.test("malformed: entry offsets, types, counts, data past the end", () => {
  const { worker, proxy, map } = linkedPair();
  const list = new ControlList(map).set(ids.gain, int32Value(7)).set(ids.enable, boolValue(true));
  const b = serialized(proxy, list);
  const dataOffset = u32(b, H.data_offset);
  const e1 = HSIZE + IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;
  assert.equal(worker.deserializeList(b).size, 2);

  const gap = b.slice();
  setU32(gap, e1 + V.offset, 12); // neither 8 (contiguous) nor align8(8) = 8
  assertMalformed(() => worker.deserializeList(gap), e1 + V.offset);
  const entryType = b.slice();
  entryType[HSIZE + V.type] = ControlType.Float;
  assertMalformed(() => worker.deserializeList(entryType), dataOffset);
  const inlineType = b.slice();
  setU32(inlineType, dataOffset, 42);
  assertMalformed(() => worker.deserializeList(inlineType), dataOffset);
  const unknownType = b.slice();
  unknownType[HSIZE + V.type] = 9;
  assertMalformed(() => worker.deserializeList(unknownType), HSIZE + V.type);
  const isArray = b.slice();
  isArray[HSIZE + V.is_array] = 2;
  assertMalformed(() => worker.deserializeList(isArray), HSIZE + V.is_array);
  const scalarCount = b.slice();
  scalarCount[HSIZE + V.count] = 2;
  assertMalformed(() => worker.deserializeList(scalarCount), dataOffset);
  const boolByte = b.slice();
  boolByte[b.length - 1] = 2;
  assertMalformed(() => worker.deserializeList(boolByte), b.length - 1);
  const dup = b.slice();
  setU32(dup, e1 + V.id, ids.gain.id);
  assertMalformed(() => worker.deserializeList(dup), e1 + V.id);
  const truncated = b.slice(0, b.length - 1);
  setU32(truncated, H.size, truncated.length);
  assertMalformed(() => worker.deserializeList(truncated), b.length - 5);
  assertMalformed(() => worker.deserializeList(b.slice(0, b.length - 1)), H.size);
});

Deno.test("malformed: invalid UTF-8 and scalar strings; type errors against the map", () => {
  const { worker, proxy, map } = linkedPair();
  const b = serialized(proxy, new ControlList(map).set(ids.model, stringValue("ab")));
  const utf8 = b.slice();
  utf8[b.length - 1] = 0xff;
  assertMalformed(() => worker.deserializeList(utf8), b.length - 2);
  const scalar = b.slice();
  scalar[HSIZE + V.is_array] = 0;
  assertMalformed(() => worker.deserializeList(scalar));
  // A well-formed packet whose value the map does not accept: typed validation errors.
  const wrongId = b.slice();
  setU32(wrongId, HSIZE + V.id, 1234);
  assert.throws(() => worker.deserializeList(wrongId), UnknownControlError);
  const g = serialized(proxy, new ControlList(map).set(ids.gain, int32Value(5)));
  setU32(g, HSIZE + V.id, ids.ev.id);
  assert.throws(() => worker.deserializeList(g), ControlTypeError);
  // The map packet says Float for a control the reader knows as Integer32.
  const m = serialized(new ControlSerializer(), fixtureMap());
  setU32(m, HSIZE + 2 * IPA_CONTROL_INFO_ENTRY_LAYOUT.size + I.type, ControlType.Float);
  assert.throws(
    () => new ControlSerializer({ role: "worker" }).deserializeInfoMap(m, { controls: allIds }),
    ControlTypeError,
  );
});

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

const UINT32 = 0xffff_ffff;
const elementArb = (type: ControlType): fc.Arbitrary<unknown> => {
  switch (type) {
    case ControlType.Bool:
      return fc.boolean();
    case ControlType.Byte:
      return fc.integer({ min: 0, max: 255 });
    case ControlType.Integer32:
      return fc.integer();
    case ControlType.Integer64:
      return fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    case ControlType.Float:
      return fc.float();
    case ControlType.Rectangle:
      return fc.record({
        x: fc.integer(),
        y: fc.integer(),
        width: fc.integer({ min: 0, max: UINT32 }),
        height: fc.integer({ min: 0, max: UINT32 }),
      });
    case ControlType.Size:
      return fc.record({
        width: fc.integer({ min: 0, max: UINT32 }),
        height: fc.integer({ min: 0, max: UINT32 }),
      });
    default:
      throw new Error(`no element arbitrary for ${type}`);
  }
};

function valueArb(type: ControlType, isArray: boolean): fc.Arbitrary<ControlValue> {
  if (type === ControlType.None) return fc.constant(noneValue());
  if (type === ControlType.String) {
    return fc.string({ unit: "grapheme", maxLength: 12 }).map(stringValue);
  }
  const values = isArray
    ? fc.array(elementArb(type), { maxLength: 6 })
    : elementArb(type).map((v) => [v]);
  return values.map((vs) => ({ type, isArray, values: vs }) as ControlValue);
}

const controlIdArb = fc.record({
  id: fc.integer({ min: 0, max: UINT32 }),
  name: fc.string({ maxLength: 8 }),
  type: fc.integer({ min: 0, max: 8 }) as fc.Arbitrary<ControlType>,
  isArray: fc.boolean(),
}).map(({ id, name, type, isArray }) =>
  new ControlId(id, name, {
    type,
    isArray: type === ControlType.String ? true : type === ControlType.None ? false : isArray,
  })
);

const infoArb = (cid: ControlId): fc.Arbitrary<ControlInfo> => {
  const rangeType = cid.type === ControlType.String ? ControlType.Integer32 : cid.type;
  // libcamera needs min of the range type; max and def may be unset.
  const set = valueArb(rangeType, false);
  const one = fc.oneof(fc.constant(noneValue()), set);
  return fc.tuple(set, one, one).map(([min, max, def]) => new ControlInfo(min, max, { def }));
};

const mapArb: fc.Arbitrary<ControlInfoMap> = fc
  .uniqueArray(controlIdArb, { selector: (c) => c.id, maxLength: 8 })
  .chain((cids) => fc.tuple(...cids.map((c) => infoArb(c).map((i) => [c, i] as const))))
  // Random ids are local controls (V4L2): the global id map types hold libcamera's ids only.
  .map((entries) => new ControlInfoMap(entries));

const mapAndListArb = mapArb.chain((map) => {
  const settable = map.ids().filter((c) => c.type !== ControlType.None);
  return fc.subarray(settable).chain((chosen) =>
    fc.tuple(...chosen.map((c) => valueArb(c.type, c.isArray === true))).map((values) => {
      const list = new ControlList(map);
      chosen.forEach((c, k) => list.set(c, values[k]));
      return { map, list };
    })
  );
});

Deno.test("property: random info maps round-trip", () => {
  fc.assert(
    fc.property(mapArb, (map) => {
      const proxy = new ControlSerializer();
      const bytes = serialized(proxy, map);
      const got = new ControlSerializer({ role: "worker" }).deserializeInfoMap(bytes, {
        controls: map.ids(),
      });
      assert.deepEqual([...got], [...map]);
      assert.equal(got.idMapType, map.idMapType);
    }),
    { seed: 0x5eed, numRuns: 300 },
  );
});

Deno.test("property: random lists round-trip both ways", () => {
  fc.assert(
    fc.property(mapAndListArb, ({ map, list }) => {
      const proxy = new ControlSerializer();
      const worker = new ControlSerializer({ role: "worker" });
      const workerMap = worker.deserializeInfoMap(serialized(proxy, map), {
        controls: map.ids(),
      });
      const atWorker = worker.deserializeList(serialized(proxy, list));
      assert.equal(atWorker.infoMap, workerMap);
      assert.deepEqual([...atWorker], [...list]);
      const back = proxy.deserializeList(serialized(worker, atWorker));
      assert.equal(back.infoMap, map);
      assert.deepEqual([...back], [...list]);
    }),
    { seed: 0x1157, numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------
// Fuzz: only typed errors, and whatever is accepted re-serializes identically
// ---------------------------------------------------------------------------

Deno.test("fuzz: random, truncated and bit-flipped packets raise only typed errors", () => {
  const sources: { kind: "map" | "list"; bytes: Uint8Array }[] = [];
  const mapBytes: Uint8Array[] = [];
  {
    const { proxy, map, mapBytes: mb } = linkedPair();
    mapBytes.push(mb);
    sources.push({ kind: "map", bytes: mb });
    sources.push({ kind: "list", bytes: serialized(proxy, fixtureList(map)) });
    sources.push({
      kind: "list",
      bytes: serialized(proxy, new ControlList(map).set(ids.model, stringValue("héllo"))),
    });
  }
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

  const attempt = (kind: "map" | "list", buf: Uint8Array): void => {
    const s = new ControlSerializer({ role: "worker" });
    // For lists, handle 1 is known, so they get past ENOENT.
    if (kind === "list") s.deserializeInfoMap(mapBytes[0], { controls: allIds });
    try {
      if (kind === "map") {
        const m = s.deserializeInfoMap(buf, { controls: allIds });
        // Accepted: it must serialize again and read back the same.
        const again = serialized(new ControlSerializer(), m);
        assert.deepEqual(
          [...new ControlSerializer().deserializeInfoMap(again, { controls: allIds })],
          [...m],
        );
      } else {
        const l = s.deserializeList(buf);
        const again = s.deserializeList(serialized(s, l));
        assert.deepEqual([...again], [...l]);
      }
      count("ok");
    } catch (e) {
      if (!(e instanceof ControlSerializerError)) throw e;
      count(e.constructor.name);
    }
  };

  const sourceArb = fc.nat({ max: sources.length - 1 }).map((i) => sources[i]);
  const kindArb = fc.constantFrom<"map" | "list">("map", "list");
  const mutation = fc.oneof(
    // Random bytes, sometimes behind a plausible header.
    fc.record({
      tag: fc.constant("random" as const),
      bytes: fc.uint8Array({ maxLength: 400 }),
      kind: kindArb,
      header: fc.boolean(),
    }),
    // Truncated, with or without the header's size patched to match.
    fc.record({
      tag: fc.constant("truncate" as const),
      src: sourceArb,
      keep: fc.double({ min: 0, max: 1, noNaN: true }),
      patch: fc.boolean(),
    }),
    // Bit flips.
    fc.record({
      tag: fc.constant("flip" as const),
      src: sourceArb,
      flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 7 })), { minLength: 1, maxLength: 6 }),
    }),
    // Whole 32-bit fields overwritten with interesting numbers.
    fc.record({
      tag: fc.constant("word" as const),
      src: sourceArb,
      words: fc.array(
        fc.tuple(
          fc.nat(),
          fc.constantFrom(0, 1, 7, 8, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  );

  fc.assert(
    fc.property(mutation, (m) => {
      if (m.tag === "random") {
        const buf = m.bytes.slice();
        if (m.header && buf.length >= HSIZE) {
          setU32(buf, H.version, 1);
          setU32(buf, H.handle, 1);
          setU32(buf, H.size, buf.length);
          setU32(buf, H.entries, buf[H.entries] % 8);
          setU32(buf, H.data_offset, HSIZE + 16 * (buf[H.entries] % 8));
          setU32(buf, H.id_map_type, 2);
        }
        attempt(m.kind, buf);
      } else if (m.tag === "truncate") {
        const n = Math.floor(m.keep * m.src.bytes.length);
        const buf = m.src.bytes.slice(0, n);
        if (m.patch && n >= HSIZE) setU32(buf, H.size, n);
        attempt(m.src.kind, buf);
      } else if (m.tag === "flip") {
        const buf = m.src.bytes.slice();
        for (const [pos, bit] of m.flips) buf[pos % buf.length] ^= 1 << bit;
        attempt(m.src.kind, buf);
      } else {
        const buf = m.src.bytes.slice();
        for (const [pos, w] of m.words) setU32(buf, (pos % (buf.length >> 2)) * 4, w);
        attempt(m.src.kind, buf);
      }
    }),
    { seed: 20240607, numRuns: 5000 },
  );
  // The fuzzer must have reached both outcomes and the deep checks, not just the header.
  assert.ok((outcomes.get("ok") ?? 0) > 100, JSON.stringify([...outcomes]));
  for (const kind of ["MalformedControlsError", "UnknownHandleError"]) {
    assert.ok((outcomes.get(kind) ?? 0) > 10, `${kind}: ${JSON.stringify([...outcomes])}`);
  }
});
