/**
 * The CTF 1.8 writer: TSDL metadata generated from the tracepoint tables,
 * one stream file, one packet per buffer flush (`babeltrace2 DIR` prints it).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { TraceChunk } from "./chunk.ts";
import { openError, writeAllSync } from "./io.ts";
import { intValue, type TraceFieldType, type Tracepoint, TRACEPOINTS } from "./tracepoints.ts";
import type { TraceWriter } from "./tracer.ts";

/** The CTF packet magic number. */
export const CTF_MAGIC = 0xc1fc1fc1;
/** Bytes of ringdump's packet header (magic, uuid, stream id). */
export const CTF_HEADER_BYTES = 4 + 16 + 4;
/** Bytes of ringdump's packet context (six 64-bit integers). */
export const CTF_CONTEXT_BYTES = 6 * 8;
const CTF_STREAM_FILE = "stream_0";

function tsdlType(t: TraceFieldType): string {
  return t === "u64" ? "uint64_t" : t === "i64" ? "int64_t" : "string";
}

/**
 * The CTF 1.8 TSDL metadata for the tracepoints, generated from the tables.
 *
 * @example
 * ```ts
 * import { ctfMetadata } from "./mod.ts";
 * const tsdl = ctfMetadata({ uuid: "2a6422d0-6cee-11e0-8c08-cb07d7b3a564" });
 * console.log(tsdl.startsWith("/* CTF 1.8 *\/")); // true
 * ```
 */
export function ctfMetadata(
  options: { uuid: string; tracepoints?: readonly Tracepoint[]; env?: Record<string, string> },
): string {
  const tps = options.tracepoints ?? TRACEPOINTS;
  const env: Record<string, string> = {
    domain: "ringdump",
    tracer_name: "ringdump",
    ...options.env,
  };
  const lines = [
    "/* CTF 1.8 */",
    "",
    "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;",
    "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;",
    "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;",
    "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;",
    "typealias integer { size = 64; align = 8; signed = true; } := int64_t;",
    "",
    "trace {",
    "\tmajor = 1;",
    "\tminor = 8;",
    `\tuuid = "${options.uuid}";`,
    "\tbyte_order = le;",
    "\tpacket.header := struct {",
    "\t\tuint32_t magic;",
    "\t\tuint8_t uuid[16];",
    "\t\tuint32_t stream_id;",
    "\t};",
    "};",
    "",
    "env {",
    ...Object.entries(env).map(([k, v]) => `\t${k} = ${JSON.stringify(v)};`),
    "};",
    "",
    "clock {",
    "\tname = monotonic;",
    `\tdescription = "ringdump monotonic clock (performance.now), nanoseconds";`,
    "\tfreq = 1000000000;",
    "\tprecision = 1;",
    "\toffset_s = 0;",
    "\toffset = 0;",
    "\tabsolute = false;",
    "};",
    "",
    "typealias integer {",
    "\tsize = 64; align = 8; signed = false;",
    "\tmap = clock.monotonic.value;",
    "} := uint64_clock_monotonic_t;",
    "",
    "stream {",
    "\tid = 0;",
    "\tpacket.context := struct {",
    "\t\tuint64_clock_monotonic_t timestamp_begin;",
    "\t\tuint64_clock_monotonic_t timestamp_end;",
    "\t\tuint64_t content_size;",
    "\t\tuint64_t packet_size;",
    "\t\tuint64_t events_discarded;",
    "\t\tuint64_t packet_seq_num;",
    "\t};",
    "\tevent.header := struct {",
    "\t\tuint16_t id;",
    "\t\tuint64_clock_monotonic_t timestamp;",
    "\t};",
    "};",
    "",
  ];
  for (const tp of tps) {
    lines.push(
      "event {",
      `\tname = "${tp.name}";`,
      `\tid = ${tp.id};`,
      "\tstream_id = 0;",
      "\tfields := struct {",
      ...tp.fields.map((f) => `\t\t${tsdlType(f.type)} ${f.name};`),
      "\t};",
      "};",
      "",
    );
  }
  return lines.join("\n");
}

/**
 * A UUID's 16 bytes.
 *
 * @example
 * ```ts
 * import { uuidBytes } from "./ctf_writer.ts";
 * console.log(uuidBytes("2a6422d0-6cee-11e0-8c08-cb07d7b3a564")[0]); // 42
 * ```
 */
