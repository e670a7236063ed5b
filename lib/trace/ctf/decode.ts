/**
 * Decoding CTF binary data: a bit reader over one packet and decoders
 * compiled from the {@linkcode CtfType}s of the metadata (integers of any
 * size, alignment and byte order, floats, strings, enums, structs, variants,
 * arrays, sequences). Clock-mapped integers narrower than 64 bits update the
 * stream's clock as CTF specifies: the low bits are replaced, and a value
 * lower than the clock's low bits means they wrapped.
 *
 * @module
 */
import { TraceFormatError } from "../errors.ts";
import type { CtfEnumType, CtfIntType, CtfType } from "./tsdl.ts";

/** A decoded value. */
export type CtfValue =
  | number
  | bigint
  | string
  | readonly CtfValue[]
  | { readonly [name: string]: CtfValue };

/** Decodes one value at the reader's position. */
export type CtfDecoder = (r: BitReader) => CtfValue;

/** The scopes absolute paths start from (`event.fields.x`, `stream.packet.context.y`). */
export type CtfRoot =
  | "trace.packet.header"
  | "stream.packet.context"
  | "stream.event.header"
  | "stream.event.context"
  | "event.context"
  | "event.fields";

const ROOTS: readonly CtfRoot[] = [
  "trace.packet.header",
  "stream.packet.context",
  "stream.event.header",
  "stream.event.context",
  "event.context",
  "event.fields",
];

const TWO32 = 0x1_0000_0000;
/** Short ASCII strings by hash: traces repeat a few names millions of times. */
const STRINGS = new Map<number, { bytes: Uint8Array; text: string }>();
const decoder = new TextDecoder("utf-8");

/**
 * Reads bits from a packet's bytes. Positions are in bits from the start of
 * `buf`; `base` is the file offset of `buf[0]`, for messages.
 *
 * @example
 * ```ts
 * import { BitReader } from "./decode.ts";
 * const r = new BitReader("f", new Uint8Array([0xff, 0x01]));
 * console.log(r.uint(5, "le"), r.uint(11, "le")); // 31 15
 * ```
 */
export class BitReader {
  /** The file read, for messages. */
  readonly path: string;
  /** The bytes. */
  buf: Uint8Array;
  /** A view of them. */
  view: DataView;
  /** Position in bits. */
  pos = 0;
  /** End of the readable bits (the packet's content). */
  end: number;
  /** File offset of `buf[0]`. */
  base = 0;
  /** The stream clock's value in cycles. */
  clock = 0;
  /** Whether clock-mapped integers update {@linkcode BitReader.clock}. */
  clockOn = true;
  /** The structs being decoded, innermost last. */
  readonly scopes: Record<string, CtfValue>[] = [];
  /** Decoded root scopes, for absolute paths. */
  readonly roots: Partial<Record<CtfRoot, Record<string, CtfValue>>> = {};

  /** Reads `buf` (all of it, until {@linkcode BitReader.end} is changed). */
  constructor(path: string, buf: Uint8Array, base = 0) {
    this.path = path;
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = buf.length * 8;
    this.base = base;
  }

