/**
 * A parser of CTF 1.8 TSDL, the metadata language of a CTF trace, as LTTng
 * writes it: `typealias`, `typedef`, named and anonymous `struct`, `variant`
 * and `enum` types, `integer` (any size, alignment, signedness, byte order,
 * clock mapping), `floating_point`, `string`, arrays and sequences, and the
 * `trace`, `env`, `clock`, `stream` and `event` blocks. Field names lose one
 * leading underscore, as CTF 1.8 specifies (LTTng writes `_pipeline_name`).
 *
 * Pure: text in, a {@linkcode CtfMetadata} out, or a {@linkcode TsdlError}
 * with the byte offset of the problem.
 *
 * @module
 */

import { lex, type Tok } from "./lex.ts";
import {
  type CtfByteOrder,
  type CtfClock,
  type CtfEnumType,
  type CtfEventClass,
  type CtfField,
  type CtfFloatType,
  type CtfIntType,
  type CtfMetadata,
  type CtfStream,
  type CtfStructType,
  type CtfType,
  type CtfVariantType,
  TsdlError,
} from "./types.ts";

export type {
  CtfArrayType,
  CtfByteOrder,
  CtfClock,
  CtfEnumType,
  CtfEventClass,
  CtfField,
  CtfFloatType,
  CtfIntType,
  CtfMetadata,
  CtfSequenceType,
  CtfStream,
  CtfStringType,
  CtfStructType,
  CtfType,
  CtfVariantType,
} from "./types.ts";
export { TsdlError } from "./types.ts";

type Value = bigint | string | { path: string };
type TypeRef = CtfType;

const TYPE_KEYWORDS = new Set(["integer", "floating_point", "string", "struct", "variant", "enum"]);
const BLOCKS = new Set(["trace", "env", "clock", "stream", "event", "callsite"]);
const MAX_DEPTH = 64;

/** Strips one leading underscore from a field name, as CTF 1.8 specifies. */
function fieldName(name: string): string {
  return name.startsWith("_") ? name.slice(1) : name;
}

function toNum(v: Value | undefined, what: string, at: number): number {
  if (typeof v !== "bigint") throw new TsdlError(`${what}: expected a number`, at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TsdlError(`${what}: ${v} is out of range`, at);
  }
  return Number(v);
}

class Parser {
  readonly toks: Tok[];
  pos = 0;
  depth = 0;
  readonly aliases = new Map<string, TypeRef>();
  readonly structs = new Map<string, TypeRef>();
  readonly variants = new Map<string, { options: readonly CtfField[]; align: number }>();
  readonly enums = new Map<string, TypeRef>();
  readonly blocks: {
    kind: string;
    attrs: Map<string, Value>;
    types: Map<string, TypeRef>;
    at: number;
  }[] = [];

  constructor(text: string) {
    this.toks = lex(text);
  }

  get tok(): Tok {
    return this.toks[this.pos];
  }

  fail(why: string, tok: Tok = this.tok): never {
    const got = tok.t === "eof" ? "the end of the metadata" : `'${String(tok.v)}'`;
    throw new TsdlError(`${why} (at ${got})`, tok.at);
  }

  isP(v: string): boolean {
    const t = this.tok;
    return t.t === "p" && t.v === v;
  }

  isId(v?: string): boolean {
    const t = this.tok;
    return t.t === "id" && (v === undefined || t.v === v);
  }

  expectP(v: string): void {
    if (!this.isP(v)) this.fail(`expected '${v}'`);
    this.pos++;
  }

  ident(): string {
    const t = this.tok;
    if (t.t !== "id") this.fail("expected a name");
    this.pos++;
    return t.v;
  }

  parse(): void {
    while (this.tok.t !== "eof") this.topLevel();
  }

