/**
 * Reading one CTF stream file packet by packet, as LTTng writes them: the
 * trace packet header (magic, UUID, stream id), the stream's packet context
 * (`timestamp_begin`, `content_size`, `packet_size`, `events_discarded`),
 * then events (header, contexts, payload) until the content ends. Only one
 * packet (in a bounded read-ahead buffer) is held at a time, so memory stays
 * flat however large the file.
 *
 * @module
 */
import { TraceFormatError } from "../errors.ts";
import {
  BitReader,
  compileDecoder,
  type CtfDecoder,
  type CtfRoot,
  type CtfValue,
} from "./decode.ts";
import type { CtfMetadata, CtfType } from "./tsdl.ts";
import { errorMessage } from "../../errors.ts";

const CTF_MAGIC = 0xc1fc1fc1;
const READ_AHEAD = 256 * 1024;

interface CompiledEvent {
  readonly name: string;
  readonly context?: CtfDecoder;
  readonly fields?: CtfDecoder;
}

interface CompiledStream {
  readonly packetContext?: CtfDecoder;
  readonly eventHeader?: CtfDecoder;
  readonly eventContext?: CtfDecoder;
  readonly events: Map<number, CompiledEvent>;
}

/** A trace's metadata with every type compiled into a decoder. */
export interface CompiledTrace {
  /** The metadata. */
  readonly meta: CtfMetadata;
  /** The metadata file, for messages. */
  readonly path: string;
  /** `trace.packet.header`'s decoder. */
  readonly packetHeader?: CtfDecoder;
  /** Streams by id. */
  readonly streams: ReadonlyMap<number, CompiledStream>;
  /** The UUID's bytes, if the metadata has one. */
  readonly uuid?: Uint8Array;
  /** Clock cycles to ns: the factor (1 for a 1 GHz clock). */
  readonly nsPerCycle: number;
  /** The clock's offset from its origin, ns. */
  readonly offsetNs: bigint;
}

