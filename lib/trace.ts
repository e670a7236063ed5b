/**
 * Tracing: where the time goes in each period. Users tune `--period` and the
 * ring size with it, so it is part of the product.
 *
 * - **Tracepoints** are defined once, per category ({@linkcode DUMPER_TRACEPOINTS},
 *   {@linkcode BACKEND_TRACEPOINTS}, {@linkcode SINK_TRACEPOINTS}), like
 *   libcamera's `.tp` files: a `{category}_{event}` name and typed fields. The
 *   tables are the single source of the CTF metadata, the JSON writer and the
 *   readers.
 * - **Off by default and free when off.** Call sites read
 *   `if (tracing.enabled) dumperTrace.periodBegin(n)`: one branch, nothing
 *   evaluated or allocated when tracing is off. Enabled, an event is a few
 *   stores into a preallocated `Float64Array`; the buffer is flushed to the
 *   writers whenever it fills, so a long traced capture keeps a flat memory
 *   profile.
 * - **Writers**: Chrome Trace Event JSON ({@linkcode JsonTraceWriter}, opened by
 *   Perfetto's UI and chrome://tracing) and CTF 1.8 ({@linkcode CtfTraceWriter},
 *   read by `babeltrace2`), with the same events and the same nanosecond
 *   timestamps from a monotonic clock.
 * - **Analysis**: {@linkcode readTrace} reads both formats back,
 *   {@linkcode traceStats} gives per-call latency statistics and
 *   {@linkcode traceReport} a self-contained HTML page.
 *
 * ```ts
 * import { dumperTrace, MemoryTraceWriter, startTracing, tracing } from "./trace.ts";
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * if (tracing.enabled) dumperTrace.periodBegin(1);
 * session.stop();
 * console.log(memory.events[0].name); // "dumper_period_begin"
 * ```
 *
 * @module
 */
import type { Backend, RegisterWidth } from "../backends/types.ts";
import { RingdumpError, UsageError } from "./errors.ts";
import type { Sink } from "./sink/mod.ts";

// ---------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------

/** Types a tracepoint field can have: unsigned or signed 64-bit integers, UTF-8 strings. */
export type TraceFieldType = "u64" | "i64" | "string";

/** The fields of a tracepoint, in order: field name to type. */
export type TraceFieldSpec = Readonly<Record<string, TraceFieldType>>;

/** One category's tracepoints, as written in a `.tp`-like table. */
export interface TracepointTable {
  /** Category, the first part of every tracepoint name (`dumper`). */
  readonly category: string;
  /** Event name (without the category) to its fields, in order. */
  readonly events: Readonly<Record<string, TraceFieldSpec>>;
}

/**
 * The dumper's tracepoints: a capture's start and end, and every period
 * (begin, and end with its counts, headroom and reads).
 *
 * @example
 * ```ts
 * import { DUMPER_TRACEPOINTS } from "./trace.ts";
 * console.log(Object.keys(DUMPER_TRACEPOINTS.events.period_end).includes("headroom_ppm")); // true
 * ```
 */
export const DUMPER_TRACEPOINTS: TracepointTable = {
  category: "dumper",
  events: {
    capture_begin: {
      ring_pages: "u64",
      page_size: "u64",
      counter_wrap: "u64",
      period_ns: "u64",
      first_page: "u64",
    },
    capture_end: { bytes: "u64", pages: "u64", periods: "u64", lost_pages: "u64" },
    period_begin: { period: "u64" },
    period_end: {
      period: "u64",
      counter: "u64",
      new_pages: "u64",
      pages: "u64",
      bytes: "u64",
      reads: "u64",
      counter_reads: "u64",
      lost_pages: "u64",
      headroom_ppm: "u64",
      ring_pages: "u64",
    },
  },
};

/**
 * The backend call tracepoints, the analogue of libcamera's IPA call
 * tracepoints: a begin/end pair around every backend call.
 *
 * @example
 * ```ts
 * import { BACKEND_TRACEPOINTS } from "./trace.ts";
 * console.log(Object.keys(BACKEND_TRACEPOINTS.events)); // ["call_begin", "call_end"]
 * ```
 */
export const BACKEND_TRACEPOINTS: TracepointTable = {
  category: "backend",
  events: {
    call_begin: { backend_name: "string", function_name: "string" },
    call_end: { backend_name: "string", function_name: "string" },
  },
};

/**
 * The sink tracepoints: every write and flush, as begin/end pairs.
 *
 * @example
 * ```ts
 * import { SINK_TRACEPOINTS } from "./trace.ts";
 * console.log(SINK_TRACEPOINTS.events.write_begin); // { sink_name: "string", bytes: "u64" }
 * ```
 */
export const SINK_TRACEPOINTS: TracepointTable = {
  category: "sink",
  events: {
    write_begin: { sink_name: "string", bytes: "u64" },
    write_end: { sink_name: "string", bytes: "u64" },
    flush_begin: { sink_name: "string" },
    flush_end: { sink_name: "string" },
  },
};

/** How a tracepoint shows in a timeline: opens a span, closes one, or a point in time. */
export type TracepointPhase = "begin" | "end" | "instant";

/** A field of a {@linkcode Tracepoint}. */
export interface TraceField {
  /** Field name (a C identifier). */
  readonly name: string;
  /** Field type. */
  readonly type: TraceFieldType;
}

/** A tracepoint, resolved from the tables. */
export interface Tracepoint {
  /** Numeric id, the CTF event id. */
  readonly id: number;
  /** `{category}_{event}`, e.g. `dumper_period_begin`. */
  readonly name: string;
  /** Category, e.g. `dumper`. */
  readonly category: string;
  /** Event within the category, e.g. `period_begin`. */
  readonly event: string;
  /** From the name's suffix: `_begin`, `_end`, or neither. */
  readonly phase: TracepointPhase;
  /** The span a begin/end pair draws, e.g. `dumper_period`; the name for instants. */
  readonly span: string;
  /** The fields, in order. */
  readonly fields: readonly TraceField[];
}

const IDENT = /^[a-z][a-z0-9_]*$/;

function resolveTables(tables: readonly TracepointTable[]): readonly Tracepoint[] {
  const out: Tracepoint[] = [];
  const seen = new Set<string>();
  for (const table of tables) {
    if (!IDENT.test(table.category)) throw new Error(`bad trace category ${table.category}`);
    for (const [event, spec] of Object.entries(table.events)) {
      const name = `${table.category}_${event}`;
      if (!IDENT.test(event) || seen.has(name)) throw new Error(`bad tracepoint ${name}`);
      seen.add(name);
      const phase: TracepointPhase = event.endsWith("_begin")
        ? "begin"
        : event.endsWith("_end")
        ? "end"
        : "instant";
      const span = phase === "instant" ? name : name.slice(0, name.lastIndexOf("_"));
      const fields = Object.entries(spec).map(([n, type]) => {
        if (!IDENT.test(n)) throw new Error(`bad field ${n} of tracepoint ${name}`);
        return Object.freeze({ name: n, type });
      });
      if (fields.length > MAX_FIELDS) throw new Error(`tracepoint ${name} has too many fields`);
      out.push(
        Object.freeze({
          id: out.length,
          name,
          category: table.category,
          event,
          phase,
          span,
          fields: Object.freeze(fields),
        }),
      );
    }
  }
  return Object.freeze(out);
}

const MAX_FIELDS = 10;

/**
 * Every tracepoint, in id order: the dumper's, the backend's, the sink's.
 *
 * @example
 * ```ts
 * import { TRACEPOINTS } from "./trace.ts";
 * console.log(TRACEPOINTS.map((t) => t.name).includes("backend_call_begin")); // true
 * ```
 */
export const TRACEPOINTS: readonly Tracepoint[] = resolveTables([
  DUMPER_TRACEPOINTS,
  BACKEND_TRACEPOINTS,
  SINK_TRACEPOINTS,
]);

const BY_NAME = new Map(TRACEPOINTS.map((t) => [t.name, t]));

