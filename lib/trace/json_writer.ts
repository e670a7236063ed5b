/**
 * The Chrome Trace Event JSON writer (Perfetto's UI, chrome://tracing).
 *
 * @module
 */
import type { TraceChunk } from "./chunk.ts";
import { openError, writeAllSync } from "./io.ts";
import { intValue, TRACEPOINTS } from "./tracepoints.ts";
import type { TraceWriter } from "./tracer.ts";

/** Writes a nanosecond timestamp as Chrome's microseconds, exactly (3 decimals). */
function usFromNs(ns: number): string {
  const us = Math.floor(ns / 1000);
  return `${us}.${String(ns - us * 1000).padStart(3, "0")}`;
}

const JSON_PID = 1;
const JSON_TID = 1;

const ENCODER = new TextEncoder();

/**
 * Per tracepoint, the constant bytes of its JSON event around the timestamp
 * and values (`head` starts with the `,\n` that separates it from the
 * previous event).
 */
const JSON_PARTS = TRACEPOINTS.map((tp) => {
  const ph = tp.phase === "begin" ? "B" : tp.phase === "end" ? "E" : "i";
  const keys = tp.fields.map((f, i) => ENCODER.encode(`${i ? "," : ""}${JSON.stringify(f.name)}:`));
  const head = ENCODER.encode(
    `,\n{"name":${JSON.stringify(tp.span)},"cat":${JSON.stringify(tp.category)},"ph":"${ph}",` +
      `${ph === "i" ? `"s":"t",` : ""}"ts":`,
  );
  const mid = ENCODER.encode(`,"pid":${JSON_PID},"tid":${JSON_TID},"args":{`);
  // The most bytes an event takes, less its strings: 2 numbers of at most 24 characters each.
  const fixed = head.length + mid.length + keys.reduce((s, k) => s + k.length + 24, 0) + 24 + 2;
  return { head, mid, keys, fixed };
});

/** Largest integer written digit by digit; beyond it (or not an integer) `String()` writes it. */
const SAFE = Number.MAX_SAFE_INTEGER;
const DIGITS = new Uint8Array(24);

/** Copies `src` to `pos` of `out` (a loop: faster than `set` for a few bytes); returns the new position. */
function put(out: Uint8Array, pos: number, src: Uint8Array, from = 0): number {
  const n = src.length;
  for (let i = from; i < n; i++) out[pos++] = src[i];
  return pos;
}

/** Writes a JSON number at `pos` of `out`; returns the new position. */
function putNumber(out: Uint8Array, pos: number, x: number): number {
  if (!Number.isInteger(x) || x > SAFE || x < -SAFE) {
    const b = ENCODER.encode(String(x));
    out.set(b, pos);
    return pos + b.length;
  }
  if (x < 0) {
    out[pos++] = 0x2d; // -
    x = -x;
  }
  if (x < 10) {
    out[pos] = 0x30 + x;
    return pos + 1;
  }
  let n = 0;
  while (x > 0) {
    const q = Math.floor(x / 10);
    DIGITS[n++] = 0x30 + (x - q * 10);
    x = q;
  }
  while (n > 0) out[pos++] = DIGITS[--n];
  return pos;
}

/** Writes a nanosecond timestamp as Chrome's microseconds, exactly (3 decimals). */
function putUs(out: Uint8Array, pos: number, ns: number): number {
  if (!Number.isInteger(ns) || ns < 0 || ns > SAFE) {
    const b = ENCODER.encode(usFromNs(ns));
    out.set(b, pos);
    return pos + b.length;
  }
  const us = Math.floor(ns / 1000);
  const frac = ns - us * 1000;
  pos = putNumber(out, pos, us);
  out[pos] = 0x2e; // .
  out[pos + 1] = 0x30 + Math.floor(frac / 100);
  out[pos + 2] = 0x30 + (Math.floor(frac / 10) % 10);
  out[pos + 3] = 0x30 + (frac % 10);
  return pos + 4;
}

