/**
 * A chunk of buffered events: the records the tracer hands to the writers.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import {
  intValue,
  type TraceEvent,
  tracepoint,
  TRACEPOINTS,
  type TraceValue,
} from "./tracepoints.ts";

/**
 * A chunk of events as the tracer buffers them: records of
 * `[tracepoint id, timestamp ns, field values...]` in a `Float64Array`,
 * string fields as indexes into `strings`. Writers encode straight from it;
 * {@linkcode TraceChunk.events} decodes it into objects. A chunk handed to
 * `TraceWriter.write` is valid only during that call.
 *
 * @example
 * ```ts
 * import { TraceChunk } from "./mod.ts";
 * const chunk = TraceChunk.fromEvents([
 *   { name: "sink_flush_begin", timestamp: 10, fields: { sink_name: "memory" } },
 * ]);
 * console.log(chunk.count, chunk.events()[0].fields.sink_name); // 1 "memory"
 * ```
 */
export class TraceChunk {
  /** The records. */
  readonly records: Float64Array;
  /** Strings the records refer to. */
  readonly strings: readonly string[];
  /** Number of events. */
  readonly count: number;

  /** Wraps records (see the class description). */
  constructor(records: Float64Array, strings: readonly string[], count: number) {
    this.records = records;
    this.strings = strings;
    this.count = count;
  }

  /**
   * Builds a chunk from decoded events (e.g. read from another trace).
   * Throws for an event that is not a known tracepoint.
   */
  static fromEvents(events: readonly TraceEvent[]): TraceChunk {
    let slots = 0;
    const tps = events.map((e) => {
      const tp = tracepoint(e.name);
      if (!tp) throw new UsageError(`trace: unknown tracepoint '${e.name}'`);
      slots += 2 + tp.fields.length;
      return tp;
    });
    const records = new Float64Array(slots);
    const strings: string[] = [];
    const ids = new Map<string, number>();
    let p = 0;
    events.forEach((e, i) => {
      const tp = tps[i];
      records[p++] = tp.id;
      records[p++] = e.timestamp;
      for (const f of tp.fields) {
        const v = e.fields[f.name];
        if (f.type === "string") {
          const text = String(v ?? "");
          let id = ids.get(text);
          if (id === undefined) ids.set(text, id = strings.push(text) - 1);
          records[p++] = id;
        } else records[p++] = Number(v ?? 0);
      }
    });
    return new TraceChunk(records, strings, events.length);
  }

  /** Decodes the records into events. */
  events(): TraceEvent[] {
    const b = this.records;
    const out: TraceEvent[] = [];
    let p = 0;
    while (p < b.length) {
      const tp = TRACEPOINTS[b[p]];
      const timestamp = b[p + 1];
      const fields: Record<string, TraceValue> = {};
      for (let i = 0; i < tp.fields.length; i++) {
        const f = tp.fields[i];
        const v = b[p + 2 + i];
        fields[f.name] = f.type === "string" ? this.strings[v] : intValue(v, f.type);
      }
      out.push({ name: tp.name, timestamp, fields });
      p += 2 + tp.fields.length;
    }
    return out;
  }
}