/**
 * Looks a tracepoint up by its full name.
 *
 * @example
 * ```ts
 * import { tracepoint } from "./trace.ts";
 * console.log(tracepoint("sink_write_end")?.phase); // "end"
 * ```
 */
export function tracepoint(name: string): Tracepoint | undefined {
  return BY_NAME.get(name);
}

// ---------------------------------------------------------------------------
// The tracer: state, buffer, emitters
// ---------------------------------------------------------------------------

/** Whether tracing is on: read it before every tracepoint call. */
export interface TracingState {
  /** True while a {@linkcode TraceSession} runs. */
  readonly enabled: boolean;
}

/** A field value in a decoded event. */
export type TraceValue = number | string;

/** A decoded event, as writers receive it and readers return it. */
export interface TraceEvent {
  /** Tracepoint name, e.g. `backend_call_begin`. */
  readonly name: string;
  /** Nanoseconds on the trace's monotonic clock. */
  readonly timestamp: number;
  /** Field values by field name. */
  readonly fields: Readonly<Record<string, TraceValue>>;
}

/** Where a session's events go, a chunk at a time, in time order. */
export interface TraceWriter {
  /** Format written, for messages. */
  readonly format: string;
  /** Path written, for messages (empty for memory). */
  readonly path: string;
  /** Writes a chunk of events (synchronously: it runs when the buffer fills). */
  write(chunk: TraceChunk): void;
  /** Completes the file (closing brackets, last packet) and closes it. Idempotent. */
  close(): void;
}

interface State {
  enabled: boolean;
  buf: Float64Array;
  pos: number;
  strings: Map<string, number>;
  stringList: string[];
  lastTs: number;
  now: () => number;
  session: TraceSession | undefined;
}

const state: State = {
  enabled: false,
  buf: new Float64Array(0),
  pos: 0,
  strings: new Map(),
  stringList: [],
  lastTs: 0,
  now: monotonicNs,
  session: undefined,
};

/**
 * The global tracing switch. Guard every tracepoint with it so that, when
 * tracing is off, the arguments are not even evaluated:
 * `if (tracing.enabled) dumperTrace.periodBegin(n)`.
 *
 * @example
 * ```ts
 * import { tracing } from "./trace.ts";
 * console.log(tracing.enabled); // false
 * ```
 */
export const tracing: TracingState = state;

/**
 * The default trace clock: `performance.now()` in whole nanoseconds. Monotonic.
 *
 * @example
 * ```ts
 * import { monotonicNs } from "./trace.ts";
 * const a = monotonicNs();
 * console.log(monotonicNs() >= a); // true
 * ```
 */
export function monotonicNs(): number {
  return Math.round(performance.now() * 1e6);
}

function intern(s: unknown): number {
  const text = typeof s === "string" ? s : String(s);
  let id = state.strings.get(text);
  if (id === undefined) {
    id = state.stringList.length;
    state.stringList.push(text);
    state.strings.set(text, id);
  }
  return id;
}

/** Reserves `n` slots; returns the start or -1 when tracing stopped during a flush failure. */
function reserve(n: number): number {
  if (state.pos + n > state.buf.length) {
    flushBuffer();
    if (!state.enabled) return -1;
  }
  const p = state.pos;
  state.pos = p + n;
  return p;
}

function stamp(): number {
  let t = Math.round(state.now());
  if (t < state.lastTs) t = state.lastTs;
  state.lastTs = t;
  return t;
}

type Emit = (
  a0?: TraceValue,
  a1?: TraceValue,
  a2?: TraceValue,
  a3?: TraceValue,
  a4?: TraceValue,
  a5?: TraceValue,
  a6?: TraceValue,
  a7?: TraceValue,
  a8?: TraceValue,
  a9?: TraceValue,
) => void;

/** A fixed-arity emitter for one tracepoint: no rest arguments, no allocation. */
function emitter(name: string): Emit {
  const tp = BY_NAME.get(name);
  if (!tp) throw new Error(`no tracepoint ${name}`);
  const id = tp.id;
  const n = tp.fields.length;
  const s0 = tp.fields[0]?.type === "string", s1 = tp.fields[1]?.type === "string";
  const s2 = tp.fields[2]?.type === "string", s3 = tp.fields[3]?.type === "string";
  const s4 = tp.fields[4]?.type === "string", s5 = tp.fields[5]?.type === "string";
  const s6 = tp.fields[6]?.type === "string", s7 = tp.fields[7]?.type === "string";
  const s8 = tp.fields[8]?.type === "string", s9 = tp.fields[9]?.type === "string";
  return function (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9): void {
    if (!state.enabled) return;
    const p = reserve(n + 2);
    if (p < 0) return;
    const b = state.buf;
    b[p] = id;
    b[p + 1] = stamp();
    if (n > 0) b[p + 2] = s0 ? intern(a0) : a0 as number;
    if (n > 1) b[p + 3] = s1 ? intern(a1) : a1 as number;
    if (n > 2) b[p + 4] = s2 ? intern(a2) : a2 as number;
    if (n > 3) b[p + 5] = s3 ? intern(a3) : a3 as number;
    if (n > 4) b[p + 6] = s4 ? intern(a4) : a4 as number;
    if (n > 5) b[p + 7] = s5 ? intern(a5) : a5 as number;
    if (n > 6) b[p + 8] = s6 ? intern(a6) : a6 as number;
    if (n > 7) b[p + 9] = s7 ? intern(a7) : a7 as number;
    if (n > 8) b[p + 10] = s8 ? intern(a8) : a8 as number;
    if (n > 9) b[p + 11] = s9 ? intern(a9) : a9 as number;
  };
}

/** Emitters of the {@linkcode DUMPER_TRACEPOINTS}, one per tracepoint, fields in order. */
export interface DumperTracepoints {
  /** `dumper_capture_begin`: the capture's geometry, period and baseline page. */
  captureBegin(
    ringPages: number,
    pageSize: number,
    counterWrap: number,
    periodNs: number,
    firstPage: number,
  ): void;
  /** `dumper_capture_end`: totals. */
  captureEnd(bytes: number, pages: number, periods: number, lostPages: number): void;
  /** `dumper_period_begin`: period number (1-based). */
  periodBegin(period: number): void;
  /**
   * `dumper_period_end`: the period's number, the logical counter at its last
   * read, pages the writer advanced since the previous period, pages and bytes
   * appended, backend reads, counter reads, pages lost, the period's headroom
   * in parts per million of the ring, and the ring's page count.
   */
  periodEnd(
    period: number,
    counter: number,
    newPages: number,
    pages: number,
    bytes: number,
    reads: number,
    counterReads: number,
    lostPages: number,
    headroomPpm: number,
    ringPages: number,
  ): void;
}

/** Emitters of the {@linkcode BACKEND_TRACEPOINTS}. */
export interface BackendTracepoints {
  /** `backend_call_begin`. */
  callBegin(backendName: string, functionName: string): void;
  /** `backend_call_end`. */
  callEnd(backendName: string, functionName: string): void;
}

/** Emitters of the {@linkcode SINK_TRACEPOINTS}. */
export interface SinkTracepoints {
  /** `sink_write_begin`: bytes about to be written. */
  writeBegin(sinkName: string, bytes: number): void;
  /** `sink_write_end`: bytes written. */
  writeEnd(sinkName: string, bytes: number): void;
  /** `sink_flush_begin`. */
  flushBegin(sinkName: string): void;
  /** `sink_flush_end`. */
  flushEnd(sinkName: string): void;
}