  /** Points the reader at other bytes. */
  reset(buf: Uint8Array, base: number): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    this.end = buf.length * 8;
    this.base = base;
  }

  /** A {@linkcode TraceFormatError} naming the file and the byte offset of `bit`. */
  fail(why: string, bit: number = this.pos): TraceFormatError {
    const offset = this.base + Math.floor(bit / 8);
    return new TraceFormatError(`${this.path}: byte ${offset}: ${why}`, {
      path: this.path,
      format: "ctf",
      offset,
    });
  }

  /** Skips to a multiple of `bits`. */
  align(bits: number): void {
    if (bits > 1) {
      const r = this.pos % bits;
      if (r) this.pos += bits - r;
    }
  }

  #need(bits: number): void {
    if (this.pos + bits > this.end) {
      throw this.fail(
        `the data is cut: ${bits} bits needed, ${
          Math.max(0, this.end - this.pos)
        } left in the packet`,
      );
    }
  }

  /** An unsigned integer of `size` bits (a number; above 2^53 it is rounded). */
  uint(size: number, order: "le" | "be"): number {
    this.#need(size);
    const pos = this.pos;
    this.pos = pos + size;
    if ((pos & 7) === 0) {
      const b = pos >>> 3;
      if (order === "le") {
        if (size === 8) return this.buf[b];
        if (size === 16) return this.view.getUint16(b, true);
        if (size === 32) return this.view.getUint32(b, true);
        if (size === 64) {
          return this.view.getUint32(b, true) + this.view.getUint32(b + 4, true) * TWO32;
        }
      } else {
        if (size === 8) return this.buf[b];
        if (size === 16) return this.view.getUint16(b, false);
        if (size === 32) return this.view.getUint32(b, false);
        if (size === 64) {
          return this.view.getUint32(b, false) * TWO32 + this.view.getUint32(b + 4, false);
        }
      }
    }
    const off = pos & 7;
    const first = pos >>> 3;
    const n = (off + size + 7) >>> 3;
    if (off + size <= 48) {
      let v = 0;
      if (order === "le") {
        for (let k = n - 1; k >= 0; k--) v = v * 256 + this.buf[first + k];
        return Math.floor(v / 2 ** off) % 2 ** size;
      }
      for (let k = 0; k < n; k++) v = v * 256 + this.buf[first + k];
      return Math.floor(v / 2 ** (n * 8 - off - size)) % 2 ** size;
    }
    return Number(this.#bigBits(first, n, off, size, order));
  }

  #bigBits(first: number, n: number, off: number, size: number, order: "le" | "be"): bigint {
    let v = 0n;
    if (order === "le") {
      for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(this.buf[first + k]);
      return (v >> BigInt(off)) & ((1n << BigInt(size)) - 1n);
    }
    for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(this.buf[first + k]);
    return (v >> BigInt(n * 8 - off - size)) & ((1n << BigInt(size)) - 1n);
  }

  /** A NUL-terminated string (byte aligned). Repeated short strings come from a cache. */
  string(): string {
    this.align(8);
    const start = this.pos >>> 3;
    const endByte = this.end >>> 3;
    const buf = this.buf;
    let i = start;
    let hash = 0;
    let ascii = true;
    while (i < endByte) {
      const b = buf[i];
      if (b === 0) break;
      if (b >= 0x80) ascii = false;
      hash = (Math.imul(hash, 31) + b) | 0;
      i++;
    }
    if (i >= endByte) throw this.fail("a string is cut (no NUL before the packet's end)");
    this.pos = (i + 1) * 8;
    const len = i - start;
    if (!ascii || len > 64) return decoder.decode(buf.subarray(start, i));
    const hit = STRINGS.get(hash);
    if (hit && hit.bytes.length === len) {
      let same = true;
      for (let k = 0; k < len; k++) {
        if (hit.bytes[k] !== buf[start + k]) {
          same = false;
          break;
        }
      }
      if (same) return hit.text;
    }
    let text = "";
    for (let k = start; k < i; k++) text += String.fromCharCode(buf[k]);
    if (STRINGS.size >= 4096) STRINGS.clear();
    STRINGS.set(hash, { bytes: buf.slice(start, i), text });
    return text;
  }

  /** Looks a field up by name in the innermost struct that has it. */
  lookupName(name: string): CtfValue | undefined {
    const scopes = this.scopes;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const v = scopes[i][name];
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Looks a field up by path: the innermost struct that has it, or an absolute path. */
  lookup(path: string): CtfValue | undefined {
    for (const root of ROOTS) {
      if (path.startsWith(root + ".")) {
        return walk(this.roots[root], path.slice(root.length + 1).split("."));
      }
    }
    const parts = path.split(".");
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i];
      if (parts[0] in s) return walk(s, parts);
    }
    return undefined;
  }
}

function walk(v: CtfValue | undefined, parts: readonly string[]): CtfValue | undefined {
  for (const p of parts) {
    if (v === undefined || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, CtfValue>)[p];
  }
  return v;
}

