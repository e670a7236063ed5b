/**
 * Reading and writing the parts of an `ipa_controls` packet: header, values.
 *
 * @module
 */

import { ControlValidationError, MalformedControlsError } from "./errors.ts";
import {
  CONTROL_TYPE_SIZE,
  ControlType,
  controlTypeName,
  ELEMENT_SIZE,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_ALIGNMENT,
  IPA_CONTROLS_FORMAT_VERSION,
  IPA_CONTROLS_HEADER_LAYOUT,
  type IpaControlIdMapType,
  isControlType,
} from "./format.ts";
import { type ControlValue, decoder, encoder, freezeValue } from "./values.ts";

/** The fields of a validated packet header. */
export interface Header {
  handle: number;
  entries: number;
  size: number;
  dataOffset: number;
  idMapType: IpaControlIdMapType;
}

/** Header field offsets. */
export const H = IPA_CONTROLS_HEADER_LAYOUT.offsets;
/** Value entry field offsets. */
export const V = IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets;
/** Info entry field offsets. */
export const I = IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets;

/** A DataView over `buffer` (which must be a Uint8Array). */
export function viewOf(buffer: Uint8Array): DataView {
  if (!(buffer instanceof Uint8Array)) {
    throw new ControlValidationError(undefined, "buffer must be a Uint8Array");
  }
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Writes type + elements at absolute `pos`; returns the position after. */
export function writeValue(
  buffer: Uint8Array,
  view: DataView,
  pos: number,
  value: ControlValue,
): number {
  view.setUint32(pos, value.type, true);
  pos += CONTROL_TYPE_SIZE;
  switch (value.type) {
    case ControlType.None:
      break;
    case ControlType.Bool:
      for (const v of value.values) view.setUint8(pos++, v ? 1 : 0);
      break;
    case ControlType.Byte:
      for (const v of value.values) view.setUint8(pos++, v);
      break;
    case ControlType.Integer32:
      for (const v of value.values) view.setInt32((pos += 4) - 4, v, true);
      break;
    case ControlType.Float:
      for (const v of value.values) view.setFloat32((pos += 4) - 4, v, true);
      break;
    case ControlType.Integer64:
      for (const v of value.values) view.setBigInt64((pos += 8) - 8, v, true);
      break;
    case ControlType.String: {
      const bytes = encoder.encode(value.values[0]);
      buffer.set(bytes, pos);
      pos += bytes.length;
      break;
    }
    case ControlType.Rectangle:
      for (const r of value.values) {
        view.setInt32(pos, r.x, true);
        view.setInt32(pos + 4, r.y, true);
        view.setUint32(pos + 8, r.width, true);
        view.setUint32(pos + 12, r.height, true);
        pos += 16;
      }
      break;
    case ControlType.Size:
      for (const s of value.values) {
        view.setUint32(pos, s.width, true);
        view.setUint32(pos + 4, s.height, true);
        pos += 8;
      }
      break;
  }
  return pos;
}

/** Validates the header against the buffer before anything is allocated. */
export function readHeader(buffer: Uint8Array, view: DataView, entrySize: number): Header {
  const hsize = IPA_CONTROLS_HEADER_LAYOUT.size;
  if (buffer.length < hsize) {
    throw new MalformedControlsError(
      0,
      `${buffer.length} bytes is shorter than the ${hsize}-byte header`,
    );
  }
  const version = view.getUint32(H.version, true);
  if (version !== IPA_CONTROLS_FORMAT_VERSION) {
    throw new MalformedControlsError(
      H.version,
      `unsupported format version ${version} (expected ${IPA_CONTROLS_FORMAT_VERSION})`,
    );
  }
  const idMapType = view.getUint32(H.id_map_type, true);
  if (idMapType > 2) {
    throw new MalformedControlsError(H.id_map_type, `unknown id map type ${idMapType}`);
  }
  const size = view.getUint32(H.size, true);
  if (size < hsize || size > buffer.length) {
    throw new MalformedControlsError(
      H.size,
      `header claims ${size} bytes, the buffer holds ${buffer.length}`,
    );
  }
  const entries = view.getUint32(H.entries, true);
  const dataOffset = view.getUint32(H.data_offset, true);
  if (dataOffset > size || dataOffset % IPA_CONTROLS_ALIGNMENT !== 0) {
    throw new MalformedControlsError(
      H.data_offset,
      `data offset ${dataOffset} is past the packet's ${size} bytes or not a multiple of 8`,
    );
  }
  // Both factors are < 2^32, so the product is exact in a double.
  if (hsize + entries * entrySize > dataOffset) {
    throw new MalformedControlsError(
      H.entries,
      `${entries} entries of ${entrySize} bytes do not fit before the data offset ${dataOffset}`,
    );
  }
  return { handle: view.getUint32(H.handle, true), entries, size, dataOffset, idMapType } as Header;
}

/**
 * An entry's data must come right after the previous entry's (at the
 * cursor), as libcamera 0.0.3 writes it and its deserializer demands.
 */
export function checkEntryOffset(
  hdr: Header,
  cursor: { pos: number },
  offset: number,
  fieldAt: number,
  entry: number,
): void {
  if (offset !== cursor.pos) {
    throw new MalformedControlsError(
      fieldAt,
      `entry ${entry}: data offset ${offset}, but the previous data ends at ${cursor.pos} ` +
        "(values follow each other with no gap; libcamera refuses this packet too)",
    );
  }
  if (hdr.dataOffset + offset > hdr.size) {
    throw new MalformedControlsError(
      fieldAt,
      `entry ${entry}: data offset ${offset} is past the packet`,
    );
  }
  cursor.pos = offset;
}

/** Reads one value (type + elements) at the cursor of the data section. */
export function readValue(
  buffer: Uint8Array,
  view: DataView,
  hdr: Header,
  cursor: { pos: number },
  shape: { isArray: boolean; count: number; entry: number; entryType?: number },
): ControlValue {
  const at = hdr.dataOffset + cursor.pos;
  const where = `entry ${shape.entry}`;
  if (at + CONTROL_TYPE_SIZE > hdr.size) {
    throw new MalformedControlsError(at, `${where}: value type past the end of the packet`);
  }
  const type = view.getUint32(at, true);
  if (!isControlType(type)) {
    throw new MalformedControlsError(at, `${where}: unknown value type ${type}`);
  }
  if (shape.entryType !== undefined && shape.entryType !== type) {
    throw new MalformedControlsError(
      at,
      `${where}: value type ${type} differs from the entry's type ${shape.entryType}`,
    );
  }
  const { isArray, count } = shape;
  if (type === ControlType.None && (isArray || (count !== 0 && shape.entryType !== undefined))) {
    throw new MalformedControlsError(at, `${where}: a None value has no elements`);
  }
  if (type === ControlType.String && !isArray) {
    throw new MalformedControlsError(at, `${where}: a String value must be an array`);
  }
  if (type !== ControlType.None && !isArray && count !== 1) {
    throw new MalformedControlsError(at, `${where}: a scalar has count ${count}, not 1`);
  }
  const n = type === ControlType.None ? 0 : count;
  const bytes = n * ELEMENT_SIZE[type];
  let pos = at + CONTROL_TYPE_SIZE;
  if (pos + bytes > hdr.size) {
    throw new MalformedControlsError(
      at,
      `${where}: ${n} ${controlTypeName(type)} elements (${bytes} bytes) run past the packet`,
    );
  }
  cursor.pos = pos + bytes - hdr.dataOffset;
  let values: unknown[];
  switch (type) {
    case ControlType.None:
      values = [];
      break;
    case ControlType.Bool:
      values = [];
      for (let k = 0; k < n; k++, pos++) {
        const b = view.getUint8(pos);
        if (b > 1) throw new MalformedControlsError(pos, `${where}: Bool byte is ${b}`);
        values.push(b === 1);
      }
      break;
    case ControlType.Byte:
      values = Array.from(buffer.subarray(pos, pos + n));
      break;
    case ControlType.Integer32:
      values = Array.from({ length: n }, (_, k) => view.getInt32(pos + 4 * k, true));
      break;
    case ControlType.Float:
      values = Array.from({ length: n }, (_, k) => view.getFloat32(pos + 4 * k, true));
      break;
    case ControlType.Integer64:
      values = Array.from({ length: n }, (_, k) => view.getBigInt64(pos + 8 * k, true));
      break;
    case ControlType.String:
      try {
        values = [decoder.decode(buffer.subarray(pos, pos + n))];
      } catch (e) {
        throw new MalformedControlsError(pos, `${where}: string is not valid UTF-8`, { cause: e });
      }
      break;
    case ControlType.Rectangle:
      values = Array.from({ length: n }, (_, k) => ({
        x: view.getInt32(pos + 16 * k, true),
        y: view.getInt32(pos + 16 * k + 4, true),
        width: view.getUint32(pos + 16 * k + 8, true),
        height: view.getUint32(pos + 16 * k + 12, true),
      }));
      break;
    case ControlType.Size:
      values = Array.from({ length: n }, (_, k) => ({
        width: view.getUint32(pos + 8 * k, true),
        height: view.getUint32(pos + 8 * k + 4, true),
      }));
      break;
  }
  return freezeValue({ type, isArray, values } as ControlValue);
}
