/**
 * The tracer: the global switch, the event buffer (a preallocated
 * `Float64Array` flushed to the writers whenever it fills), the emitters and
 * the session that owns them.
 *
 * Off by default and free when off: call sites read
 * `if (tracing.enabled) dumperTrace.periodBegin(n)`, one branch, nothing
 * evaluated or allocated when tracing is off.
 *
 * @module
 */
import { libc } from "../../backends/libc_util.ts";
import { errorMessage, RingdumpError, UsageError } from "../errors.ts";
import { TraceChunk } from "./chunk.ts";
import {
  BACKEND_TRACEPOINTS,
  type DeclaredTracepointTable,
  DUMPER_TRACEPOINTS,
  MAX_FIELDS,
  SINK_TRACEPOINTS,
  type TraceFieldDecl,
  tracepoint,
  type TracepointDecls,
  type TraceValue,
} from "./tracepoints.ts";

/** Whether tracing is on: read it before every tracepoint call. */
export interface TracingState {
  /** True while a {@linkcode TraceSession} runs. */
  readonly enabled: boolean;
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
  /** Events in the buffer. */
  count: number;
  strings: Map<string, number>;
  stringList: string[];
  /** Bumped whenever the string table is cleared (the emitters' caches check it). */
  stringsGen: number;
  lastTs: number;
  now: () => number;
  session: TraceSession | undefined;
}