function camel(event: string): string {
  return event.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function emitters(table: TracepointTable): Record<string, Emit> {
  const out: Record<string, Emit> = {};
  for (const event of Object.keys(table.events)) {
    out[camel(event)] = emitter(`${table.category}_${event}`);
  }
  return Object.freeze(out);
}

/**
 * The dumper's tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { dumperTrace, tracing } from "./trace.ts";
 * if (tracing.enabled) dumperTrace.periodBegin(1);
 * ```
 */
export const dumperTrace: DumperTracepoints = emitters(
  DUMPER_TRACEPOINTS,
) as unknown as DumperTracepoints;

/**
 * The backend call tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { backendTrace, tracing } from "./trace.ts";
 * if (tracing.enabled) backendTrace.callBegin("sim", "read");
 * ```
 */
export const backendTrace: BackendTracepoints = emitters(
  BACKEND_TRACEPOINTS,
) as unknown as BackendTracepoints;

/**
 * The sink tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { sinkTrace, tracing } from "./trace.ts";
 * if (tracing.enabled) sinkTrace.flushBegin("raw file out.bin");
 * ```
 */
export const sinkTrace: SinkTracepoints = emitters(SINK_TRACEPOINTS) as unknown as SinkTracepoints;

/** An integer field's value as written: rounded, and clamped at 0 for `u64`. */
function intValue(v: number, type: TraceFieldType): number {
  // A tracer never throws at a call site: out-of-type values are fixed here.
  const x = Number.isFinite(v) ? Math.round(v) : 0;
  return type === "u64" && x < 0 ? 0 : x;
}

/**
 * A chunk of events as the tracer buffers them: records of
 * `[tracepoint id, timestamp ns, field values...]` in a `Float64Array`,
 * string fields as indexes into `strings`. Writers encode straight from it;
 * {@linkcode TraceChunk.events} decodes it into objects. A chunk handed to
 * `TraceWriter.write` is valid only during that call.
 *
 * @example
 * ```ts
 * import { TraceChunk } from "./trace.ts";
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
      const tp = BY_NAME.get(e.name);
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

function flushBuffer(): void {
  const session = state.session;
  if (!session || state.pos === 0) return;
  const b = state.buf;
  let count = 0;
  for (let p = 0; p < state.pos; p += 2 + TRACEPOINTS[b[p]].fields.length) count++;
  const chunk = new TraceChunk(b.subarray(0, state.pos), state.stringList, count);
  try {
    session.deliver(chunk);
  } finally {
    state.pos = 0;
    state.strings.clear();
    state.stringList.length = 0;
  }
}

/** Options of {@linkcode startTracing}. */
export interface TraceOptions {
  /** Size of the event buffer in bytes (flushed whenever it fills); default 512 KiB. */
  bufferBytes?: number;
  /** Clock in nanoseconds; default {@linkcode monotonicNs}. Must not go backwards. */
  now?: () => number;
}

/**
 * A running trace: tracing is on until {@linkcode TraceSession.stop}.
 * Only one runs at a time.
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, startTracing, tracing } from "./trace.ts";
 * const session = startTracing(new MemoryTraceWriter());
 * console.log(tracing.enabled); // true
 * session.stop();
 * console.log(tracing.enabled, session.events); // false 0
 * ```
 */
export class TraceSession {
  /** The writers events go to. */
  readonly writers: readonly TraceWriter[];
  #events = 0;
  #flushes = 0;
  #error: unknown;
  #stopped = false;

  /** Use {@linkcode startTracing}. */
  constructor(writers: readonly TraceWriter[]) {
    this.writers = writers;
  }

  /** Events written to the writers so far (the buffer is counted once flushed). */
  get events(): number {
    return this.#events;
  }

  /** Times the buffer was flushed to the writers. */
  get flushes(): number {
    return this.#flushes;
  }

  /** Whether {@linkcode TraceSession.stop} ran. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** @internal Hands a flushed chunk to every writer; a failing writer stops tracing. */
  deliver(chunk: TraceChunk): void {
    this.#flushes++;
    try {
      for (const w of this.writers) w.write(chunk);
      this.#events += chunk.count;
    } catch (e) {
      // Never break the capture for the trace: stop tracing, report at stop().
      this.#error ??= e;
      state.enabled = false;
    }
  }

  /** Writes out the buffer now. */
  flush(): void {
    if (state.session === this) flushBuffer();
  }

  /**
   * Flushes, turns tracing off and closes every writer. Throws a
   * {@linkcode RingdumpError} when a writer failed during the session.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (state.session === this) {
      if (state.enabled) flushBuffer();
      state.enabled = false;
      state.session = undefined;
      state.buf = new Float64Array(0);
      state.pos = 0;
      state.strings.clear();
      state.stringList.length = 0;
    }
    for (const w of this.writers) {
      try {
        w.close();
      } catch (e) {
        this.#error ??= e;
      }
    }
    if (this.#error !== undefined) {
      const e = this.#error;
      if (e instanceof RingdumpError) throw e;
      const where = this.writers.map((w) => w.path).filter((p) => p).join(", ");
      throw new RingdumpError(
        `trace: writing ${where || "the trace"} failed: ${(e as Error)?.message ?? e}; ` +
          `the trace is incomplete`,
        { cause: e },
      );
    }
  }

  /** Same as {@linkcode TraceSession.stop}, for `using`. */
  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Turns tracing on, into one or more writers (e.g. a JSON file and a CTF
 * directory of the same run). Throws a {@linkcode UsageError} if a session
 * already runs.
 *
 * @example
 * ```ts
 * import { backendTrace, MemoryTraceWriter, startTracing, tracing } from "./trace.ts";
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory, { bufferBytes: 4096 });
 * if (tracing.enabled) backendTrace.callBegin("sim", "read");
 * if (tracing.enabled) backendTrace.callEnd("sim", "read");
 * session.stop();
 * console.log(memory.events.map((e) => e.name)); // ["backend_call_begin", "backend_call_end"]
 * ```
 */
export function startTracing(
  writers: TraceWriter | readonly TraceWriter[],
  options: TraceOptions = {},
): TraceSession {
  if (state.session) {
    throw new UsageError("trace: a trace session is already running; stop it first");
  }
  const bytes = options.bufferBytes ?? 512 * 1024;
  const slots = Math.floor(bytes / 8);
  if (!Number.isFinite(bytes) || slots < MAX_FIELDS + 2) {
    throw new UsageError(`trace: bufferBytes must be at least ${(MAX_FIELDS + 2) * 8}`, {
      option: "bufferBytes",
      value: String(bytes),
    });
  }
  const session = new TraceSession(
    Array.isArray(writers) ? [...writers] : [writers as TraceWriter],
  );
  state.buf = new Float64Array(slots);
  state.pos = 0;
  state.strings.clear();
  state.stringList.length = 0;
  state.lastTs = 0;
  state.now = options.now ?? monotonicNs;
  state.session = session;
  state.enabled = true;
  return session;
}

/**
 * The running session, if any.
 *
 * @example
 * ```ts
 * import { currentTraceSession } from "./trace.ts";
 * console.log(currentTraceSession()); // undefined
 * ```
 */
export function currentTraceSession(): TraceSession | undefined {
  return state.session;
}

// ---------------------------------------------------------------------------
// Instrumented wrappers
// ---------------------------------------------------------------------------

const TRACED = Symbol("ringdump.traced");

/**
 * Wraps a backend so every call (`readRegister`, `read`, `close`) is framed by
 * `backend_call_begin`/`backend_call_end` with the backend's name and the
 * function's name, also when it throws. Wrapping twice returns the same
 * wrapper. The events are emitted only while tracing is on.
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, startTracing, traceBackend } from "./trace.ts";
 * import { openSim } from "../backends/sim.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * const backend = traceBackend(openSim(geometry, { pattern: "counter" }));
 * await backend.readRegister(geometry.counterAddress, 32);
 * session.stop();
 * console.log(memory.events.map((e) => e.fields.function_name)); // ["readRegister", "readRegister"]
 * ```
 */
export function traceBackend(backend: Backend): Backend {
  if ((backend as unknown as Record<symbol, unknown>)[TRACED]) return backend;
  const name = backend.name;
  const traced = {
    [TRACED]: true,
    name,
    async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
      if (tracing.enabled) backendTrace.callBegin(name, "readRegister");
      try {
        return await backend.readRegister(address, width);
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "readRegister");
      }
    },
    async read(address: bigint, dest: Uint8Array): Promise<void> {
      if (tracing.enabled) backendTrace.callBegin(name, "read");
      try {
        return await backend.read(address, dest);
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "read");
      }
    },
    async close(): Promise<void> {
      if (tracing.enabled) backendTrace.callBegin(name, "close");
      try {
        return await backend.close();
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "close");
      }
    },
  };
  return traced;
}