/** What compiling needs: the trace byte order and the types of the scopes in view. */
export interface CompileContext {
  /** `trace.byte_order`, for `native`. */
  readonly byteOrder: "le" | "be";
  /** Types of the root scopes compiled so far (for absolute paths). */
  readonly roots: Partial<Record<CtfRoot, CtfType>>;
}

interface Scope {
  readonly fields: Map<string, CtfType>;
}

function findType(
  path: string,
  scopes: readonly Scope[],
  ctx: CompileContext,
): CtfType | undefined {
  let parts = path.split(".");
  let type: CtfType | undefined;
  const root = ROOTS.find((r) => path.startsWith(r + "."));
  if (root) {
    type = ctx.roots[root];
    parts = path.slice(root.length + 1).split(".");
  } else {
    for (let i = scopes.length - 1; i >= 0 && !type; i--) {
      const t = scopes[i].fields.get(parts[0]);
      if (t) {
        type = { kind: "struct", fields: [{ name: parts[0], type: t }], align: 1 };
      }
    }
  }
  for (const p of parts) {
    if (!type || type.kind !== "struct") return undefined;
    type = type.fields.find((f) => f.name === p)?.type;
  }
  return type;
}

/** The least number of bits a value of the type takes (to bound sequence lengths). */
function minBits(t: CtfType): number {
  switch (t.kind) {
    case "int":
    case "float":
      return t.size;
    case "enum":
      return t.int.size;
    case "string":
      return 8;
    case "struct":
      return t.fields.reduce((s, f) => s + minBits(f.type), 0);
    case "array":
      return t.length * minBits(t.element);
    default:
      return 0;
  }
}

function intDecoder(t: CtfIntType, ctx: CompileContext): CtfDecoder {
  const order = t.byteOrder === "native" ? ctx.byteOrder : t.byteOrder;
  const { size, align, signed, clock } = t;
  const half = 2 ** (size - 1), full = 2 ** size;
  if (clock !== undefined) {
    return (r) => {
      r.align(align);
      const v = r.uint(size, order);
      if (r.clockOn) {
        if (size >= 53) r.clock = v;
        else {
          const low = r.clock % full;
          let next = r.clock - low + v;
          if (v < low) next += full;
          r.clock = next;
        }
      }
      return v;
    };
  }
  if (signed) {
    return (r) => {
      r.align(align);
      const v = r.uint(size, order);
      return v >= half ? v - full : v;
    };
  }
  if (align === 8 && size === 8) {
    return (r) => {
      r.align(8);
      return r.uint(8, order);
    };
  }
  return (r) => {
    r.align(align);
    return r.uint(size, order);
  };
}

/**
 * A struct's decoder. Generated code with a named store per member (one
 * hidden class per struct, several times faster than stores by a computed
 * key); the loop where code generation is not allowed.
 */
function structDecoder(align: number, names: readonly string[], decs: CtfDecoder[]): CtfDecoder {
  try {
    const body = names.map((n, i) => `o[${JSON.stringify(n)}] = decs[${i}](r);`).join("\n");
    return new Function(
      "decs",
      `return function struct(r) {
        r.align(${align});
        const o = {};
        r.scopes.push(o);
        ${body}
        r.scopes.pop();
        return o;
      };`,
    )(decs) as CtfDecoder;
  } catch {
    const n = names.length;
    return (r) => {
      r.align(align);
      const o: Record<string, CtfValue> = {};
      r.scopes.push(o);
      for (let i = 0; i < n; i++) o[names[i]] = decs[i](r);
      r.scopes.pop();
      return o;
    };
  }
}

function textOf(values: readonly CtfValue[]): string {
  const bytes = new Uint8Array(values.length);
  let n = 0;
  for (; n < values.length && values[n] !== 0; n++) bytes[n] = values[n] as number;
  return decoder.decode(bytes.subarray(0, n));
}

