/**
 * Choosing a trace writer: the formats, a format for a path, opening the
 * writer, and the in-memory writer.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { CtfTraceWriter } from "./ctf_writer.ts";
import { JsonTraceWriter } from "./json_writer.ts";
import type { TraceChunk } from "./chunk.ts";
import type { TraceEvent } from "./tracepoints.ts";
import type { TraceWriter } from "./tracer.ts";

/** Trace file formats. */
export type TraceFormat = "json" | "ctf";

/** The trace formats, for option choices. */
export const TRACE_FORMATS: readonly TraceFormat[] = ["json", "ctf"];

/**
 * Collects events in memory (for tests and scripts that analyse a trace in
 * process).
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, sinkTrace, startTracing } from "./mod.ts";
 * const memory = new MemoryTraceWriter();
 * startTracing(memory).stop();
 * console.log(memory.events.length, memory.closed); // 0 true
 * ```
 */
export class MemoryTraceWriter implements TraceWriter {
  /** Always `memory`. */
  readonly format = "memory";
  /** Always empty. */
  readonly path = "";
  /** Events received so far. */
  readonly events: TraceEvent[] = [];
  /** Chunks received (one per buffer flush). */
  chunks = 0;
  /** Whether `close` ran. */
  closed = false;
  /** Appends the chunk's events. */
  write(chunk: TraceChunk): void {
    this.chunks++;
    for (const e of chunk.events()) this.events.push(e);
  }
  /** Marks the writer closed. */
  close(): void {
    this.closed = true;
  }
}
/**
 * Opens a trace writer for a path: `format` or, without it, JSON for a
 * `.json` name and CTF (a directory) otherwise.
 *
 * @example
 * ```ts
 * import { openTraceWriter } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * const w = await openTraceWriter(path);
 * console.log(w.format); // "json"
 * w.close();
 * await Deno.remove(path);
 * ```
 */
export async function openTraceWriter(
  path: string,
  options: { format?: string } = {},
): Promise<TraceWriter> {
  const format = traceFormatFor(path, options.format);
  return format === "json" ? await JsonTraceWriter.open(path) : await CtfTraceWriter.open(path);
}

/**
 * The trace format to write at `path`: `format` when given (checked), else
 * `json` for a `.json` name and `ctf` otherwise.
 *
 * @example
 * ```ts
 * import { traceFormatFor } from "./mod.ts";
 * console.log(traceFormatFor("t.json"), traceFormatFor("trace-dir")); // "json" "ctf"
 * ```
 */
export function traceFormatFor(path: string, format?: string): TraceFormat {
  if (format === undefined) return /\.json$/i.test(path) ? "json" : "ctf";
  if (format === "json" || format === "ctf") return format;
  throw new UsageError(`trace format '${format}' is unknown; use json or ctf`, {
    option: "traceFormat",
    value: format,
  });
}
