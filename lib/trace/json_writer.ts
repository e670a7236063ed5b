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

/** Per tracepoint, the constant text of its JSON event around the timestamp and values. */
const JSON_PARTS = TRACEPOINTS.map((tp) => {
  const ph = tp.phase === "begin" ? "B" : tp.phase === "end" ? "E" : "i";
  return {
    head: `{"name":${JSON.stringify(tp.span)},"cat":${JSON.stringify(tp.category)},"ph":"${ph}",` +
      `${ph === "i" ? `"s":"t",` : ""}"ts":`,
    mid: `,"pid":${JSON_PID},"tid":${JSON_TID},"args":{`,
    keys: tp.fields.map((f, i) => `${i ? "," : ""}${JSON.stringify(f.name)}:`),
  };
});

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

  /** Appends the chunk's events as JSON lines. */
  write(chunk: TraceChunk): void {
    if (chunk.count === 0) return;
    const r = chunk.records;
    const quoted = chunk.strings.map((x) => JSON.stringify(x));
    const parts: string[] = [];
    let p = 0;
    while (p < r.length) {
      const tp = TRACEPOINTS[r[p]];
      const j = JSON_PARTS[tp.id];
      let text = (this.#first ? "" : ",\n") + j.head + usFromNs(r[p + 1]) + j.mid;
      this.#first = false;
      for (let i = 0; i < tp.fields.length; i++) {
        const f = tp.fields[i];
        const v = r[p + 2 + i];
        text += j.keys[i] + (f.type === "string" ? quoted[v] : String(intValue(v, f.type)));
      }
      parts.push(text + "}}");
      p += 2 + tp.fields.length;
    }
    this.#put(parts.join(""));
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