  topLevel(): void {
    const t = this.tok;
    if (t.t === "id" && t.v === "typealias") {
      this.pos++;
      const type = this.typeSpec();
      this.expectP(":=");
      const names: string[] = [];
      while (this.isId() || this.isP("*")) {
        names.push(String(this.tok.v));
        this.pos++;
      }
      if (names.length === 0) this.fail("expected the alias name");
      this.expectP(";");
      this.aliases.set(names.join(" "), type);
    } else if (t.t === "id" && t.v === "typedef") {
      this.pos++;
      const { type, name } = this.declaration();
      this.expectP(";");
      this.aliases.set(name, type);
    } else if (t.t === "id" && BLOCKS.has(t.v) && this.toks[this.pos + 1]?.v === "{") {
      this.pos += 2;
      const attrs = new Map<string, Value>();
      const types = new Map<string, TypeRef>();
      while (!this.isP("}")) this.attribute(attrs, types);
      this.pos++;
      this.expectP(";");
      this.blocks.push({ kind: t.v, attrs, types, at: t.at });
    } else if (t.t === "id" && TYPE_KEYWORDS.has(t.v)) {
      this.typeSpec();
      this.expectP(";");
    } else this.fail("expected a declaration (typealias, trace, stream, event, ...)");
  }

  attribute(attrs: Map<string, Value>, types: Map<string, TypeRef>): void {
    const keyParts = [this.tok.t === "id" || this.tok.t === "str" ? String(this.tok.v) : ""];
    if (!keyParts[0]) this.fail("expected an attribute name");
    this.pos++;
    while (this.isP(".")) {
      this.pos++;
      keyParts.push(this.ident());
    }
    const key = keyParts.join(".");
    if (this.isP(":=")) {
      this.pos++;
      types.set(key, this.typeSpec());
    } else {
      this.expectP("=");
      attrs.set(key, this.value());
    }
    this.expectP(";");
  }

  value(): Value {
    const t = this.tok;
    if (t.t === "num") {
      this.pos++;
      return t.v;
    }
    if (t.t === "p" && (t.v === "-" || t.v === "+")) {
      this.pos++;
      const n = this.tok;
      if (n.t !== "num") this.fail("expected a number");
      this.pos++;
      return t.v === "-" ? -n.v : n.v;
    }
    if (t.t === "str") {
      this.pos++;
      return t.v;
    }
    if (t.t === "id") {
      const parts = [this.ident()];
      while (this.isP(".")) {
        this.pos++;
        parts.push(this.ident());
      }
      return { path: parts.join(".") };
    }
    return this.fail("expected a value");
  }

  enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail("types nested too deeply");
  }

  typeSpec(): TypeRef {
    this.enter();
    try {
      return this.typeSpecInner();
    } finally {
      this.depth--;
    }
  }

  typeSpecInner(): TypeRef {
    const t = this.tok;
    if (t.t !== "id") return this.fail("expected a type");
    switch (t.v) {
      case "integer":
        return this.integer();
      case "floating_point":
        return this.floating();
      case "string": {
        this.pos++;
        if (this.isP("{")) {
          this.pos++;
          const attrs = new Map<string, Value>();
          while (!this.isP("}")) this.attribute(attrs, new Map());
          this.pos++;
        }
        return { kind: "string", align: 8 };
      }
      case "struct":
        return this.struct();
      case "variant":
        return this.variant();
      case "enum":
        return this.enumeration();
    }
    const names: string[] = [];
    while (this.isId() && !TYPE_KEYWORDS.has(String(this.tok.v))) {
      names.push(String(this.tok.v));
      this.pos++;
    }
    const name = names.join(" ");
    const type = this.aliases.get(name);
    if (!type) this.fail(`unknown type '${name}'`, t);
    return type;
  }

  integer(): CtfIntType {
    const at = this.tok;
    this.pos++;
    this.expectP("{");
    const attrs = new Map<string, Value>();
    while (!this.isP("}")) this.attribute(attrs, new Map());
    this.pos++;
    const size = toNum(attrs.get("size"), "integer size", at.at);
    if (size < 1 || size > 64) this.fail(`integer size ${size} is not 1 to 64`, at);
    const alignV = attrs.get("align");
    const align = alignV === undefined ? (size % 8 === 0 ? 8 : 1) : toNum(alignV, "align", at.at);
    if (align < 1 || (align & (align - 1)) !== 0) {
      this.fail(`align ${align} is not a power of 2`, at);
    }
    const signedV = attrs.get("signed");
    const signed = signedV === undefined
      ? false
      : typeof signedV === "bigint"
      ? signedV !== 0n
      : typeof signedV === "object" && signedV.path === "true";
    const bo = attrs.get("byte_order");
    const byteOrder = byteOrderOf(bo, this, at);
    const map = attrs.get("map");
    let clock: string | undefined;
    if (map !== undefined) {
      const m = typeof map === "object"
        ? /^clock\.([A-Za-z_][A-Za-z0-9_]*)\.value$/.exec(map.path)
        : null;
      if (!m) this.fail("an integer 'map' is not clock.NAME.value", at);
      clock = m[1];
    }
    const enc = attrs.get("encoding");
    const text = typeof enc === "object" && (enc.path === "UTF8" || enc.path === "ASCII");
    return { kind: "int", size, align, signed, byteOrder, clock, text };
  }

  floating(): CtfFloatType {
    const at = this.tok;
    this.pos++;
    this.expectP("{");
    const attrs = new Map<string, Value>();
    while (!this.isP("}")) this.attribute(attrs, new Map());
    this.pos++;
    const size = toNum(attrs.get("exp_dig"), "exp_dig", at.at) +
      toNum(attrs.get("mant_dig"), "mant_dig", at.at);
    if (size !== 32 && size !== 64) this.fail(`a ${size}-bit floating point type`, at);
    const alignV = attrs.get("align");
    const align = alignV === undefined ? 8 : toNum(alignV, "align", at.at);
    return {
      kind: "float",
      size,
      align,
      byteOrder: byteOrderOf(attrs.get("byte_order"), this, at),
    };
  }

  /** Field declarations up to `}`. */
  members(): CtfField[] {
    this.expectP("{");
    const fields: CtfField[] = [];
    while (!this.isP("}")) {
      if (this.isId("typealias") || this.isId("typedef")) {
        this.topLevel();
        continue;
      }
      const first = this.declaration();
      fields.push({ name: fieldName(first.name), type: first.type });
      while (this.isP(",")) {
        this.pos++;
        const name = this.ident();
        fields.push({ name: fieldName(name), type: this.suffixes(first.base) });
      }
      this.expectP(";");
    }
    this.pos++;
    return fields;
  }

  /** `type name[...]...`: the field's name, its type, and the type before `[...]`. */
  declaration(): { name: string; type: TypeRef; base: TypeRef } {
    const t = this.tok;
    let base: TypeRef;
    let name: string;
    if (t.t === "id" && TYPE_KEYWORDS.has(t.v)) {
      base = this.typeSpec();
      name = this.ident();
    } else {
      const names: string[] = [];
      while (this.isId()) {
        names.push(String(this.tok.v));
        this.pos++;
      }
      if (names.length < 2) this.fail("expected a type and a field name", t);
      name = names.pop()!;
      const type = this.aliases.get(names.join(" "));
      if (!type) this.fail(`unknown type '${names.join(" ")}'`, t);
      base = type;
    }
    return { name, type: this.suffixes(base), base };
  }

  /** `[N]` (array) and `[path]` (sequence) suffixes; the first is the outermost. */
  suffixes(base: TypeRef): TypeRef {
    const dims: ({ n: number } | { path: string })[] = [];
    while (this.isP("[")) {
      this.pos++;
      const t = this.tok;
      if (t.t === "num") {
        this.pos++;
        dims.push({ n: toNum(t.v, "array length", t.at) });
      } else {
        const parts = [this.ident()];
        while (this.isP(".")) {
          this.pos++;
          parts.push(this.ident());
        }
        dims.push({ path: parts.map(fieldName).join(".") });
      }
      this.expectP("]");
    }
    let type = base;
    for (let i = dims.length - 1; i >= 0; i--) {
      const d = dims[i];
      type = "n" in d
        ? { kind: "array", element: type, length: d.n, align: type.align }
        : { kind: "sequence", element: type, length: d.path, align: type.align };
    }
    return type;
  }

  struct(): CtfStructType {
    const at = this.tok;
    this.pos++;
    const name = this.isId() ? this.ident() : undefined;
    let type: CtfStructType | undefined;
    if (this.isP("{")) {
      const fields = this.members();
      const align = Math.max(1, ...fields.map((f) => f.type.align));
      type = { kind: "struct", fields, align };
    } else if (name !== undefined) {
      type = this.structs.get(name) as CtfStructType | undefined;
      if (!type) this.fail(`unknown struct '${name}'`, at);
    } else this.fail("a struct without a body or a name", at);
    if (this.isId("align")) {
      this.pos++;
      this.expectP("(");
      const t = this.tok;
      if (t.t !== "num") this.fail("expected an alignment");
      this.pos++;
      this.expectP(")");
      type = { ...type, align: Math.max(type.align, toNum(t.v, "align", t.at)) };
    }
    if (name !== undefined && !this.structs.has(name)) this.structs.set(name, type);
    return type;
  }

  variant(): CtfVariantType {
    const at = this.tok;
    this.pos++;
    const name = this.isId() ? this.ident() : undefined;
    let tag: string | undefined;
    if (this.isP("<")) {
      this.pos++;
      const parts = [this.ident()];
      while (this.isP(".")) {
        this.pos++;
        parts.push(this.ident());
      }
      this.expectP(">");
      tag = parts.map(fieldName).join(".");
    }
    let body: { options: readonly CtfField[]; align: number } | undefined;
    if (this.isP("{")) {
      const options = this.members();
      body = { options, align: 1 };
      if (name !== undefined) this.variants.set(name, body);
    } else if (name !== undefined) {
      body = this.variants.get(name);
      if (!body) this.fail(`unknown variant '${name}'`, at);
    } else this.fail("a variant without a body or a name", at);
    if (tag === undefined) this.fail("a variant without a tag", at);
    return { kind: "variant", tag, options: body.options, align: body.align };
  }

  enumeration(): CtfEnumType {
    const at = this.tok;
    this.pos++;
    const name = this.isId() ? this.ident() : undefined;
    let int: CtfIntType | undefined;
    if (this.isP(":")) {
      this.pos++;
      const t = this.typeSpec();
      if (t.kind !== "int") this.fail("an enum's container is not an integer", at);
      int = t;
    }
    if (!this.isP("{")) {
      if (name === undefined) this.fail("an enum without a body or a name", at);
      const known = this.enums.get(name);
      if (!known) this.fail(`unknown enum '${name}'`, at);
      return known as CtfEnumType;
    }
    if (!int) {
      const t = this.aliases.get("int");
      if (!t || t.kind !== "int") {
        this.fail("an enum without a container type ('int' is not declared)", at);
      }
      int = t;
    }
    this.pos++;
    const mappings: { label: string; lo: number; hi: number }[] = [];
    let next = 0;
    while (!this.isP("}")) {
      const t = this.tok;
      if (t.t !== "id" && t.t !== "str") this.fail("expected an enumerator");
      this.pos++;
      let lo = next, hi = next;
      if (this.isP("=")) {
        this.pos++;
        lo = toNum(this.value(), "enumerator value", t.at);
        hi = lo;
        if (this.isP("...")) {
          this.pos++;
          hi = toNum(this.value(), "enumerator value", t.at);
        }
      }
      mappings.push({ label: t.v, lo, hi });
      next = hi + 1;
      if (this.isP(",")) this.pos++;
      else if (!this.isP("}")) this.fail("expected ',' or '}'");
    }
    this.pos++;
    const type: CtfEnumType = { kind: "enum", int, align: int.align, mappings };
    if (name !== undefined) this.enums.set(name, type);
    return type;
  }
}