/**
 * Wraps a sink so every `write` and `flush` is framed by
 * `sink_write_begin`/`_end` (with the byte count) and
 * `sink_flush_begin`/`_end`. Wrapping twice returns the same wrapper.
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, startTracing, traceSink } from "./trace.ts";
 * import { MemorySink } from "./sink/mod.ts";
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * const sink = traceSink(new MemorySink());
 * await sink.write(new Uint8Array(8));
 * session.stop();
 * console.log(memory.events[1].fields); // { sink_name: "memory", bytes: 8 }
 * ```
 */
export function traceSink(sink: Sink): Sink {
  if ((sink as unknown as Record<symbol, unknown>)[TRACED]) return sink;
  const name = sink.name;
  return {
    [TRACED]: true,
    name,
    get bytesWritten(): number {
      return sink.bytesWritten;
    },
    async write(chunk: Uint8Array): Promise<void> {
      if (tracing.enabled) sinkTrace.writeBegin(name, chunk.length);
      try {
        return await sink.write(chunk);
      } finally {
        if (tracing.enabled) sinkTrace.writeEnd(name, chunk.length);
      }
    },
    async flush(): Promise<void> {
      if (tracing.enabled) sinkTrace.flushBegin(name);
      try {
        return await sink.flush();
      } finally {
        if (tracing.enabled) sinkTrace.flushEnd(name);
      }
    },
    close(): Promise<void> {
      return sink.close();
    },
  } as Sink;
}

// ---------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------

/** Trace file formats. */
export type TraceFormat = "json" | "ctf";

/** The trace formats, for option choices. */
export const TRACE_FORMATS: readonly TraceFormat[] = ["json", "ctf"];

/**
 * A trace file or directory could not be read: truncated, corrupt, or not a
 * trace in a format ringdump knows. Exit code 2.
 *
 * @example
 * ```ts
 * import { TraceFormatError } from "./trace.ts";
 * const e = new TraceFormatError("t.json: truncated", { path: "t.json", format: "json" });
 * console.log(e.exitCode, e.format); // 2 "json"
 * ```
 */
export class TraceFormatError extends UsageError {
  /** The trace path. */
  readonly path: string;
  /** The format it was read as, if known. */
  readonly format?: string;
  /** Byte offset of the problem, if known. */
  readonly offset?: number;
  /** Creates the error. */
  constructor(
    message: string,
    options: { path: string; format?: string; offset?: number; cause?: unknown },
  ) {
    super(message, { option: "PATH", value: options.path, cause: options.cause });
    this.path = options.path;
    this.format = options.format;
    this.offset = options.offset;
  }
}

/**
 * Collects events in memory (for tests and scripts that analyse a trace in
 * process).
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, sinkTrace, startTracing } from "./trace.ts";
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

function writeAllSync(file: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

function openError(path: string, e: unknown): UsageError {
  const why = e instanceof Deno.errors.NotFound
    ? "its directory does not exist"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : (e as Error)?.message ?? String(e);
  return new UsageError(`--trace: cannot write '${path}': ${why}`, {
    option: "--trace",
    value: path,
    cause: e,
  });
}

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
 * import { JsonTraceWriter, readTrace, sinkTrace, startTracing, tracing } from "./trace.ts";
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

const CTF_MAGIC = 0xc1fc1fc1;
const CTF_HEADER_BYTES = 4 + 16 + 4;
const CTF_CONTEXT_BYTES = 6 * 8;
const CTF_STREAM_FILE = "stream_0";

function tsdlType(t: TraceFieldType): string {
  return t === "u64" ? "uint64_t" : t === "i64" ? "int64_t" : "string";
}

/**
 * The CTF 1.8 TSDL metadata for the tracepoints, generated from the tables.
 *
 * @example
 * ```ts
 * import { ctfMetadata } from "./trace.ts";
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

function uuidBytes(uuid: string): Uint8Array {
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
 * import { CtfTraceWriter, readTrace, sinkTrace, startTracing, tracing } from "./trace.ts";
 * const dir = await Deno.makeTempDir();
 * const session = startTracing(await CtfTraceWriter.open(dir));
 * if (tracing.enabled) sinkTrace.writeBegin("memory", 4096);
 * if (tracing.enabled) sinkTrace.writeEnd("memory", 4096);
 * session.stop();
 * const trace = await readTrace(dir);
 * console.log(trace.format, trace.events[1].fields.bytes); // "ctf" 4096
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
          `--trace: '${dir}' is a file; a CTF trace is a directory (use a .json name for JSON)`,
          { option: "--trace", value: dir },
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

/**
 * Opens a trace writer for a path: `format` or, without it, JSON for a
 * `.json` name and CTF (a directory) otherwise.
 *
 * @example
 * ```ts
 * import { openTraceWriter } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * const w = await openTraceWriter(path);
 * console.log(w.format); // "json"
 * w.close();
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
 * import { traceFormatFor } from "./trace.ts";
 * console.log(traceFormatFor("t.json"), traceFormatFor("trace-dir")); // "json" "ctf"
 * ```
 */
export function traceFormatFor(path: string, format?: string): TraceFormat {
  if (format === undefined) return /\.json$/i.test(path) ? "json" : "ctf";
  if (format === "json" || format === "ctf") return format;
  throw new UsageError(`--trace-format: unknown trace format '${format}'; use json or ctf`, {
    option: "--trace-format",
    value: format,
  });
}

// ---------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------

/** A trace read back from a file. */
export interface TraceData {
  /** The format it was read as. */
  readonly format: TraceFormat;
  /** The path read. */
  readonly path: string;
  /** Events in time order. */
  readonly events: TraceEvent[];
}

/**
 * Reads a trace written by ringdump: a CTF directory (or its `metadata`
 * file) or a Chrome Trace Event JSON file; the format is detected unless
 * given. Throws a {@linkcode TraceFormatError} (exit 2) for a missing,
 * truncated, corrupt or unknown trace.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, readTrace, startTracing } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * console.log((await readTrace(path)).format); // "json"
 * ```
 */
export async function readTrace(
  path: string,
  options: { format?: string } = {},
): Promise<TraceData> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (e) {
    throw new TraceFormatError(
      e instanceof Deno.errors.NotFound
        ? `${path}: no such trace file or directory`
        : `${path}: cannot read: ${(e as Error).message}`,
      { path, cause: e },
    );
  }
  let format = options.format;
  if (format !== undefined && format !== "json" && format !== "ctf") {
    throw new TraceFormatError(`${path}: unknown trace format '${format}'; use json or ctf`, {
      path,
      format,
    });
  }
  let dir = path;
  if (st.isDirectory) {
    format ??= "ctf";
  } else if (format === undefined) {
    const head = await readHead(path, 16);
    const text = new TextDecoder().decode(head);
    if (/^\s*[[{]/.test(text)) format = "json";
    else if (text.startsWith("/* CTF 1.8")) {
      format = "ctf";
      dir = path.replace(/\/?[^/]*$/, "") || ".";
    } else if (head.length >= 4 && new DataView(head.buffer).getUint32(0, true) === CTF_MAGIC) {
      format = "ctf";
      dir = path.replace(/\/?[^/]*$/, "") || ".";
    } else {
      throw new TraceFormatError(
        `${path}: unknown trace format: neither Chrome Trace Event JSON nor a CTF trace ` +
          `(a directory with a 'metadata' file)`,
        { path },
      );
    }
  }
  if (format === "json") {
    if (st.isDirectory) {
      throw new TraceFormatError(`${path}: is a directory, not a JSON trace`, {
        path,
        format,
      });
    }
    const text = await readText(path);
    return { format: "json", path, events: parseChromeTrace(text, { path }) };
  }
  return { format: "ctf", path, events: await readCtf(dir) };
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  try {
    using f = await Deno.open(path);
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = await f.read(buf.subarray(got));
      if (r === null) break;
      got += r;
    }
    return buf.subarray(0, got);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read: ${(e as Error).message}`, { path, cause: e });
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read: ${(e as Error).message}`, { path, cause: e });
  }
}

