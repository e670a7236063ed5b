/**
 * The tracepoint tables, like libcamera's `.tp` files: per category a
 * `{category}_{event}` name and typed fields. They are the single source of
 * the emitters (their types too), the CTF metadata, the JSON writer and the
 * readers.
 *
 * @module
 */

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

/** A field as declared in a table: `[name, type]`. */
export type TraceFieldDecl = readonly [name: string, type: TraceFieldType];

/** A category's events as declared: event name to its fields, in order. */
export type TracepointDecls = Readonly<Record<string, readonly TraceFieldDecl[]>>;

/**
 * A table built by {@linkcode defineTracepoints}: the {@linkcode TracepointTable}
 * plus the declaration it came from, whose literal type the emitter types are
 * derived from.
 */
export interface DeclaredTracepointTable<D extends TracepointDecls> extends TracepointTable {
  /** The declaration, fields as `[name, type]` in order. */
  readonly declared: D;
}

/**
 * Declares one category's tracepoints: event name to its `[field, type]`
 * list. The result's `events` map each event to `{ field: type }` in order;
 * its type keeps the declaration so the emitters' argument lists are derived
 * from it (see `TracepointEmitters`).
 *
 * @example
 * ```ts
 * import { defineTracepoints } from "./mod.ts";
 * const t = defineTracepoints("demo", { tick_begin: [["n", "u64"]] });
 * console.log(t.events.tick_begin); // { n: "u64" }
 * ```
 */
export function defineTracepoints<const D extends TracepointDecls>(
  category: string,
  declared: D,
): DeclaredTracepointTable<D> {
  const events: Record<string, TraceFieldSpec> = {};
  for (const [event, fields] of Object.entries(declared)) {
    events[event] = Object.freeze(Object.fromEntries(fields));
  }
  return Object.freeze({ category, events: Object.freeze(events), declared });
}

/**
 * The dumper events as declared, `[field, type]` in order: the literal type the
 * emitters' argument lists are derived from.
 *
 * @example
 * ```ts
 * import { DUMPER_EVENTS } from "./mod.ts";
 * console.log(Object.keys(DUMPER_EVENTS).length > 0); // true
 * ```
 */
export const DUMPER_EVENTS = {
  capture_begin: [
    ["ring_pages", "u64"],
    ["page_size", "u64"],
    ["counter_wrap", "u64"],
    ["period_ns", "u64"],
    ["first_page", "u64"],
  ],
  capture_end: [["bytes", "u64"], ["pages", "u64"], ["periods", "u64"], ["lost_pages", "u64"]],
  period_begin: [["period", "u64"]],
  period_end: [
    ["period", "u64"],
    ["counter", "u64"],
    ["new_pages", "u64"],
    ["pages", "u64"],
    ["bytes", "u64"],
    ["reads", "u64"],
    ["counter_reads", "u64"],
    ["lost_pages", "u64"],
    ["headroom_ppm", "u64"],
    ["ring_pages", "u64"],
  ],
} as const satisfies TracepointDecls;

/**
 * The dumper's tracepoints: a capture's start and end, and every period
 * (begin, and end with its counts, headroom and reads).
 *
 * - `capture_begin`: the capture's geometry, period and baseline page;
 * - `capture_end`: totals;
 * - `period_begin`: period number (1-based);
 * - `period_end`: the period's number, the logical counter at its last read,
 *   pages the writer advanced since the previous period, pages and bytes
 *   appended, backend reads, counter reads, pages lost, the period's headroom
 *   in parts per million of the ring, and the ring's page count.
 *
 * @example
 * ```ts
 * import { DUMPER_TRACEPOINTS } from "./mod.ts";
 * console.log(Object.keys(DUMPER_TRACEPOINTS.events.period_end).includes("headroom_ppm")); // true
 * ```
 */
export const DUMPER_TRACEPOINTS: DeclaredTracepointTable<typeof DUMPER_EVENTS> = defineTracepoints(
  "dumper",
  DUMPER_EVENTS,
);

/**
 * The backend events as declared, `[field, type]` in order: the literal type the
 * emitters' argument lists are derived from.
 *
 * @example
 * ```ts
 * import { BACKEND_EVENTS } from "./mod.ts";
 * console.log(Object.keys(BACKEND_EVENTS).length > 0); // true
 * ```
 */
export const BACKEND_EVENTS = {
  call_begin: [["backend_name", "string"], ["function_name", "string"]],
  call_end: [["backend_name", "string"], ["function_name", "string"]],
} as const satisfies TracepointDecls;

/**
 * The backend call tracepoints, the analogue of libcamera's IPA call
 * tracepoints: a begin/end pair around every backend call.
 *
 * @example
 * ```ts
 * import { BACKEND_TRACEPOINTS } from "./mod.ts";
 * console.log(Object.keys(BACKEND_TRACEPOINTS.events)); // ["call_begin", "call_end"]
 * ```
 */
export const BACKEND_TRACEPOINTS: DeclaredTracepointTable<typeof BACKEND_EVENTS> =
  defineTracepoints(
    "backend",
    BACKEND_EVENTS,
  );

/**
 * The sink events as declared, `[field, type]` in order: the literal type the
 * emitters' argument lists are derived from.
 *
 * @example
 * ```ts
 * import { SINK_EVENTS } from "./mod.ts";
 * console.log(Object.keys(SINK_EVENTS).length > 0); // true
 * ```
 */
export const SINK_EVENTS = {
  write_begin: [["sink_name", "string"], ["bytes", "u64"]],
  write_end: [["sink_name", "string"], ["bytes", "u64"]],
  flush_begin: [["sink_name", "string"]],
  flush_end: [["sink_name", "string"]],
} as const satisfies TracepointDecls;

/**
 * The sink tracepoints: every write and flush, as begin/end pairs (the
 * writes with the byte count).
 *
 * @example
 * ```ts
 * import { SINK_TRACEPOINTS } from "./mod.ts";
 * console.log(SINK_TRACEPOINTS.events.write_begin); // { sink_name: "string", bytes: "u64" }
 * ```
 */
export const SINK_TRACEPOINTS: DeclaredTracepointTable<typeof SINK_EVENTS> = defineTracepoints(
  "sink",
  SINK_EVENTS,
);

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

/** The most fields a tracepoint may have (the emitters' arity). */
export const MAX_FIELDS = 10;

/**
 * Every tracepoint, in id order: the dumper's, the backend's, the sink's.
 *
 * @example
 * ```ts
 * import { TRACEPOINTS } from "./mod.ts";
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
 * import { tracepoint } from "./mod.ts";
 * console.log(tracepoint("sink_write_end")?.phase); // "end"
 * ```
 */
export function tracepoint(name: string): Tracepoint | undefined {
  return BY_NAME.get(name);
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
/**
 * An integer field's value as written: rounded, and clamped at 0 for `u64`
 * (a tracer never throws at a call site).
 *
 * @example
 * ```ts
 * import { intValue } from "./tracepoints.ts";
 * console.log(intValue(-3, "u64"), intValue(2.6, "i64")); // 0 3
 * ```
 */
export function intValue(v: number, type: TraceFieldType): number {
  // A tracer never throws at a call site: out-of-type values are fixed here.
  const x = Number.isFinite(v) ? Math.round(v) : 0;
  return type === "u64" && x < 0 ? 0 : x;
}