function byteOrderOf(v: Value | undefined, p: Parser, at: Tok): CtfByteOrder {
  if (v === undefined) return "native";
  const s = typeof v === "object" ? v.path : typeof v === "string" ? v : "";
  if (s === "le") return "le";
  if (s === "be" || s === "network") return "be";
  if (s === "native") return "native";
  return p.fail(`byte_order '${s}' is not le, be, network or native`, at);
}

function str(v: Value | undefined): string | undefined {
  return typeof v === "string" ? v : typeof v === "object" ? v.path : undefined;
}

/**
 * Parses TSDL text (the metadata of a CTF 1.8 trace) into a
 * {@linkcode CtfMetadata}. Throws a {@linkcode TsdlError} (with the byte
 * offset) for text that is not such metadata.
 *
 * @example
 * ```ts
 * import { parseTsdl } from "./tsdl.ts";
 * const meta = parseTsdl(`
 *   typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
 *   trace { major = 1; minor = 8; byte_order = le; };
 *   event { name = "hello"; id = 0; fields := struct { uint32_t _n; }; };
 * `);
 * console.log(meta.events[0].name, meta.byteOrder); // "hello" "le"
 * ```
 */
export function parseTsdl(text: string): CtfMetadata {
  const p = new Parser(text);
  p.parse();
  const trace = p.blocks.find((b) => b.kind === "trace");
  if (!trace) throw new TsdlError("the metadata has no 'trace' block", text.length);
  const major = toNum(trace.attrs.get("major"), "trace.major", trace.at);
  const minor = toNum(trace.attrs.get("minor"), "trace.minor", trace.at);
  const bo = str(trace.attrs.get("byte_order"));
  if (bo !== "le" && bo !== "be") {
    throw new TsdlError("trace.byte_order is not le or be", trace.at);
  }
  const env: Record<string, string | number> = {};
  for (const b of p.blocks.filter((b) => b.kind === "env")) {
    for (const [k, v] of b.attrs) env[k] = typeof v === "bigint" ? Number(v) : str(v) ?? "";
  }
  const clocks = new Map<string, CtfClock>();
  for (const b of p.blocks.filter((b) => b.kind === "clock")) {
    const name = str(b.attrs.get("name"));
    if (!name) throw new TsdlError("a clock without a name", b.at);
    const freqV = b.attrs.get("freq");
    const freq = freqV === undefined ? 1e9 : toNum(freqV, "clock freq", b.at);
    if (!(freq > 0)) throw new TsdlError(`clock ${name}: freq ${freq} is not positive`, b.at);
    const num = (k: string) => {
      const v = b.attrs.get(k);
      if (v !== undefined && typeof v !== "bigint") {
        throw new TsdlError(`clock ${name}: ${k} is not a number`, b.at);
      }
      return v ?? 0n;
    };
    clocks.set(name, { name, freq, offsetS: num("offset_s"), offset: num("offset") });
  }
  const streams = new Map<number, CtfStream>();
  for (const b of p.blocks.filter((b) => b.kind === "stream")) {
    const idV = b.attrs.get("id");
    const id = idV === undefined ? 0 : toNum(idV, "stream id", b.at);
    if (streams.has(id)) throw new TsdlError(`stream ${id} is declared twice`, b.at);
    streams.set(id, {
      id,
      packetContext: b.types.get("packet.context"),
      eventHeader: b.types.get("event.header"),
      eventContext: b.types.get("event.context"),
    });
  }
  const events: CtfEventClass[] = [];
  for (const b of p.blocks.filter((b) => b.kind === "event")) {
    const name = str(b.attrs.get("name"));
    if (name === undefined) throw new TsdlError("an event without a name", b.at);
    const idV = b.attrs.get("id");
    const sV = b.attrs.get("stream_id");
    events.push({
      name,
      id: idV === undefined ? 0 : toNum(idV, `event ${name}: id`, b.at),
      streamId: sV === undefined ? 0 : toNum(sV, `event ${name}: stream_id`, b.at),
      context: b.types.get("context"),
      fields: b.types.get("fields"),
    });
  }
  if (streams.size === 0 && events.length > 0) streams.set(0, { id: 0 });
  return {
    major,
    minor,
    uuid: str(trace.attrs.get("uuid")),
    byteOrder: bo,
    packetHeader: trace.types.get("packet.header"),
    env,
    clocks,
    streams,
    events,
  };
}