function compileAll(
  meta: CtfMetadata,
  path: string,
): CompiledTrace {
  const roots: Partial<Record<CtfRoot, CtfType>> = {};
  const ctx = { byteOrder: meta.byteOrder, roots };
  const compile = (t: CtfType | undefined, root: CtfRoot): CtfDecoder | undefined => {
    if (!t) return undefined;
    roots[root] = t;
    try {
      return compileDecoder(t, ctx);
    } catch (e) {
      throw new TraceFormatError(`${path}: bad metadata: ${root}: ${errorMessage(e)}`, {
        path,
        format: "ctf",
        cause: e,
      });
    }
  };
  const packetHeader = compile(meta.packetHeader, "trace.packet.header");
  const streams = new Map<number, CompiledStream>();
  for (const s of meta.streams.values()) {
    delete roots["event.context"];
    delete roots["event.fields"];
    const packetContext = compile(s.packetContext, "stream.packet.context");
    const eventHeader = compile(s.eventHeader, "stream.event.header");
    const eventContext = compile(s.eventContext, "stream.event.context");
    const events = new Map<number, CompiledEvent>();
    for (const e of meta.events.filter((e) => e.streamId === s.id)) {
      if (events.has(e.id)) {
        throw new TraceFormatError(`${path}: bad metadata: event id ${e.id} is declared twice`, {
          path,
          format: "ctf",
        });
      }
      delete roots["event.fields"];
      const context = compile(e.context, "event.context");
      const fields = compile(e.fields, "event.fields");
      events.set(e.id, { name: e.name, context, fields });
    }
    streams.set(s.id, { packetContext, eventHeader, eventContext, events });
  }
  for (const e of meta.events) {
    if (!meta.streams.has(e.streamId)) {
      throw new TraceFormatError(
        `${path}: bad metadata: event ${e.name} is in stream ${e.streamId}, which is not declared`,
        { path, format: "ctf" },
      );
    }
  }
  const clock = [...meta.clocks.values()][0];
  const freq = clock?.freq ?? 1e9;
  const offsetNs = clock
    ? clock.offsetS * 1_000_000_000n + (clock.offset * 1_000_000_000n) / BigInt(freq)
    : 0n;
  let uuid: Uint8Array | undefined;
  if (
    meta.uuid && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(meta.uuid)
  ) {
    const hex = meta.uuid.replace(/-/g, "");
    uuid = new Uint8Array(16);
    for (let i = 0; i < 16; i++) uuid[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return { meta, path, packetHeader, streams, uuid, nsPerCycle: 1e9 / freq, offsetNs };
}

/**
 * Compiles a trace's metadata for reading its streams. Throws a
 * {@linkcode TraceFormatError} for metadata whose types cannot be decoded
 * (a variant tag or sequence length naming no field, an event in an
 * undeclared stream).
 *
 * @example
 * ```ts
 * import { compileTrace } from "./stream.ts";
 * import { parseTsdl } from "./tsdl.ts";
 * const t = compileTrace(parseTsdl("trace { major = 1; minor = 8; byte_order = le; };"), "m");
 * console.log(t.nsPerCycle); // 1
 * ```
 */
export function compileTrace(meta: CtfMetadata, path: string): CompiledTrace {
  return compileAll(meta, path);
}

function num(v: CtfValue | undefined): number | undefined {
  return typeof v === "number" ? v : undefined;
}

/** One decoded event of a stream. */
export interface CtfEvent {
  /** Event class name, e.g. `libcamera:ipa_call_begin`. */
  readonly name: string;
  /** Clock value in cycles (rebuilt from the packet's `timestamp_begin` when narrower). */
  readonly cycles: number;
  /** The payload (`event.fields`), field names without their leading underscore. */
  readonly fields: Readonly<Record<string, CtfValue>>;
}

/**
 * Reads one stream file of a trace, a packet at a time (synchronously: the
 * caller merges several streams by timestamp).
 *
 * @example
 * ```ts
 * import { compileTrace, StreamReader } from "./stream.ts";
 * import { parseTsdl } from "./tsdl.ts";
 * const t = compileTrace(parseTsdl("trace { major = 1; minor = 8; byte_order = le; };"), "m");
 * const path = await Deno.makeTempFile();
 * const r = StreamReader.open(t, path);
 * console.log(r.next()); // false
 * r.close();
 * await Deno.remove(path);
 * ```
 */
export class StreamReader {
  /** The stream file. */
  readonly path: string;
  /** The trace it belongs to. */
  readonly trace: CompiledTrace;
  /** The current event, valid after {@linkcode StreamReader.next} returned true. */
  event: CtfEvent = { name: "", cycles: 0, fields: {} };
  /** `events_discarded` of the last packet read (LTTng counts them per stream). */
  discarded = 0;
  /** Packets read. */
  packets = 0;
  #file: Deno.FsFile | undefined;
  readonly #size: number;
  #buf = new Uint8Array(READ_AHEAD);
  #bufStart = 0; // file offset of #buf[0]
  #bufLen = 0;
  #packetEnd = 0; // file offset of the current packet's end
  #fileOff = 0; // file offset of the next packet
  #stream: CompiledStream | undefined;
  #inPacket = false;
  readonly #r: BitReader;

  private constructor(trace: CompiledTrace, path: string, file: Deno.FsFile, size: number) {
    this.trace = trace;
    this.path = path;
    this.#file = file;
    this.#size = size;
    this.#r = new BitReader(path, this.#buf, 0);
  }

  /** Opens a stream file. Throws a {@linkcode TraceFormatError} when it cannot be read. */
  static open(trace: CompiledTrace, path: string): StreamReader {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path);
    } catch (e) {
      throw new TraceFormatError(`${path}: cannot read: ${errorMessage(e)}`, {
        path,
        format: "ctf",
        cause: e,
      });
    }
    const size = file.statSync().size;
    return new StreamReader(trace, path, file, size);
  }

  /** Makes bytes [off, off + n) of the file available in the buffer; returns their index. */
  #fill(off: number, n: number): number {
    if (off >= this.#bufStart && off + n <= this.#bufStart + this.#bufLen) {
      return off - this.#bufStart;
    }
    if (n > this.#buf.length) this.#buf = new Uint8Array(Math.max(n, this.#buf.length * 2));
    const want = Math.min(this.#buf.length, this.#size - off);
    this.#file!.seekSync(off, Deno.SeekMode.Start);
    let got = 0;
    while (got < want) {
      const r = this.#file!.readSync(this.#buf.subarray(got, want));
      if (r === null || r === 0) break;
      got += r;
    }
    this.#bufStart = off;
    this.#bufLen = got;
    return 0;
  }

  #fail(why: string, offset: number): TraceFormatError {
    return new TraceFormatError(`${this.path}: byte ${offset}: ${why}`, {
      path: this.path,
      format: "ctf",
      offset,
    });
  }

  /** Reads the next packet's header and context; false at the end of the file. */
  #openPacket(): boolean {
    const start = this.#fileOff;
    if (start >= this.#size) return false;
    const remain = this.#size - start;
    const probe = Math.min(remain, 4096);
    const at = this.#fill(start, probe);
    if (this.#bufLen - at <= 0) throw this.#fail(`the stream is truncated`, start);
    const r = this.#r;
    r.reset(this.#buf.subarray(at, at + Math.min(this.#bufLen - at, remain)), start);
    r.scopes.length = 0;
    r.clockOn = false;
    const t = this.trace;
    let header: Record<string, CtfValue> = {};
    if (t.packetHeader) {
      header = t.packetHeader(r) as Record<string, CtfValue>;
      r.roots["trace.packet.header"] = header;
      const magic = num(header.magic);
      if (magic !== undefined && magic !== CTF_MAGIC) {
        throw this.#fail(
          `packet ${this.packets}: bad magic 0x${
            magic.toString(16)
          } (not a CTF stream, or corrupt)`,
          start,
        );
      }
      const uuid = header.uuid;
      if (t.uuid && Array.isArray(uuid) && !t.uuid.every((b, i) => uuid[i] === b)) {
        throw this.#fail(`packet ${this.packets}: its UUID is not the metadata's`, start);
      }
    }
    const streamId = num(header.stream_id) ?? 0;
    const stream = t.streams.get(streamId);
    if (!stream) {
      throw this.#fail(`packet ${this.packets}: stream id ${streamId} is not declared`, start);
    }
    this.#stream = stream;
    let ctx: Record<string, CtfValue> = {};
    if (stream.packetContext) {
      ctx = stream.packetContext(r) as Record<string, CtfValue>;
      r.roots["stream.packet.context"] = ctx;
    }
    const headerBits = r.pos;
    const packetBits = num(ctx.packet_size) ?? remain * 8;
    const contentBits = num(ctx.content_size) ?? packetBits;
    if (
      packetBits % 8 !== 0 || contentBits > packetBits || contentBits < headerBits ||
      packetBits === 0
    ) {
      throw this.#fail(
        `packet ${this.packets}: bad sizes (content ${contentBits}, packet ${packetBits} bits)`,
        start,
      );
    }
    if (packetBits / 8 > remain) {
      throw this.#fail(
        `the stream is truncated: packet ${this.packets} declares ${packetBits / 8} bytes, ` +
          `${remain} remain`,
        start,
      );
    }
    const bytes = packetBits / 8;
    const p = this.#fill(start, bytes);
    if (this.#bufLen - p < bytes) {
      throw this.#fail(`the stream is truncated: packet ${this.packets} is cut`, start);
    }
    r.reset(this.#buf.subarray(p, p + bytes), start);
    r.pos = headerBits;
    r.end = contentBits;
    r.clock = num(ctx.timestamp_begin) ?? r.clock;
    r.clockOn = true;
    const d = num(ctx.events_discarded);
    if (d !== undefined && d > this.discarded) this.discarded = d;
    this.#packetEnd = start + bytes;
    this.#fileOff = start + bytes;
    this.packets++;
    return true;
  }

  /** Moves to the next event; false at the end of the stream. */
  next(): boolean {
    for (;;) {
      if (!this.#inPacket) {
        if (!this.#file || !this.#openPacket()) return false;
        this.#inPacket = true;
      }
      const r = this.#r;
      const stream = this.#stream!;
      if (r.pos >= r.end || (!stream.eventHeader && r.end - r.pos < 8)) {
        this.#inPacket = false;
        continue;
      }
      r.scopes.length = 0;
      const start = r.pos;
      let id = 0;
      if (stream.eventHeader) {
        const eh = stream.eventHeader(r) as Record<string, CtfValue>;
        r.roots["stream.event.header"] = eh;
        const v = eh.v as Record<string, CtfValue> | undefined;
        id = num(v && typeof v === "object" ? (v as Record<string, CtfValue>).id : undefined) ??
          num(eh.id) ?? 0;
      }
      const cls = stream.events.get(id);
      if (!cls) throw r.fail(`an event of id ${id}, which the metadata does not declare`);
      if (stream.eventContext) {
        r.roots["stream.event.context"] = stream.eventContext(r) as Record<string, CtfValue>;
      }
      if (cls.context) r.roots["event.context"] = cls.context(r) as Record<string, CtfValue>;
      const fields = cls.fields ? cls.fields(r) as Record<string, CtfValue> : {};
      if (r.pos === start) {
        throw r.fail(`event ${cls.name} takes no bits: the stream cannot advance`);
      }
      this.event = { name: cls.name, cycles: r.clock, fields };
      return true;
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
