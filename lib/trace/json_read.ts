/**
 * Reading and checking Chrome Trace Event JSON.
 *
 * @module
 */
import { TraceFormatError } from "./errors.ts";
import type { TraceEvent, TraceValue } from "./tracepoints.ts";

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
 * import { parseChromeTrace } from "./mod.ts";
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
 * import { checkChromeTrace } from "./mod.ts";
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
