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
 * Per tracepoint, the constant bytes of its JSON event before the timestamp
 * (`head` starts with the `,\n` that separates it from the previous event),
 * and the constant text of the rest by field: `mid` after the timestamp, then
 * a key before each value.
 */
const JSON_PARTS = TRACEPOINTS.map((tp) => {
  const ph = tp.phase === "begin" ? "B" : tp.phase === "end" ? "E" : "i";
  const keys = tp.fields.map((f, i) => `${i ? "," : ""}${JSON.stringify(f.name)}:`);
  const head = ENCODER.encode(
    `,\n{"name":${JSON.stringify(tp.span)},"cat":${JSON.stringify(tp.category)},"ph":"${ph}",` +
      `${ph === "i" ? `"s":"t",` : ""}"ts":`,
  );
  const mid = `,"pid":${JSON_PID},"tid":${JSON_TID},"args":{`;
  const strings = tp.fields.flatMap((f, i) => f.type === "string" ? [i] : []);
  return { tp, head, headFirst: head.subarray(2), mid, keys, strings, slots: 2 + tp.fields.length };
});

type JsonParts = typeof JSON_PARTS[number];

/** The longest head. */
const MAX_HEAD = Math.max(...JSON_PARTS.map((j) => j.head.length));

/**
 * An event's bytes after its timestamp, for given string values: constant
 * runs around its integer fields. `runs[k]` comes before integer field
 * `ints[k]` (a slot of the record); the last run closes the event.
 */
interface JsonPlan {
  readonly runs: readonly Uint8Array[];
  /** By the next event's tracepoint id: the last run joined with that event's head. */
  readonly joined: (Uint8Array | undefined)[];
  readonly ints: readonly number[];
  readonly types: readonly ("u64" | "i64")[];
  /** The most bytes the event takes: head, timestamp and numbers at 24 characters each, runs. */
  readonly need: number;
}

function jsonPlan(j: JsonParts, string: (slot: number) => string): JsonPlan {
  const runs: Uint8Array[] = [], ints: number[] = [], types: ("u64" | "i64")[] = [];
  let text = j.mid;
  j.tp.fields.forEach((f, i) => {
    text += j.keys[i];
    if (f.type === "string") text += JSON.stringify(string(i));
    else {
      runs.push(ENCODER.encode(text));
      ints.push(i);
      types.push(f.type);
      text = "";
    }
  });
  runs.push(ENCODER.encode(text + "}}"));
  const need = j.head.length + 24 * (1 + ints.length) + runs.reduce((s, r) => s + r.length, 0);
  return { runs, joined: [], ints, types, need };
}

/**
 * One tracepoint's plans in a chunk by their key (the string ids as the
 * digits of a number in base `strings.length`); the last two looked up are
 * checked first (a call site alternates a few names). Keys beyond 2^53 are
 * not exact: their plans are built every time.
 */
class PlanCache {
  #k0 = -1;
  #p0: JsonPlan | undefined;
  #k1 = -1;
  #p1: JsonPlan | undefined;
  readonly #byKey = new Map<number, JsonPlan>();