/** Whether JSON text ends inside a string, an array or an object (i.e. was cut). */
function jsonUnclosed(text: string): boolean {
  let depth = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return inString || depth > 0;
}

function nsFromUs(ts: number): number {
  return Math.round(ts * 1000);
}

/**
 * Parses a Chrome Trace Event JSON trace (object or array form) into events:
 * `B` → `{name}_begin`, `E` → `{name}_end` (a nameless `E` closes its thread's
 * last `B`), `X` → both, `i`/`I` → `{name}`; `args` become the fields.
 * Metadata and other phases are skipped. Throws a {@linkcode TraceFormatError}
 * for text that is not such a trace, e.g. one cut mid-file.
 *
 * @example
 * ```ts
 * import { parseChromeTrace } from "./trace.ts";
 * const events = parseChromeTrace('[{"name":"sink_flush","ph":"B","ts":1.5,"pid":1,"tid":1}]');
 * console.log(events[0]); // { name: "sink_flush_begin", timestamp: 1500, fields: {} }
 * ```
 */
export function parseChromeTrace(text: string, options: { path?: string } = {}): TraceEvent[] {
  const path = options.path ?? "<json>";
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const cut = text.trim().length === 0 || jsonUnclosed(text);
    throw new TraceFormatError(
      cut
        ? `${path}: the JSON trace is truncated (it ends mid-file: ${
          (e as Error).message
        }); was the capture killed before the trace was closed?`
        : `${path}: not valid JSON: ${(e as Error).message}`,
      { path, format: "json", cause: e },
    );
  }
  const list = Array.isArray(doc) ? doc : doc && typeof doc === "object" &&
      Array.isArray((doc as { traceEvents?: unknown }).traceEvents)
    ? (doc as { traceEvents: unknown[] }).traceEvents
    : undefined;
  if (!list) {
    throw new TraceFormatError(
      `${path}: not a Chrome Trace Event file (expected an array of events or an object with 'traceEvents')`,
      { path, format: "json" },
    );
  }
  const out: TraceEvent[] = [];
  const open = new Map<string, string[]>();
  for (let i = 0; i < list.length; i++) {
    const ev = list[i] as Record<string, unknown>;
    const bad = (why: string) =>
      new TraceFormatError(`${path}: traceEvents[${i}]: ${why}`, { path, format: "json" });
    if (!ev || typeof ev !== "object") throw bad("not an object");
    const ph = ev.ph;
    if (typeof ph !== "string") throw bad("no 'ph' (phase)");
    if (ph === "M") continue;
    if (!["B", "E", "X", "i", "I"].includes(ph)) continue;
    if (typeof ev.ts !== "number" || !Number.isFinite(ev.ts)) throw bad("no numeric 'ts'");
    const args = ev.args && typeof ev.args === "object" ? ev.args as Record<string, unknown> : {};
    const fields: Record<string, TraceValue> = {};
    for (const [k, v] of Object.entries(args)) {
      if (typeof v === "number" || typeof v === "string") fields[k] = v;
    }
    const thread = `${ev.pid ?? ""}/${ev.tid ?? ""}`;
    const stack = open.get(thread) ?? [];
    open.set(thread, stack);
    let name = typeof ev.name === "string" ? ev.name : undefined;
    const timestamp = nsFromUs(ev.ts);
    if (ph === "B") {
      if (name === undefined) throw bad("a 'B' event without a name");
      stack.push(name);
      out.push({ name: `${name}_begin`, timestamp, fields });
    } else if (ph === "E") {
      const top = stack.pop();
      name ??= top;
      if (name === undefined) throw bad("an 'E' event without a name and without an open 'B'");
      out.push({ name: `${name}_end`, timestamp, fields });
    } else if (ph === "X") {
      if (name === undefined) throw bad("an 'X' event without a name");
      if (typeof ev.dur !== "number") throw bad("an 'X' event without a numeric 'dur'");
      out.push({ name: `${name}_begin`, timestamp, fields });
      out.push({ name: `${name}_end`, timestamp: nsFromUs(ev.ts + ev.dur), fields });
    } else {
      if (name === undefined) throw bad("an instant event without a name");
      out.push({ name, timestamp, fields });
    }
  }
  // Stable: events with equal timestamps keep their file order.
  return out.map((e, i) => [e, i] as const)
    .sort((a, b) => a[0].timestamp - b[0].timestamp || a[1] - b[1])
    .map(([e]) => e);
}

/** A rule of the Chrome Trace Event format that a trace breaks. */
export interface ChromeTraceProblem {
  /** Index in `traceEvents`. */
  readonly index: number;
  /** What is wrong. */
  readonly message: string;
}

const CHROME_PHASES = new Set([
  "B",
  "E",
  "X",
  "i",
  "I",
  "C",
  "b",
  "n",
  "e",
  "s",
  "t",
  "f",
  "P",
  "N",
  "O",
  "D",
  "M",
  "V",
  "v",
  "R",
  "c",
  "(",
  ")",
]);

/**
 * Checks a parsed Chrome Trace Event document against the format's rules:
 * known phases, `name`/`ph`/`ts`/`pid`/`tid` present, `B`/`E` balanced and
 * properly nested per thread, timestamps non-decreasing per thread, instant
 * scopes valid. Returns the problems (empty when it conforms).
 *
 * @example
 * ```ts
 * import { checkChromeTrace } from "./trace.ts";
 * const doc = { traceEvents: [{ name: "a", ph: "E", ts: 1, pid: 1, tid: 1 }] };
 * console.log(checkChromeTrace(doc)[0].message); // "'E' without an open 'B' on thread 1/1"
 * ```
 */
export function checkChromeTrace(doc: unknown): ChromeTraceProblem[] {
  const problems: ChromeTraceProblem[] = [];
  const list = Array.isArray(doc) ? doc : (doc as { traceEvents?: unknown })?.traceEvents;
  if (!Array.isArray(list)) return [{ index: -1, message: "no traceEvents array" }];
  const stacks = new Map<string, { name: string; index: number }[]>();
  const last = new Map<string, number>();
  list.forEach((raw, index) => {
    const add = (message: string) => problems.push({ index, message });
    if (!raw || typeof raw !== "object") return add("not an object");
    const ev = raw as Record<string, unknown>;
    const ph = ev.ph;
    if (typeof ph !== "string" || !CHROME_PHASES.has(ph)) {
      return add(`unknown phase ${JSON.stringify(ph)}`);
    }
    if (typeof ev.name !== "string") add("no string 'name'");
    if (typeof ev.pid !== "number" || typeof ev.tid !== "number") add("no numeric pid/tid");
    if (ph === "M") return;
    if (typeof ev.ts !== "number" || !Number.isFinite(ev.ts)) return add("no numeric 'ts'");
    if (ev.args !== undefined && (typeof ev.args !== "object" || ev.args === null)) {
      add("'args' is not an object");
    }
    const thread = `${ev.pid}/${ev.tid}`;
    const prev = last.get(thread);
    if (prev !== undefined && ev.ts < prev) {
      add(`timestamp ${ev.ts} goes back from ${prev} on thread ${thread}`);
    }
    last.set(thread, ev.ts);
    const stack = stacks.get(thread) ?? [];
    stacks.set(thread, stack);
    if (ph === "B") stack.push({ name: String(ev.name), index });
    else if (ph === "E") {
      const top = stack.pop();
      if (!top) add(`'E' without an open 'B' on thread ${thread}`);
      else if (typeof ev.name === "string" && ev.name !== top.name) {
        add(`'E' ${ev.name} closes 'B' ${top.name} (index ${top.index}): not nested`);
      }
    } else if (ph === "i" || ph === "I") {
      if (ev.s !== undefined && !["g", "p", "t"].includes(ev.s as string)) {
        add(`instant scope ${JSON.stringify(ev.s)} is not g, p or t`);
      }
    }
  });
  for (const [thread, stack] of stacks) {
    for (const open of stack) {
      problems.push({
        index: open.index,
        message: `'B' ${open.name} never ended on thread ${thread}`,
      });
    }
  }
  return problems;
}

