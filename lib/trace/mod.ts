/**
 * Tracing: where the time goes in each period. Users tune `--period` and the
 * ring size with it, so it is part of the product.
 *
 * - **Tracepoints** are defined once, per category ({@linkcode DUMPER_TRACEPOINTS},
 *   {@linkcode BACKEND_TRACEPOINTS}, {@linkcode SINK_TRACEPOINTS}), like
 *   libcamera's `.tp` files: a `{category}_{event}` name and typed fields. The
 *   tables are the single source of the emitters and their types, the CTF
 *   metadata, the JSON writer and the readers (`tracepoints.ts`).
 * - **Off by default and free when off.** Call sites read
 *   `if (tracing.enabled) dumperTrace.periodBegin(n)`: one branch, nothing
 *   evaluated or allocated when tracing is off. Enabled, an event is a few
 *   stores into a preallocated `Float64Array`; the buffer is flushed to the
 *   writers whenever it fills, so a long traced capture keeps a flat memory
 *   profile (`tracer.ts`, `chunk.ts`, `instrument.ts`).
 * - **Writers**: Chrome Trace Event JSON ({@linkcode JsonTraceWriter}, opened by
 *   Perfetto's UI and chrome://tracing) and CTF 1.8 ({@linkcode CtfTraceWriter},
 *   read by `babeltrace2`), with the same events and the same nanosecond
 *   timestamps from a monotonic clock (`json_writer.ts`, `ctf_writer.ts`,
 *   `writer.ts`).
 * - **Analysis**: {@linkcode readTrace} reads both formats back,
 *   {@linkcode traceStats} gives per-call latency statistics and
 *   {@linkcode traceReport} a self-contained HTML page (`read.ts`,
 *   `json_read.ts`, `ctf_read.ts`, `stats.ts`, `report.ts`).
 *
 * ```ts
 * import { dumperTrace, MemoryTraceWriter, startTracing, tracing } from "./mod.ts";
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * if (tracing.enabled) dumperTrace.periodBegin(1);
 * session.stop();
 * console.log(memory.events[0].name); // "dumper_period_begin"
 * ```
 *
 * @module
 */
export {
  BACKEND_EVENTS,
  BACKEND_TRACEPOINTS,
  type DeclaredTracepointTable,
  defineTracepoints,
  DUMPER_EVENTS,
  DUMPER_TRACEPOINTS,
  SINK_EVENTS,
  SINK_TRACEPOINTS,
  type TraceEvent,
  type TraceField,
  type TraceFieldDecl,
  type TraceFieldSpec,
  type TraceFieldType,
  type Tracepoint,
  tracepoint,
  type TracepointDecls,
  type TracepointPhase,
  TRACEPOINTS,
  type TracepointTable,
  type TraceValue,
} from "./tracepoints.ts";
export {
  backendTrace,
  type BackendTracepoints,
  type CamelCase,
  currentTraceSession,
  dumperTrace,
  type DumperTracepoints,
  monotonicNs,
  sinkTrace,
  type SinkTracepoints,
  startTracing,
  type TraceArgs,
  type TraceOptions,
  type TracepointEmitters,
  TraceSession,
  type TraceWriter,
  tracing,
  type TracingState,
} from "./tracer.ts";
export { TraceChunk } from "./chunk.ts";
export { traceBackend, traceSink } from "./instrument.ts";
export { TraceFormatError } from "./errors.ts";
export {
  MemoryTraceWriter,
  openTraceWriter,
  TRACE_FORMATS,
  type TraceFormat,
  traceFormatFor,
} from "./writer.ts";
export { JsonTraceWriter } from "./json_writer.ts";
export { ctfMetadata, CtfTraceWriter } from "./ctf_writer.ts";
export { readTrace, type TraceData } from "./read.ts";
export { checkChromeTrace, type ChromeTraceProblem, parseChromeTrace } from "./json_read.ts";
export { parseCtf } from "./ctf_read.ts";
export {
  BACKEND_CALLS,
  backendMatches,
  CallCollector,
  CallPairer,
  type CallStats,
  formatTraceStats,
  LIBCAMERA_IPA_CALLS,
  pairBackendCalls,
  type PairingRule,
  type TraceStats,
  traceStats,
  type UnmatchedCall,
} from "./stats.ts";
export { renderReport, ReportCollector, traceReport } from "./report.ts";
export { type AnalyzeOptions, analyzeTrace, type TraceAnalysis } from "./analyze.ts";
export { type CtfReadSummary, findCtfTraces, readCtfTraces } from "./ctf/lttng.ts";