/**
 * Chrome Trace Event format (the JSON object format): `B`/`E` events for
 * begin/end tracepoints, `i` for instants, timestamps in microseconds with
 * nanosecond decimals, fields as `args`. Perfetto's UI and chrome://tracing
 * open it. Written as the buffer fills; the closing brackets are written on
 * close.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, readTrace, sinkTrace, startTracing, tracing } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * const session = startTracing(await JsonTraceWriter.open(path));
 * if (tracing.enabled) sinkTrace.flushBegin("memory");
 * if (tracing.enabled) sinkTrace.flushEnd("memory");
 * session.stop();
 * console.log((await readTrace(path)).events.length); // 2
 * ```
 */
export class JsonTraceWriter implements TraceWriter {
  /** Always `json`. */
  readonly format = "json";
  /** The file written. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #first = true;
  readonly #encoder = new TextEncoder();
  #out = new Uint8Array(256 * 1024);

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /** Creates (truncates) `path` and writes the header. */
  static async open(path: string): Promise<JsonTraceWriter> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, create: true, truncate: true });
    } catch (e) {
      throw openError(path, e);
    }
    const w = new JsonTraceWriter(path, file);
    const meta = [
      { name: "process_name", ph: "M", pid: JSON_PID, tid: JSON_TID, args: { name: "ringdump" } },
      { name: "thread_name", ph: "M", pid: JSON_PID, tid: JSON_TID, args: { name: "dumper" } },
    ];
    w.#put(
      `{"displayTimeUnit":"ns","otherData":{"tracer":"ringdump","clock":"monotonic",` +
        `"clock_unit":"ns"},"traceEvents":[\n` + meta.map((m) => JSON.stringify(m)).join(",\n"),
    );
    w.#first = false;
    return w;
  }

  #put(text: string): void {
    if (!this.#file) throw new Error(`${this.path}: write after close`);
    writeAllSync(this.#file, this.#encoder.encode(text));
  }

  /**
   * Appends the chunk's events as JSON lines, encoded straight into bytes
   * (no per-event strings: this runs on the capture's thread).
   */
  write(chunk: TraceChunk): void {
    if (chunk.count === 0) return;
    if (!this.#file) throw new Error(`${this.path}: write after close`);
    const r = chunk.records;
    const quoted: (Uint8Array | undefined)[] = new Array(chunk.strings.length);
    let out = this.#out;
    let pos = 0;
    let p = 0;
    while (p < r.length) {
      const tp = TRACEPOINTS[r[p]];
      const j = JSON_PARTS[tp.id];
      const n = tp.fields.length;
      let need = j.fixed;
      for (let i = 0; i < n; i++) {
        if (tp.fields[i].type === "string") {
          const v = r[p + 2 + i];
          const q = quoted[v] ??= ENCODER.encode(JSON.stringify(chunk.strings[v]));
          need += q.length;
        }
      }
      if (pos + need > out.length) {
        writeAllSync(this.#file, out.subarray(0, pos));
        pos = 0;
        if (need > out.length) this.#out = out = new Uint8Array(need * 2);
      }
      const skip = this.#first ? 2 : 0;
      this.#first = false;
      pos = put(out, pos, j.head, skip);
      pos = putUs(out, pos, r[p + 1]);
      pos = put(out, pos, j.mid);
      for (let i = 0; i < n; i++) {
        pos = put(out, pos, j.keys[i]);
        const f = tp.fields[i];
        const v = r[p + 2 + i];
        if (f.type === "string") pos = put(out, pos, quoted[v]!);
        else pos = putNumber(out, pos, intValue(v, f.type));
      }
      out[pos++] = 0x7d; // }
      out[pos++] = 0x7d;
      p += 2 + n;
    }
    if (pos > 0) writeAllSync(this.#file, out.subarray(0, pos));
  }

  /** Writes the closing brackets and closes the file. */
  close(): void {
    if (!this.#file) return;
    try {
      this.#put("\n]}\n");
    } finally {
      this.#file.close();
      this.#file = undefined;
    }
  }
}