interface CtfEventDecl {
  id: number;
  name: string;
  fields: TraceField[];
}

/**
 * Parses the TSDL metadata ringdump writes (and CTF metadata of the same
 * layout): the trace UUID and every event's id, name and fields.
 */
function parseCtfMetadata(text: string, path: string): { uuid?: string; events: CtfEventDecl[] } {
  const fail = (why: string) => new TraceFormatError(`${path}: ${why}`, { path, format: "ctf" });
  if (!text.startsWith("/* CTF 1.8")) {
    if (text.length >= 4 && text.charCodeAt(0) === 0x57 && text.charCodeAt(3) === 0x75) {
      throw fail("packetized metadata is not supported; read this trace with babeltrace2");
    }
    throw fail("not CTF 1.8 metadata (it does not start with '/* CTF 1.8 */')");
  }
  if (!/tracer_name\s*=\s*"ringdump"/.test(text)) {
    throw fail('not a ringdump CTF trace (env.tracer_name is not "ringdump"); use babeltrace2');
  }
  if (!/\n};\s*$/.test(text)) throw fail("the metadata is truncated");
  const uuid = /trace\s*\{[^}]*?uuid\s*=\s*"([0-9a-f-]{36})"/.exec(text)?.[1];
  const events: CtfEventDecl[] = [];
  const re = /event\s*\{([\s\S]*?)\n\};/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[1];
    const name = /name\s*=\s*"([^"]+)"/.exec(body)?.[1];
    const id = /\bid\s*=\s*(\d+)\s*;/.exec(body)?.[1];
    const struct = /fields\s*:=\s*struct\s*\{([\s\S]*?)\}\s*;/.exec(body)?.[1];
    if (name === undefined || id === undefined || struct === undefined) {
      throw fail(`an event declaration without name, id or fields: ${body.trim().slice(0, 80)}`);
    }
    const fields: TraceField[] = [];
    for (const line of struct.split(";").map((l) => l.trim()).filter((l) => l)) {
      const f = /^(uint64_t|int64_t|string)\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(line);
      if (!f) throw fail(`event ${name}: unsupported field declaration '${line}'`);
      fields.push({
        name: f[2],
        type: f[1] === "uint64_t" ? "u64" : f[1] === "int64_t" ? "i64" : "string",
      });
    }
    events.push({ id: Number(id), name, fields });
  }
  if (events.length === 0) throw fail("the metadata declares no events");
  return { uuid, events };
}

function getU64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * 0x1_0000_0000;
}

/**
 * Parses a CTF stream of ringdump's layout, given the TSDL metadata. Throws a
 * {@linkcode TraceFormatError} for a truncated or corrupt stream.
 *
 * @example
 * ```ts
 * import { CtfTraceWriter, parseCtf, sinkTrace, startTracing, tracing } from "./trace.ts";
 * const dir = await Deno.makeTempDir();
 * const session = startTracing(await CtfTraceWriter.open(dir));
 * if (tracing.enabled) sinkTrace.flushBegin("memory");
 * session.stop();
 * const events = parseCtf(
 *   await Deno.readTextFile(`${dir}/metadata`),
 *   await Deno.readFile(`${dir}/stream_0`),
 * );
 * console.log(events[0].name); // "sink_flush_begin"
 * ```
 */
export function parseCtf(
  metadata: string,
  stream: Uint8Array,
  options: { path?: string } = {},
): TraceEvent[] {
  const path = options.path ?? "<ctf>";
  const meta = parseCtfMetadata(metadata, path);
  const decls = new Map(meta.events.map((e) => [e.id, e]));
  const uuid = meta.uuid ? uuidBytes(meta.uuid) : undefined;
  const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out: TraceEvent[] = [];
  const fail = (why: string, offset: number) =>
    new TraceFormatError(`${path}: ${why} (stream offset ${offset})`, {
      path,
      format: "ctf",
      offset,
    });
  let pos = 0;
  let packet = 0;
  while (pos < stream.length) {
    const start = pos;
    if (stream.length - pos < CTF_HEADER_BYTES + CTF_CONTEXT_BYTES) {
      throw fail(
        `the stream is truncated: packet ${packet} has ${stream.length - pos} bytes, ` +
          `less than its header`,
        pos,
      );
    }
    if (v.getUint32(pos, true) !== CTF_MAGIC) throw fail(`packet ${packet}: bad magic`, pos);
    if (uuid && !uuid.every((b, i) => stream[pos + 4 + i] === b)) {
      throw fail(`packet ${packet}: its UUID is not the metadata's`, pos);
    }
    pos += CTF_HEADER_BYTES;
    const contentBits = getU64(v, pos + 16);
    const packetBits = getU64(v, pos + 24);
    pos += CTF_CONTEXT_BYTES;
    if (
      contentBits % 8 !== 0 || packetBits % 8 !== 0 || contentBits > packetBits ||
      contentBits / 8 < CTF_HEADER_BYTES + CTF_CONTEXT_BYTES
    ) {
      throw fail(
        `packet ${packet}: bad sizes (content ${contentBits}, packet ${packetBits} bits)`,
        start,
      );
    }
    const packetEnd = start + packetBits / 8;
    const contentEnd = start + contentBits / 8;
    if (packetEnd > stream.length) {
      throw fail(
        `the stream is truncated: packet ${packet} declares ${packetBits / 8} bytes but only ` +
          `${stream.length - start} remain`,
        start,
      );
    }
    while (pos < contentEnd) {
      if (contentEnd - pos < 10) throw fail(`packet ${packet}: an event header is cut`, pos);
      const id = v.getUint16(pos, true);
      const decl = decls.get(id);
      if (!decl) throw fail(`packet ${packet}: unknown event id ${id}`, pos);
      const timestamp = getU64(v, pos + 2);
      pos += 10;
      const fields: Record<string, TraceValue> = {};
      for (const f of decl.fields) {
        if (f.type === "string") {
          const nul = stream.indexOf(0, pos);
          if (nul < 0 || nul >= contentEnd) {
            throw fail(`packet ${packet}: event ${decl.name}: string ${f.name} is cut`, pos);
          }
          try {
            fields[f.name] = decoder.decode(stream.subarray(pos, nul));
          } catch {
            throw fail(`packet ${packet}: event ${decl.name}: ${f.name} is not UTF-8`, pos);
          }
          pos = nul + 1;
        } else {
          if (contentEnd - pos < 8) {
            throw fail(`packet ${packet}: event ${decl.name}: field ${f.name} is cut`, pos);
          }
          fields[f.name] = f.type === "u64" ? getU64(v, pos) : Number(v.getBigInt64(pos, true));
          pos += 8;
        }
      }
      out.push({ name: decl.name, timestamp, fields });
    }
    pos = packetEnd;
    packet++;
  }
  return out;
}

