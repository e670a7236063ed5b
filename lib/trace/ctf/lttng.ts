/**
 * Reading LTTng traces: every CTF trace under a session directory (per-UID
 * and per-PID buffers, 32- and 64-bit), every stream of each (one file per
 * CPU and channel), events merged in timestamp order across all of them.
 * Timestamps are ns from the clocks' origin, less the earliest trace's clock
 * offset (so they stay exact integers), exactly as far apart as babeltrace2's
 * `ns_from_origin`. Streams are read a packet at a time: memory stays flat.
 *
 * @module
 */
import { TraceFormatError } from "../errors.ts";
import type { TraceEvent, TraceValue } from "../tracepoints.ts";
import type { CtfValue } from "./decode.ts";
import { parseMetadata } from "./metadata.ts";
import { type CompiledTrace, compileTrace, StreamReader } from "./stream.ts";
import { errorMessage } from "../../errors.ts";

/** What reading the traces found. */
export interface CtfReadSummary {
  /** The trace directories read, sorted. */
  readonly traces: readonly string[];
  /** The tracer (`env.tracer_name` of the first trace, e.g. `lttng-ust`). */
  readonly tracer: string;
  /** Stream files read. */
  readonly streams: number;
  /** Packets read. */
  readonly packets: number;
  /** Events read. */
  readonly events: number;
  /** Events the tracer discarded (its buffers were full): the trace is lossy when > 0. */
  readonly discarded: number;
}

function isRingdumpMetadata(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, 4096));
  return head.startsWith("/* CTF 1.8") && /tracer_name\s*=\s*"ringdump"/.test(head);
}

function readFile(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read: ${errorMessage(e)}`, {
      path,
      format: "ctf",
      cause: e,
    });
  }
}

/**
 * The CTF trace directories at or below `dir` that are not ringdump's own
 * (those `readTrace` reads with its own reader): every directory holding a
 * `metadata` file, sorted. A trace's subdirectories (LTTng's `index/`) are
 * not searched.
 *
 * @example
 * ```ts
 * import { findCtfTraces } from "./lttng.ts";
 * const dir = await Deno.makeTempDir();
 * console.log(findCtfTraces(dir)); // []
 * await Deno.remove(dir);
 * ```
 */
export function findCtfTraces(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string, depth: number) => {
    if (depth > 16) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch (e) {
      throw new TraceFormatError(`${d}: cannot list: ${errorMessage(e)}`, {
        path: d,
        format: "ctf",
        cause: e,
      });
    }
    if (entries.some((e) => e.isFile && e.name === "metadata")) {
      const meta = `${d}/metadata`;
      let head: Uint8Array;
      try {
        using f = Deno.openSync(meta);
        head = new Uint8Array(4096);
        const n = f.readSync(head) ?? 0;
        head = head.subarray(0, n);
      } catch (e) {
        throw new TraceFormatError(`${meta}: cannot read: ${errorMessage(e)}`, {
          path: meta,
          format: "ctf",
          cause: e,
        });
      }
      if (!isRingdumpMetadata(head)) out.push(d);
      return;
    }
    for (const e of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
      if (e.isDirectory) visit(`${d}/${e.name}`, depth + 1);
    }
  };
  visit(dir.replace(/\/+$/, "") || "/", 0);
  return out.sort();
}

function streamFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && e.name !== "metadata" && !e.name.startsWith(".")) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

/** A field value as a {@linkcode TraceValue}: numbers and strings as they are, the rest as JSON. */
function traceValue(v: CtfValue): TraceValue {
  if (typeof v === "number" || typeof v === "string") return v;
  if (typeof v === "bigint") return Number(v);
  return JSON.stringify(v, (_, x) => typeof x === "bigint" ? Number(x) : x);
}

/** A min-heap of stream readers by their current event's timestamp. */
class Heap {
  readonly items: { r: StreamReader; ns: number; seq: number }[] = [];
  push(item: { r: StreamReader; ns: number; seq: number }): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  /** Re-sorts after the top item's key changed. */
  down(): void {
    const a = this.items;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && less(a[l], a[m])) m = l;
      if (r < a.length && less(a[r], a[m])) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
  pop(): void {
    const a = this.items;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      this.down();
    }
  }
}

function less(a: { ns: number; seq: number }, b: { ns: number; seq: number }): boolean {
  return a.ns < b.ns || (a.ns === b.ns && a.seq < b.seq);
}

/**
 * Reads every CTF trace at or below `path` (see {@linkcode findCtfTraces})
 * and calls `onEvent` for each event of every stream, in timestamp order.
 * The event object is fresh for each call. Throws a
 * {@linkcode TraceFormatError} naming the file and byte offset for a
 * malformed or truncated trace, and when there is no trace at all.
 *
 * @example
 * ```ts
 * import { errorMessage } from "../../errors.ts";
 * import { readCtfTraces } from "./lttng.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   readCtfTraces(dir, () => {});
 * } catch (e) {
 *   console.log(errorMessage(e).includes("no CTF trace")); // true
 * }
 * await Deno.remove(dir);
 * ```
 */
export function readCtfTraces(
  path: string,
  onEvent: (event: TraceEvent) => void,
): CtfReadSummary {
  const dirs = findCtfTraces(path);
  if (dirs.length === 0) {
    throw new TraceFormatError(
      `${path}: not a CTF trace directory (no 'metadata' file), and no CTF trace below it`,
      { path, format: "ctf" },
    );
  }
  const traces: CompiledTrace[] = dirs.map((d) => {
    const metaPath = `${d}/metadata`;
    return compileTrace(parseMetadata(readFile(metaPath), metaPath), metaPath);
  });
  let base: bigint | undefined;
  for (const t of traces) if (base === undefined || t.offsetNs < base) base = t.offsetNs;
  const readers: StreamReader[] = [];
  const shift = new Map<CompiledTrace, number>();
  const heap = new Heap();
  let seq = 0;
  let events = 0;
  try {
    traces.forEach((t, i) => {
      shift.set(t, Number(t.offsetNs - (base ?? 0n)));
      for (const f of streamFiles(dirs[i])) readers.push(StreamReader.open(t, f));
    });
    const nsOf = (r: StreamReader) => {
      const t = r.trace;
      const cycles = r.event.cycles;
      return (t.nsPerCycle === 1 ? cycles : Math.round(cycles * t.nsPerCycle)) + shift.get(t)!;
    };
    for (const r of readers) if (r.next()) heap.push({ r, ns: nsOf(r), seq: seq++ });
    const items = heap.items;
    while (items.length) {
      const top = items[0];
      const r = top.r;
      const e = r.event;
      let plain = true;
      for (const k in e.fields) {
        const t = typeof e.fields[k];
        if (t !== "number" && t !== "string") {
          plain = false;
          break;
        }
      }
      let fields = e.fields as Record<string, TraceValue>;
      if (!plain) {
        fields = {};
        for (const k in e.fields) fields[k] = traceValue(e.fields[k]);
      }
      onEvent({ name: e.name, timestamp: top.ns, fields });
      events++;
      if (r.next()) {
        top.ns = nsOf(r);
        heap.down();
      } else heap.pop();
    }
  } finally {
    for (const r of readers) r.close();
  }
  return {
    traces: dirs,
    tracer: String(traces[0].meta.env.tracer_name ?? ""),
    streams: readers.length,
    packets: readers.reduce((s, r) => s + r.packets, 0),
    events,
    discarded: readers.reduce((s, r) => s + r.discarded, 0),
  };
}