function compileType(t: CtfType, scopes: Scope[], ctx: CompileContext, depth: number): CtfDecoder {
  if (depth > 64) throw new Error("types nested too deeply");
  switch (t.kind) {
    case "int":
      return intDecoder(t, ctx);
    case "float": {
      const le = (t.byteOrder === "native" ? ctx.byteOrder : t.byteOrder) === "le";
      const { size, align } = t;
      return (r) => {
        r.align(Math.max(align, 8));
        if (r.pos + size > r.end) throw r.fail(`a ${size}-bit float is cut`);
        const b = r.pos >>> 3;
        r.pos += size;
        return size === 32 ? r.view.getFloat32(b, le) : r.view.getFloat64(b, le);
      };
    }
    case "enum":
      return intDecoder(t.int, ctx);
    case "string":
      return (r) => r.string();
    case "struct": {
      const scope: Scope = { fields: new Map() };
      scopes.push(scope);
      const names: string[] = [];
      const decs: CtfDecoder[] = [];
      for (const f of t.fields) {
        names.push(f.name);
        decs.push(compileType(f.type, scopes, ctx, depth + 1));
        scope.fields.set(f.name, f.type);
      }
      scopes.pop();
      return structDecoder(t.align, names, decs);
    }
    case "variant": {
      const tagType = findType(t.tag, scopes, ctx);
      if (!tagType || tagType.kind !== "enum") {
        throw new Error(`variant tag '${t.tag}' is not an enum field in scope`);
      }
      const enumType: CtfEnumType = tagType;
      const options = new Map<string, CtfDecoder>();
      for (const o of t.options) options.set(o.name, compileType(o.type, scopes, ctx, depth + 1));
      const ranges = enumType.mappings.map((m) => ({
        lo: m.lo,
        hi: m.hi,
        dec: options.get(m.label) ?? options.get(m.label.replace(/^_/, "")),
        label: m.label,
      }));
      const tag = t.tag;
      const simple = !tag.includes(".");
      return (r) => {
        const v = simple ? r.lookupName(tag) : r.lookup(tag);
        if (typeof v !== "number") throw r.fail(`variant tag '${tag}' has no value`);
        for (const m of ranges) {
          if (v >= m.lo && v <= m.hi) {
            if (!m.dec) throw r.fail(`variant tag '${tag}' = ${v} (${m.label}) selects no option`);
            return m.dec(r);
          }
        }
        throw r.fail(`variant tag '${tag}' = ${v} is not one of its enum's values`);
      };
    }
    case "array":
    case "sequence": {
      const el = t.element;
      const text = el.kind === "int" && el.text && el.size === 8;
      const dec = compileType(el, scopes, ctx, depth + 1);
      const least = Math.max(1, minBits(el));
      const align = t.align;
      const fixed = t.kind === "array" ? t.length : -1;
      const lengthPath = t.kind === "sequence" ? t.length : "";
      if (t.kind === "sequence") {
        const lt = findType(lengthPath, scopes, ctx);
        if (!lt || (lt.kind !== "int" && lt.kind !== "enum")) {
          throw new Error(`sequence length '${lengthPath}' is not an integer field in scope`);
        }
      }
      const simple = !lengthPath.includes(".");
      return (r) => {
        let n = fixed;
        if (n < 0) {
          const v = simple ? r.lookupName(lengthPath) : r.lookup(lengthPath);
          if (typeof v !== "number" || v < 0 || !Number.isSafeInteger(v)) {
            throw r.fail(`sequence length '${lengthPath}' is ${v === undefined ? "missing" : v}`);
          }
          n = v;
        }
        r.align(align);
        if (n * least > r.end - r.pos) {
          throw r.fail(`an array of ${n} elements is longer than the rest of the packet`);
        }
        const out: CtfValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = dec(r);
        return text ? textOf(out) : out;
      };
    }
  }
}

/**
 * Compiles a type into a decoder. Throws an `Error` for a variant tag or a
 * sequence length that names no suitable field.
 *
 * @example
 * ```ts
 * import { BitReader, compileDecoder } from "./decode.ts";
 * const dec = compileDecoder(
 *   { kind: "int", size: 16, align: 8, signed: true, byteOrder: "be", text: false },
 *   { byteOrder: "le", roots: {} },
 * );
 * console.log(dec(new BitReader("f", new Uint8Array([0xff, 0xfe])))); // -2
 * ```
 */
export function compileDecoder(type: CtfType, ctx: CompileContext): CtfDecoder {
  return compileType(type, [], ctx, 0);
}