async function readCtf(dir: string): Promise<TraceEvent[]> {
  let metadata: string;
  try {
    metadata = await Deno.readTextFile(`${dir}/metadata`);
  } catch (e) {
    throw new TraceFormatError(
      e instanceof Deno.errors.NotFound
        ? `${dir}: not a CTF trace directory (no 'metadata' file)`
        : `${dir}/metadata: cannot read: ${(e as Error).message}`,
      { path: dir, format: "ctf", cause: e },
    );
  }
  const streams: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name !== "metadata" && !entry.name.startsWith(".")) {
        streams.push(entry.name);
      }
    }
  } catch (e) {
    throw new TraceFormatError(`${dir}: cannot list: ${(e as Error).message}`, {
      path: dir,
      format: "ctf",
      cause: e,
    });
  }
  if (streams.length === 0) {
    throw new TraceFormatError(`${dir}: the CTF trace has no stream file`, {
      path: dir,
      format: "ctf",
    });
  }
  const all: TraceEvent[] = [];
  for (const name of streams.sort()) {
    const data = await Deno.readFile(`${dir}/${name}`);
    for (const e of parseCtf(metadata, data, { path: `${dir}/${name}` })) all.push(e);
  }
  if (streams.length > 1) all.sort((a, b) => a.timestamp - b.timestamp);
  return all;
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/** Latency statistics of one `backend_name:function_name`, in ns. */
export interface CallStats {
  /** `backend_name:function_name`. */
  readonly key: string;
  /** The backend's name. */
  readonly backend: string;
  /** The function's name. */
  readonly function: string;
  /** Matched begin/end pairs. */
  readonly count: number;
  /** Shortest duration. */
  readonly min: number;
  /** Longest duration. */
  readonly max: number;
  /** Mean, rounded to the ns (half up). */
  readonly mean: number;
  /** Population standard deviation, rounded to the ns (half up). */
  readonly stddev: number;
  /** Median (nearest rank). */
  readonly p50: number;
  /** 99th percentile (nearest rank). */
  readonly p99: number;
  /** Sum of the durations. */
  readonly total: number;
}

/** A begin or end that has no partner. */
export interface UnmatchedCall {
  /** `backend_name:function_name`. */
  readonly key: string;
  /** Timestamp of the event, ns. */
  readonly timestamp: number;
}

/** What {@linkcode traceStats} returns. */
export interface TraceStats {
  /** One entry per key, sorted by key. */
  readonly calls: CallStats[];
  /** `backend_call_end` events with no open begin of their key. */
  readonly unmatchedEnds: UnmatchedCall[];
  /** `backend_call_begin` events never ended (e.g. a trace cut by a crash). */
  readonly unmatchedBegins: UnmatchedCall[];
}

/** Nearest-rank percentile of sorted integers. */
function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  const rank = Math.floor((p * n + 99) / 100); // ceil(p * n / 100), exactly
  return sorted[Math.max(0, rank - 1)];
}

/**
 * Statistics of the backend call durations, per `backend_name:function_name`:
 * count, min, max, mean, stddev, p50, p99 in ns. Begin/end pairs are matched
 * with a stack per key (as libcamera's analyze-ipa-trace.py does), so nested
 * and interleaved calls pair correctly; an end without a begin is reported in
 * `unmatchedEnds`, not thrown.
 *
 * Exactly: durations are integer ns; `mean` is `sum / count` rounded half up;
 * `stddev` is `sqrt(Σ (d - sum/count)² / count)` accumulated in end-event
 * order, rounded half up; p50/p99 are the nearest rank `ceil(p·n/100)`.
 *
 * @example
 * ```ts
 * import { traceStats } from "./trace.ts";
 * const f = { backend_name: "sim", function_name: "read" };
 * const stats = traceStats([
 *   { name: "backend_call_begin", timestamp: 100, fields: f },
 *   { name: "backend_call_end", timestamp: 350, fields: f },
 * ]);
 * console.log(stats.calls[0].key, stats.calls[0].mean); // "sim:read" 250
 * ```
 */
export function traceStats(
  events: readonly TraceEvent[],
  options: { backend?: string } = {},
): TraceStats {
  const stacks = new Map<string, number[]>();
  const durations = new Map<string, number[]>();
  const names = new Map<string, [string, string]>();
  const unmatchedEnds: UnmatchedCall[] = [];
  for (const e of events) {
    const begin = e.name === "backend_call_begin";
    if (!begin && e.name !== "backend_call_end") continue;
    const b = String(e.fields.backend_name ?? "");
    const f = String(e.fields.function_name ?? "");
    if (
      options.backend !== undefined && b !== options.backend &&
      !b.startsWith(`${options.backend}+`)
    ) continue;
    const key = `${b}:${f}`;
    names.set(key, [b, f]);
    let stack = stacks.get(key);
    if (!stack) stacks.set(key, stack = []);
    if (begin) stack.push(e.timestamp);
    else {
      const t0 = stack.pop();
      if (t0 === undefined) unmatchedEnds.push({ key, timestamp: e.timestamp });
      else {
        let d = durations.get(key);
        if (!d) durations.set(key, d = []);
        d.push(e.timestamp - t0);
      }
    }
  }
  const unmatchedBegins: UnmatchedCall[] = [];
  for (const [key, stack] of stacks) {
    for (const timestamp of stack) unmatchedBegins.push({ key, timestamp });
  }
  const calls: CallStats[] = [];
  for (const key of [...durations.keys()].sort()) {
    const d = durations.get(key)!;
    const n = d.length;
    let sum = 0;
    for (const x of d) sum += x;
    const meanF = sum / n;
    let acc = 0;
    for (const x of d) {
      const dx = x - meanF;
      acc += dx * dx;
    }
    const sorted = [...d].sort((a, b) => a - b);
    const [backend, fn] = names.get(key)!;
    calls.push({
      key,
      backend,
      function: fn,
      count: n,
      min: sorted[0],
      max: sorted[n - 1],
      mean: Math.floor((2 * sum + n) / (2 * n)),
      stddev: Math.floor(Math.sqrt(acc / n) + 0.5),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      total: sum,
    });
  }
  unmatchedBegins.sort((a, b) => a.timestamp - b.timestamp);
  return { calls, unmatchedEnds, unmatchedBegins };
}

/**
 * Formats {@linkcode TraceStats} as one aligned table (ns), with a line per
 * unmatched event kind after it.
 *
 * @example
 * ```ts
 * import { formatTraceStats, traceStats } from "./trace.ts";
 * console.log(formatTraceStats(traceStats([])).split("\n")[0].trim().startsWith("key")); // true
 * ```
 */