  get(key: number): JsonPlan | undefined {
    if (key === this.#k0) return this.#p0;
    if (key === this.#k1) return this.#p1;
    const plan = this.#byKey.get(key);
    if (plan !== undefined) this.#remember(key, plan);
    return plan;
  }

  set(key: number, plan: JsonPlan): void {
    if (!Number.isSafeInteger(key)) return;
    this.#byKey.set(key, plan);
    this.#remember(key, plan);
  }

  #remember(key: number, plan: JsonPlan): void {
    this.#k1 = this.#k0;
    this.#p1 = this.#p0;
    this.#k0 = key;
    this.#p0 = plan;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

/** Integer-only tracepoints' plans (no strings: the same for every chunk). */
const STATIC_PLANS = JSON_PARTS.map((j) =>
  j.strings.length === 0 ? jsonPlan(j, () => "") : undefined
);

/** Largest integer written digit by digit; beyond it (or not an integer) `String()` writes it. */
const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Copies `src` to `pos` of `out`; returns the new position. A loop for a few
 * bytes, `set` (a memcpy, but a call) for more.
 */
function put(out: Uint8Array, pos: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 16) {
    out.set(src, pos);
    return pos + n;
  }
  for (let i = 0; i < n; i++) out[pos++] = src[i];
  return pos;
}

/** Decimal digits of `x`, an integer in [0, 2^31). */
function digitCount(x: number): number {
  if (x < 100000) return x < 100 ? (x < 10 ? 1 : 2) : x < 1000 ? 3 : x < 10000 ? 4 : 5;
  return x < 10000000 ? (x < 1000000 ? 6 : 7) : x < 100000000 ? 8 : x < 1000000000 ? 9 : 10;
}

/**
 * Writes `x`, an integer in [0, 2^31), as `width` digits (zero-padded) or, for
 * width 0, as many as it has; returns the new position. Int32 arithmetic: the
 * division by 10 is a multiplication.
 */
function putSmall(out: Uint8Array, pos: number, x: number, width: number): number {
  const end = pos + (width || digitCount(x));
  let q = end;
  x = x | 0;
  while (q > pos) {
    const d = (x / 10) | 0;
    out[--q] = 0x30 + (x - d * 10);
    x = d;
  }
  return end;
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
  if (x < 2147483648) return putSmall(out, pos, x, 0);
  // Below 2^53: at most 7 digits above the last 9.
  const hi = Math.floor(x / 1e9);
  return putSmall(out, putSmall(out, pos, hi, 0), x - hi * 1e9, 9);
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
  return putSmall(out, pos + 1, frac, 3);
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
 * await Deno.remove(path);
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
   * (no per-event strings: this runs on the capture's thread). The bytes
   * around the numbers are built once per tracepoint and string values in
   * the chunk and copied whole.
   */
  write(chunk: TraceChunk): void {
    if (chunk.count === 0) return;
    if (!this.#file) throw new Error(`${this.path}: write after close`);
    const r = chunk.records;
    const strings = chunk.strings;
    const nStrings = strings.length;
    // Per tracepoint with strings, its plans in this chunk by the string ids.
    const plans: (PlanCache | undefined)[] = [];
    let out = this.#out;
    let pos = 0;
    let p = 0;
    let first = this.#first, headDone = false;
    while (p < r.length) {
      const id = r[p];
      const j = JSON_PARTS[id];
      let plan = STATIC_PLANS[id];
      if (plan === undefined) {
        const s = j.strings;
        let key = 0;
        for (let k = s.length - 1; k >= 0; k--) key = key * nStrings + r[p + 2 + s[k]];
        const cache = plans[id] ??= new PlanCache();
        plan = cache.get(key);
        if (plan === undefined) {
          const at = p;
          plan = jsonPlan(j, (i) => strings[r[at + 2 + i]]);
          cache.set(key, plan);
        }
      }
      // Room for the event and the next one's head (written with this one's
      // last run, so the next event starts at its timestamp).
      const need = plan.need + MAX_HEAD;
      if (pos + need > out.length) {
        writeAllSync(this.#file, out.subarray(0, pos));
        pos = 0;
        if (need > out.length) this.#out = out = new Uint8Array(need * 2);
      }
      if (!headDone) pos = put(out, pos, first ? j.headFirst : j.head);
      first = false;
      pos = putUs(out, pos, r[p + 1]);
      const { runs, ints, types } = plan;
      for (let k = 0; k < ints.length; k++) {
        pos = put(out, pos, runs[k]);
        pos = putNumber(out, pos, intValue(r[p + 2 + ints[k]], types[k]));
      }
      p += j.slots;
      const last = runs[ints.length];
      if (p < r.length) {
        const next = r[p];
        const joined = plan.joined[next] ??= concat(last, JSON_PARTS[next].head);
        pos = put(out, pos, joined);
        headDone = true;
      } else {
        pos = put(out, pos, last);
        headDone = false;
      }
    }
    this.#first = first;
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