const state: State = {
  enabled: false,
  buf: new Float64Array(0),
  pos: 0,
  count: 0,
  strings: new Map(),
  stringList: [],
  stringsGen: 0,
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
 * import { tracing } from "./mod.ts";
 * console.log(tracing.enabled); // false
 * ```
 */
export const tracing: TracingState = state;

/**
 * The default trace clock: `performance.now()`'s clock in whole nanoseconds.
 * Monotonic. With FFI allowed it reads that clock itself (Linux
 * `CLOCK_MONOTONIC`, of which `performance.now()` is the time since the
 * time origin) through `clock_gettime`, at half the cost, less the time
 * origin as measured against `performance.now()` on the first call (to
 * well under a microsecond, once); else `Math.round(performance.now() * 1e6)`.
 *
 * @example
 * ```ts
 * import { monotonicNs } from "./mod.ts";
 * const a = monotonicNs();
 * console.log(monotonicNs() >= a); // true
 * console.log(Math.abs(monotonicNs() - performance.now() * 1e6) < 1e6); // true
 * ```
 */
export function monotonicNs(): number {
  return clockNs();
}

function performanceNs(): number {
  return Math.round(performance.now() * 1e6);
}

let clockNs: () => number = () => (clockNs = monotonicClock())();

/** `CLOCK_MONOTONIC` less the time origin via FFI, or {@linkcode performanceNs}. */
function monotonicClock(): () => number {
  const ffi = Deno.build.os === "linux" &&
    Deno.permissions.querySync?.({ name: "ffi" }).state === "granted";
  if (!ffi) return performanceNs;
  let clockGettime: ReturnType<typeof libc>["clock_gettime"];
  try {
    clockGettime = libc().clock_gettime;
  } catch {
    return performanceNs;
  }
  const CLOCK_MONOTONIC = 1;
  // struct timespec: 64-bit seconds, 64-bit nanoseconds (little-endian, < 2^32 each here).
  const ts = new Uint32Array(4);
  const raw = (): number => {
    clockGettime(CLOCK_MONOTONIC, ts);
    return (ts[0] + ts[1] * 4294967296) * 1e9 + ts[2];
  };
  if (raw() < 0 || ts[3] !== 0 || ts[2] >= 1e9) return performanceNs;
  // The origin: performance.now() between two raw readings, the tightest pair of a few.
  let origin = 0, best = Infinity;
  for (let i = 0; i < 16; i++) {
    const a = raw(), p = performance.now() * 1e6, b = raw();
    if (b - a < best) {
      best = b - a;
      origin = (a + b) / 2 - p;
    }
  }
  if (!(best < 100_000)) return performanceNs;
  return () => {
    clockGettime(CLOCK_MONOTONIC, ts);
    return Math.round((ts[0] + ts[1] * 4294967296) * 1e9 + ts[2] - origin);
  };
}

/** Empties the buffer and its string table. */
function clearBuffer(): void {
  state.pos = 0;
  state.count = 0;
  state.strings.clear();
  state.stringList.length = 0;
  state.stringsGen++;
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
  state.count++;
  return p;
}

function stamp(): number {
  let t = Math.round(state.now());
  if (t < state.lastTs) t = state.lastTs;
  state.lastTs = t;
  return t;
}

/**
 * An emitter's string ids: per field the last two strings it interned and
 * their ids in the current buffer, so a call site passing the same few
 * names (a backend's name, "read" and "readRegister") skips the table's
 * lookup. Valid until the table is cleared (`stringsGen`).
 */
class StringCache {
  #gen = -1;
  readonly #strings: (string | undefined)[] = new Array(2 * MAX_FIELDS).fill(undefined);
  readonly #ids = new Float64Array(2 * MAX_FIELDS);

  id(field: number, s: TraceValue | undefined): number {
    if (typeof s !== "string") return intern(s);
    const strings = this.#strings, ids = this.#ids;
    if (this.#gen !== state.stringsGen) {
      strings.fill(undefined);
      this.#gen = state.stringsGen;
    }
    const i = 2 * field;
    if (strings[i] === s) return ids[i];
    if (strings[i + 1] === s) return ids[i + 1];
    const id = intern(s);
    strings[i + 1] = strings[i];
    ids[i + 1] = ids[i];
    strings[i] = s;
    ids[i] = id;
    return id;
  }
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
  const tp = tracepoint(name);
  if (!tp) throw new Error(`no tracepoint ${name}`);
  const id = tp.id;
  const n = tp.fields.length;
  const s0 = tp.fields[0]?.type === "string", s1 = tp.fields[1]?.type === "string";
  const s2 = tp.fields[2]?.type === "string", s3 = tp.fields[3]?.type === "string";
  const s4 = tp.fields[4]?.type === "string", s5 = tp.fields[5]?.type === "string";
  const s6 = tp.fields[6]?.type === "string", s7 = tp.fields[7]?.type === "string";
  const s8 = tp.fields[8]?.type === "string", s9 = tp.fields[9]?.type === "string";
  const c = new StringCache();
  return function (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9): void {
    if (!state.enabled) return;
    const p = reserve(n + 2);
    if (p < 0) return;
    const b = state.buf;
    b[p] = id;
    b[p + 1] = stamp();
    if (n > 0) b[p + 2] = s0 ? c.id(0, a0) : a0 as number;
    if (n > 1) b[p + 3] = s1 ? c.id(1, a1) : a1 as number;
    if (n > 2) b[p + 4] = s2 ? c.id(2, a2) : a2 as number;
    if (n > 3) b[p + 5] = s3 ? c.id(3, a3) : a3 as number;
    if (n > 4) b[p + 6] = s4 ? c.id(4, a4) : a4 as number;
    if (n > 5) b[p + 7] = s5 ? c.id(5, a5) : a5 as number;
    if (n > 6) b[p + 8] = s6 ? c.id(6, a6) : a6 as number;
    if (n > 7) b[p + 9] = s7 ? c.id(7, a7) : a7 as number;
    if (n > 8) b[p + 10] = s8 ? c.id(8, a8) : a8 as number;
    if (n > 9) b[p + 11] = s9 ? c.id(9, a9) : a9 as number;
  };
}

/** `snake_case` to `camelCase`, as a type: `period_begin` → `periodBegin`. */
export type CamelCase<S extends string> = S extends `${infer H}_${infer R}`
  ? `${H}${Capitalize<CamelCase<R>>}`
  : S;

/** The argument list of an emitter: one value per declared field, in order. */
export type TraceArgs<F extends readonly TraceFieldDecl[]> = {
  -readonly [K in keyof F]: F[K] extends readonly [string, "string"] ? string : number;
};

/**
 * The emitters of a declared table, derived from it: one per event, named in
 * camelCase, taking the event's fields in order (strings for `string`
 * fields, numbers for the integers).
 */
export type TracepointEmitters<D extends TracepointDecls> = {
  readonly [E in keyof D & string as CamelCase<E>]: (...args: TraceArgs<D[E]>) => void;
};

/** Emitters of the {@linkcode DUMPER_TRACEPOINTS}, derived from the table. */
export type DumperTracepoints = TracepointEmitters<typeof DUMPER_TRACEPOINTS.declared>;

/** Emitters of the {@linkcode BACKEND_TRACEPOINTS}, derived from the table. */
export type BackendTracepoints = TracepointEmitters<typeof BACKEND_TRACEPOINTS.declared>;

/** Emitters of the {@linkcode SINK_TRACEPOINTS}, derived from the table. */
export type SinkTracepoints = TracepointEmitters<typeof SINK_TRACEPOINTS.declared>;

function camel(event: string): string {
  return event.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The emitters of a table. `Emit` takes up to {@linkcode MAX_FIELDS} optional
 * values of either type, so it is a valid implementation of every derived
 * signature; the record is keyed exactly as `TracepointEmitters` maps the
 * events.
 */
function emitters<D extends TracepointDecls>(
  table: DeclaredTracepointTable<D>,
): TracepointEmitters<D> {
  const out: Record<string, Emit> = {};
  for (const event of Object.keys(table.declared)) {
    out[camel(event)] = emitter(`${table.category}_${event}`);
  }
  return Object.freeze(out) as TracepointEmitters<D>;
}

/**
 * The dumper's tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { dumperTrace, tracing } from "./mod.ts";
 * if (tracing.enabled) dumperTrace.periodBegin(1);
 * ```
 */
export const dumperTrace: DumperTracepoints = emitters(DUMPER_TRACEPOINTS);

/**
 * The backend call tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { backendTrace, tracing } from "./mod.ts";
 * if (tracing.enabled) backendTrace.callBegin("sim", "read");
 * ```
 */
export const backendTrace: BackendTracepoints = emitters(BACKEND_TRACEPOINTS);

/**
 * The sink tracepoints. Guard each call with `tracing.enabled`.
 *
 * @example
 * ```ts
 * import { sinkTrace, tracing } from "./mod.ts";
 * if (tracing.enabled) sinkTrace.flushBegin("raw file out.bin");
 * ```
 */
export const sinkTrace: SinkTracepoints = emitters(SINK_TRACEPOINTS);

function flushBuffer(): void {
  const session = state.session;
  if (!session || state.pos === 0) return;
  const chunk = new TraceChunk(state.buf.subarray(0, state.pos), state.stringList, state.count);
  try {
    session.deliver(chunk);
  } finally {
    clearBuffer();
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
 * import { MemoryTraceWriter, startTracing, tracing } from "./mod.ts";
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
      clearBuffer();
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
        `trace: writing ${where || "the trace"} failed: ${errorMessage(e)}; ` +
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
 * import { backendTrace, MemoryTraceWriter, startTracing, tracing } from "./mod.ts";
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
  clearBuffer();
  state.lastTs = 0;
  state.now = options.now ?? monotonicNs;
  if (!options.now) monotonicNs(); // sets the clock up (FFI, origin) before the first event
  state.session = session;
  state.enabled = true;
  return session;
}

/**
 * The running session, if any.
 *
 * @example
 * ```ts
 * import { currentTraceSession } from "./mod.ts";
 * console.log(currentTraceSession()); // undefined
 * ```
 */
export function currentTraceSession(): TraceSession | undefined {
  return state.session;
}