export function formatTraceStats(stats: TraceStats): string {
  const head = ["key", "count", "min ns", "max ns", "mean ns", "stddev ns", "p50 ns", "p99 ns"];
  const rows = stats.calls.map((c) => [
    c.key,
    ...[c.count, c.min, c.max, c.mean, c.stddev, c.p50, c.p99].map(String),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ")
      .trimEnd();
  const lines = [line(head), ...rows.map(line)];
  if (rows.length === 0) lines.push("(no backend calls in the trace)");
  const summarize = (what: string, list: readonly UnmatchedCall[]) => {
    if (list.length === 0) return;
    const byKey = new Map<string, number>();
    for (const u of list) byKey.set(u.key, (byKey.get(u.key) ?? 0) + 1);
    lines.push(
      `${what}: ${list.length} (${[...byKey].map(([k, n]) => `${k} ×${n}`).join(", ")}); ` +
        `first at ${list[0].timestamp} ns`,
    );
  };
  summarize("ends without a begin", stats.unmatchedEnds);
  summarize("begins without an end", stats.unmatchedBegins);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------
// HTML report
// ---------------------------------------------------------------------------

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function fmtNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns} ns`;
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** "Nice" axis maximum at or above `x`. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const W = 900, H = 240, L = 70, R = 20, T = 20, B = 40;

function axes(xLabel: string, yLabel: string, xMax: string, yMax: string): string {
  return `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/>` +
    `<line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>` +
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${
      (T + H - B) / 2
    })" text-anchor="middle">${esc(yLabel)}</text>` +
    `<text x="${L - 4}" y="${T + 4}" text-anchor="end">${esc(yMax)}</text>` +
    `<text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>` +
    `<text x="${W - R}" y="${H - B + 14}" text-anchor="end">${esc(xMax)}</text>`;
}

/**
 * A self-contained HTML report of a trace (inline SVG and CSS, no script, no
 * network): the period timeline (bytes per period, one point per
 * `dumper_period_end`; headroom per period against the ring size) and a
 * latency histogram per backend call with its statistics.
 *
 * @example
 * ```ts
 * import { traceReport } from "./trace.ts";
 * const html = traceReport([], { title: "empty" });
 * console.log(html.startsWith("<!DOCTYPE html>")); // true
 * ```
 */
export function traceReport(
  events: readonly TraceEvent[],
  options: { title?: string; source?: string } = {},
): string {
  const title = options.title ?? "ringdump trace report";
  const periods = events.filter((e) => e.name === "dumper_period_end");
  const capture = events.find((e) => e.name === "dumper_capture_begin");
  const t0 = events.length ? events[0].timestamp : 0;
  const tEnd = events.length ? events[events.length - 1].timestamp : 0;
  const span = Math.max(1, tEnd - t0);
  const num = (e: TraceEvent, k: string) => Number(e.fields[k] ?? 0);
  const ringPages = capture
    ? num(capture, "ring_pages")
    : periods.length
    ? num(periods[0], "ring_pages")
    : 0;
  const pageSize = capture ? num(capture, "page_size") : 0;
  const xOf = (t: number) => L + ((t - t0) / span) * (W - L - R);
  const parts: string[] = [];

  // Bytes per period.
  const maxBytes = niceMax(Math.max(0, ...periods.map((p) => num(p, "bytes"))));
  const yBytes = (b: number) => H - B - (b / maxBytes) * (H - B - T);
  let svg = `<svg class="timeline" id="bytes" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="bytes per period">` +
    axes(
      "time since the trace started (s)",
      "bytes per period",
      (span / 1e9).toFixed(3) + " s",
      fmtBytes(maxBytes),
    );
  svg += `<polyline class="line" points="${
    periods.map((p) => `${xOf(p.timestamp).toFixed(1)},${yBytes(num(p, "bytes")).toFixed(1)}`)
      .join(" ")
  }"/>`;
  for (const p of periods) {
    svg += `<circle class="period" cx="${xOf(p.timestamp).toFixed(1)}" cy="${
      yBytes(num(p, "bytes")).toFixed(1)
    }" r="2.5"><title>period ${num(p, "period")}: ${num(p, "bytes")} bytes, ${
      num(p, "pages")
    } pages, ${num(p, "reads")} reads, ${num(p, "lost_pages")} lost</title></circle>`;
  }
  svg += "</svg>";
  parts.push(`<h2>Period timeline</h2><p>${periods.length} periods.</p>`, svg);

  // Headroom per period against the ring.
  const maxHead = Math.max(1.1, ...periods.map((p) => num(p, "headroom_ppm") / 1e6)) * 1.05;
  const yHead = (h: number) => H - B - (h / maxHead) * (H - B - T);
  let hsvg =
    `<svg class="timeline" id="headroom" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="headroom per period">` +
    axes(
      "time since the trace started (s)",
      "headroom (share of the ring)",
      (span / 1e9).toFixed(3) + " s",
      `${(maxHead * 100).toFixed(0)}%`,
    );
  hsvg +=
    `<line class="ring" x1="${L}" y1="${yHead(1).toFixed(1)}" x2="${W - R}" y2="${
      yHead(1).toFixed(1)
    }"/><text class="ring" x="${W - R - 4}" y="${(yHead(1) - 4).toFixed(1)}" text-anchor="end">` +
    `ring size${
      ringPages
        ? ` (${ringPages} pages${pageSize ? `, ${fmtBytes(ringPages * pageSize)}` : ""})`
        : ""
    }: data is lost above this line</text>`;
  for (const p of periods) {
    const h = num(p, "headroom_ppm") / 1e6;
    hsvg += `<circle class="headroom${h >= 1 ? " over" : ""}" cx="${
      xOf(p.timestamp).toFixed(1)
    }" cy="${yHead(h).toFixed(1)}" r="2.5"><title>period ${num(p, "period")}: headroom ${
      (h * 100).toFixed(1)
    }% of the ring (${num(p, "new_pages")} new pages)</title></circle>`;
  }
  hsvg += "</svg>";
  parts.push(`<h2>Headroom per period</h2>`, hsvg);

  // Latency histograms.
  const stats = traceStats(events);
  parts.push("<h2>Backend call latency</h2>");
  if (stats.calls.length === 0) parts.push("<p>No backend calls in the trace.</p>");
  else {
    parts.push(
      `<table><tr>${
        ["call", "count", "min", "max", "mean", "stddev", "p50", "p99"].map((h) => `<th>${h}</th>`)
          .join("")
      }</tr>${
        stats.calls.map((c) =>
          `<tr><td>${esc(c.key)}</td><td>${c.count}</td>${
            [c.min, c.max, c.mean, c.stddev, c.p50, c.p99].map((x) => `<td>${fmtNs(x)}</td>`).join(
              "",
            )
          }</tr>`
        ).join("")
      }</table>`,
    );
  }
  const durations = new Map<string, number[]>();
  {
    const stacks = new Map<string, number[]>();
    for (const e of events) {
      if (e.name !== "backend_call_begin" && e.name !== "backend_call_end") continue;
      const key = `${e.fields.backend_name}:${e.fields.function_name}`;
      let s = stacks.get(key);
      if (!s) stacks.set(key, s = []);
      if (e.name === "backend_call_begin") s.push(e.timestamp);
      else {
        const b = s.pop();
        if (b === undefined) continue;
        let d = durations.get(key);
        if (!d) durations.set(key, d = []);
        d.push(e.timestamp - b);
      }
    }
  }
  for (const c of stats.calls) {
    const d = durations.get(c.key)!;
    const bins = 40;
    const lo = c.min, hi = Math.max(c.max, c.min + 1);
    const counts = new Array<number>(bins).fill(0);
    for (const x of d) counts[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]++;
    const maxCount = Math.max(...counts);
    const bw = (W - L - R) / bins;
    let h = `<svg class="histogram" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
      `role="img" aria-label="latency of ${esc(c.key)}">` +
      axes(`duration (${fmtNs(lo)} .. ${fmtNs(hi)})`, "calls", fmtNs(hi), String(maxCount));
    counts.forEach((n, i) => {
      if (n === 0) return;
      const bh = (n / maxCount) * (H - B - T);
      const from = lo + ((hi - lo) * i) / bins, to = lo + ((hi - lo) * (i + 1)) / bins;
      h += `<rect class="bin" x="${(L + i * bw + 1).toFixed(1)}" y="${(H - B - bh).toFixed(1)}" ` +
        `width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}"><title>${
          fmtNs(Math.round(from))
        }` +
        ` .. ${fmtNs(Math.round(to))}: ${n} calls</title></rect>`;
    });
    h += "</svg>";
    parts.push(`<h3>${esc(c.key)}</h3>`, h);
  }
  if (stats.unmatchedEnds.length || stats.unmatchedBegins.length) {
    parts.push(
      `<p class="warn">${stats.unmatchedEnds.length} ends without a begin, ${stats.unmatchedBegins.length} begins without an end.</p>`,
    );
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
svg{display:block;margin:0.5em 0 1.5em;background:#fafafa;border:1px solid #ddd}
svg text{font-size:11px;fill:#444}
.axis{stroke:#888}
.line{fill:none;stroke:#7aa6d8;stroke-width:1}
circle.period{fill:#1f5fa8}
circle.headroom{fill:#2a9d4b}
circle.headroom.over{fill:#c0392b}
line.ring{stroke:#c0392b;stroke-dasharray:6 4}
text.ring{fill:#c0392b}
rect.bin{fill:#8e6cc1}
table{border-collapse:collapse}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}
.warn{color:#c0392b}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(options.source ?? "")} ${events.length} events over ${fmtNs(span)}.</p>
${parts.join("\n")}
</body></html>
`;
}
