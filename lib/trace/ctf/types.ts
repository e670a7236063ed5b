/**
 * The model of CTF 1.8 metadata that the TSDL parser builds: types (integers,
 * floats, enums, strings, structs, variants, arrays, sequences), clocks,
 * streams and event classes; and the error a bad TSDL text raises.
 *
 * @module
 */
/** Byte order of a type: `native` is the trace's. */
export type CtfByteOrder = "le" | "be" | "native";

/** An integer type. */
export interface CtfIntType {
  /** Kind. */
  readonly kind: "int";
  /** Size in bits (1 to 64). */
  readonly size: number;
  /** Alignment in bits. */
  readonly align: number;
  /** Whether it is signed (two's complement). */
  readonly signed: boolean;
  /** Byte order. */
  readonly byteOrder: CtfByteOrder;
  /** The clock it maps to (`map = clock.NAME.value`), if any. */
  readonly clock?: string;
  /** Whether it is a character encoding (`encoding = UTF8` or `ASCII`). */
  readonly text: boolean;
}

/** A floating point type. */
export interface CtfFloatType {
  /** Kind. */
  readonly kind: "float";
  /** Size in bits (32 or 64). */
  readonly size: number;
  /** Alignment in bits. */
  readonly align: number;
  /** Byte order. */
  readonly byteOrder: CtfByteOrder;
}

/** An enumeration: an integer with labelled ranges. */
export interface CtfEnumType {
  /** Kind. */
  readonly kind: "enum";
  /** The container integer. */
  readonly int: CtfIntType;
  /** Alignment in bits (the container's). */
  readonly align: number;
  /** Labels with their inclusive ranges. */
  readonly mappings: readonly { label: string; lo: number; hi: number }[];
}

/** A NUL-terminated string. */
export interface CtfStringType {
  /** Kind. */
  readonly kind: "string";
  /** Alignment in bits (8). */
  readonly align: number;
}

/** A named member of a struct or a variant. */
export interface CtfField {
  /** Name, one leading underscore removed. */
  readonly name: string;
  /** Type. */
  readonly type: CtfType;
}

/** A structure. */
export interface CtfStructType {
  /** Kind. */
  readonly kind: "struct";
  /** Members in order. */
  readonly fields: readonly CtfField[];
  /** Alignment in bits: the largest of its members' and its `align(n)`. */
  readonly align: number;
}

/** A variant: one of its options, chosen by an enumeration's label. */
export interface CtfVariantType {
  /** Kind. */
  readonly kind: "variant";
  /** Path of the tag field (relative or absolute). */
  readonly tag: string;
  /** Options by label. */
  readonly options: readonly CtfField[];
  /** Alignment in bits before the option (1: each option aligns itself). */
  readonly align: number;
}

/** A fixed-length array. */
export interface CtfArrayType {
  /** Kind. */
  readonly kind: "array";
  /** Element type. */
  readonly element: CtfType;
  /** Element count. */
  readonly length: number;
  /** Alignment in bits (the element's). */
  readonly align: number;
}

/** A sequence: an array whose length is an earlier integer field. */
export interface CtfSequenceType {
  /** Kind. */
  readonly kind: "sequence";
  /** Element type. */
  readonly element: CtfType;
  /** Path of the length field. */
  readonly length: string;
  /** Alignment in bits (the element's). */
  readonly align: number;
}

/** Any CTF type. */
export type CtfType =
  | CtfIntType
  | CtfFloatType
  | CtfEnumType
  | CtfStringType
  | CtfStructType
  | CtfVariantType
  | CtfArrayType
  | CtfSequenceType;

/** A `clock` block. */
export interface CtfClock {
  /** Name (`monotonic`). */
  readonly name: string;
  /** Frequency in Hz. */
  readonly freq: number;
  /** Offset from the origin in seconds. */
  readonly offsetS: bigint;
  /** Further offset from the origin in cycles. */
  readonly offset: bigint;
}

/** A `stream` block. */
export interface CtfStream {
  /** Stream id (0 when the block has none). */
  readonly id: number;
  /** `packet.context`, if any. */
  readonly packetContext?: CtfType;
  /** `event.header`, if any. */
  readonly eventHeader?: CtfType;
  /** `event.context`, if any. */
  readonly eventContext?: CtfType;
}

/** An `event` block. */
export interface CtfEventClass {
  /** Name, e.g. `libcamera:ipa_call_begin`. */
  readonly name: string;
  /** Id within its stream. */
  readonly id: number;
  /** Stream id. */
  readonly streamId: number;
  /** `context`, if any. */
  readonly context?: CtfType;
  /** `fields`, if any. */
  readonly fields?: CtfType;
}

/** The metadata of a trace. */
export interface CtfMetadata {
  /** `trace.major`. */
  readonly major: number;
  /** `trace.minor`. */
  readonly minor: number;
  /** `trace.uuid`, if any. */
  readonly uuid?: string;
  /** `trace.byte_order`. */
  readonly byteOrder: "le" | "be";
  /** `trace.packet.header`, if any. */
  readonly packetHeader?: CtfType;
  /** `env` entries. */
  readonly env: Readonly<Record<string, string | number>>;
  /** Clocks by name. */
  readonly clocks: ReadonlyMap<string, CtfClock>;
  /** Streams by id. */
  readonly streams: ReadonlyMap<number, CtfStream>;
  /** Event classes, in declaration order. */
  readonly events: readonly CtfEventClass[];
}

/**
 * TSDL that cannot be parsed: the offset is a byte offset in the metadata
 * text.
 *
 * @example
 * ```ts
 * import { parseTsdl, TsdlError } from "./tsdl.ts";
 * try {
 *   parseTsdl("trace { major = ; };");
 * } catch (e) {
 *   console.log(e instanceof TsdlError, (e as TsdlError).offset); // true 16
 * }
 * ```
 */
export class TsdlError extends Error {
  /** Offset of the problem in the text. */
  readonly offset: number;
  /** Creates the error. */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "TsdlError";
    this.offset = offset;
  }
}