export function uuidBytes(uuid: string): Uint8Array {
  const hexText = uuid.replace(/-/g, "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hexText.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function setU64(v: DataView, off: number, x: number): void {
  v.setUint32(off, x % 0x1_0000_0000, true);
  v.setUint32(off + 4, Math.floor(x / 0x1_0000_0000), true);
}

function setI64(v: DataView, off: number, x: number): void {
  if (x >= 0) setU64(v, off, x);
  else v.setBigInt64(off, BigInt(x), true);
}

/**
 * A CTF 1.8 trace directory: the TSDL `metadata` file (generated from the
 * tracepoint tables) and one binary stream file, one packet per buffer flush,
 * timestamps in ns on the `monotonic` clock. `babeltrace2 DIR` prints it.
 *
 * @example
 * ```ts
 * import { CtfTraceWriter, readTrace, sinkTrace, startTracing, tracing } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const session = startTracing(await CtfTraceWriter.open(dir));
 * if (tracing.enabled) sinkTrace.writeBegin("memory", 4096);
 * if (tracing.enabled) sinkTrace.writeEnd("memory", 4096);
 * session.stop();
 * const trace = await readTrace(dir);
 * console.log(trace.format, trace.events[1].fields.bytes); // "ctf" 4096
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class CtfTraceWriter implements TraceWriter {
  /** Always `ctf`. */
  readonly format = "ctf";
  /** The trace directory. */
  readonly path: string;
  /** The trace's UUID (in the metadata and every packet header). */
  readonly uuid: string;
  #file: Deno.FsFile | undefined;
  #seq = 0;
  readonly #uuid: Uint8Array;
  readonly #encoder = new TextEncoder();

  private constructor(path: string, uuid: string, file: Deno.FsFile) {
    this.path = path;
    this.uuid = uuid;
    this.#uuid = uuidBytes(uuid);
    this.#file = file;
  }

  /** Creates the directory (if needed), writes `metadata` and opens the stream file. */
  static async open(dir: string): Promise<CtfTraceWriter> {
    const uuid = crypto.randomUUID();
    let file: Deno.FsFile;
    try {
      const st = await Deno.stat(dir).catch((e) => {
        if (e instanceof Deno.errors.NotFound) return undefined;
        throw e;
      });
      if (st && !st.isDirectory) {
        throw new UsageError(
          `trace: '${dir}' is a file; a CTF trace is a directory (use a .json name for JSON)`,
          { option: "trace", value: dir },
        );
      }
      await Deno.mkdir(dir, { recursive: true });
      let hostname = "";
      try {
        hostname = Deno.hostname();
      } catch { /* no --allow-sys: leave it out */ }
      await Deno.writeTextFile(
        `${dir}/metadata`,
        ctfMetadata({ uuid, env: hostname ? { hostname } : {} }),
      );
      file = await Deno.open(`${dir}/${CTF_STREAM_FILE}`, {
        write: true,
        create: true,
        truncate: true,
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw openError(dir, e);
    }
    return new CtfTraceWriter(dir, uuid, file);
  }

  /** Writes the chunk's events as one packet. */
  write(chunk: TraceChunk): void {
    if (!this.#file) throw new Error(`${this.path}: write after close`);
    if (chunk.count === 0) return;
    const r = chunk.records;
    const encoded = chunk.strings.map((x) => this.#encoder.encode(x.replace(/\0/g, "")));
    // Size the packet first.
    let size = CTF_HEADER_BYTES + CTF_CONTEXT_BYTES;
    let last = 0;
    for (let p = 0; p < r.length;) {
      const tp = TRACEPOINTS[r[p]];
      last = p;
      size += 2 + 8;
      for (let i = 0; i < tp.fields.length; i++) {
        size += tp.fields[i].type === "string" ? encoded[r[p + 2 + i]].length + 1 : 8;
      }
      p += 2 + tp.fields.length;
    }
    const buf = new Uint8Array(size);
    const v = new DataView(buf.buffer);
    v.setUint32(0, CTF_MAGIC, true);
    buf.set(this.#uuid, 4);
    v.setUint32(20, 0, true);
    let off = CTF_HEADER_BYTES;
    setU64(v, off, r[1]);
    setU64(v, off + 8, r[last + 1]);
    setU64(v, off + 16, size * 8);
    setU64(v, off + 24, size * 8);
    setU64(v, off + 32, 0);
    setU64(v, off + 40, this.#seq++);
    off += CTF_CONTEXT_BYTES;
    for (let p = 0; p < r.length;) {
      const tp = TRACEPOINTS[r[p]];
      v.setUint16(off, tp.id, true);
      setU64(v, off + 2, r[p + 1]);
      off += 10;
      for (let i = 0; i < tp.fields.length; i++) {
        const f = tp.fields[i];
        const x = r[p + 2 + i];
        if (f.type === "string") {
          const bytes = encoded[x];
          buf.set(bytes, off);
          off += bytes.length;
          buf[off++] = 0;
        } else {
          if (f.type === "u64") setU64(v, off, intValue(x, "u64"));
          else setI64(v, off, intValue(x, "i64"));
          off += 8;
        }
      }
      p += 2 + tp.fields.length;
    }
    writeAllSync(this.#file, buf);
  }

  /** Closes the stream file. */
  close(): void {
    if (!this.#file) return;
    this.#file.close();
    this.#file = undefined;
  }
}
