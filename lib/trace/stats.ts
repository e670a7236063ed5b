/**
 * Call latency statistics: begin/end events paired with a stack per key,
 * then count, min, max, mean, stddev, p50 and p99 per key.
 *
 * @module
 */
import type { TraceEvent } from "./tracepoints.ts";

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
function percentile(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  const rank = Math.floor((p * n + 99) / 100); // ceil(p * n / 100), exactly
  return sorted[Math.max(0, rank - 1)];
}

interface PairKey {
  readonly key: string;
  readonly group: string;
  readonly fn: string;
  readonly stack: number[];
  durations: number[] | undefined;
}

/**
 * Matches begin/end events into call durations, one event at a time (so a
 * trace can be streamed through it): a stack per key, as libcamera's
 * analyze-ipa-trace.py does, so nested and interleaved calls pair
 * correctly. An end without a begin is counted, never thrown.
 *
 * @example
 * ```ts
 * import { CallPairer } from "./stats.ts";
 * const pairer = new CallPairer();
 * pairer.begin("sim", "read", 100);
 * pairer.end("sim", "read", 350);
 * console.log(pairer.stats().calls[0].mean); // 250
 * ```
 */
export class CallPairer {
  /** Durations in ns per key, in end-event order. */
  readonly durations: Map<string, number[]> = new Map();
  readonly #keys = new Map<string, Map<string, PairKey>>();
  readonly #all: PairKey[] = [];
  readonly #unmatchedEnds: UnmatchedCall[] = [];

  #key(group: string, fn: string): PairKey {
    let byFn = this.#keys.get(group);
    if (!byFn) this.#keys.set(group, byFn = new Map());
    let k = byFn.get(fn);
    if (!k) {
      k = { key: `${group}:${fn}`, group, fn, stack: [], durations: undefined };
      byFn.set(fn, k);
      this.#all.push(k);
    }
    return k;
  }

  /** A call of `group:fn` began at `timestamp` ns. */
  begin(group: string, fn: string, timestamp: number): void {
    this.#key(group, fn).stack.push(timestamp);
  }

  /** A call of `group:fn` ended at `timestamp` ns: pairs it with the latest open begin. */
  end(group: string, fn: string, timestamp: number): void {
    const k = this.#key(group, fn);
    const t0 = k.stack.pop();
    if (t0 === undefined) this.#unmatchedEnds.push({ key: k.key, timestamp });
    else {
      let d = k.durations;
      if (!d) this.durations.set(k.key, d = k.durations = []);
      d.push(timestamp - t0);
    }
  }

  /**
   * The statistics of the pairs so far (see {@linkcode traceStats} for the
   * exact definitions); `sample` uses the sample standard deviation (n - 1),
   * as analyze-ipa-trace.py does, instead of the population one.
   */
  stats(options: { sample?: boolean } = {}): TraceStats {
    const unmatchedBegins: UnmatchedCall[] = [];
    for (const k of this.#all) {
      for (const timestamp of k.stack) unmatchedBegins.push({ key: k.key, timestamp });
    }
    const calls: CallStats[] = [];
    const keyed = this.#all.filter((k) => k.durations).sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    );
    for (const k of keyed) {
      calls.push(callStats(k.key, k.group, k.fn, k.durations!, options.sample ?? false));
    }
    unmatchedBegins.sort((a, b) => a.timestamp - b.timestamp);
    return { calls, unmatchedEnds: [...this.#unmatchedEnds], unmatchedBegins };
  }
}

function callStats(
  key: string,
  backend: string,
  fn: string,
  d: readonly number[],
  sample: boolean,
): CallStats {
  const n = d.length;
  let sum = 0;
  for (const x of d) sum += x;
  const meanF = sum / n;
  let acc = 0;
  for (const x of d) {
    const dx = x - meanF;
    acc += dx * dx;
  }
  const sorted = Float64Array.from(d).sort();
  const divisor = sample ? n - 1 : n;
  return {
    key,
    backend,
    function: fn,
    count: n,
    min: sorted[0],
    max: sorted[n - 1],
    mean: Math.floor((2 * sum + n) / (2 * n)),
    stddev: divisor > 0 ? Math.floor(Math.sqrt(acc / divisor) + 0.5) : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    total: sum,
  };
}

/**
 * Whether a backend name passes a `--backend` filter: the name itself, or a
 * name layered on it (`ssh` takes in `ssh+agent`).
 *
 * @example
 * ```ts
 * import { backendMatches } from "./stats.ts";
 * console.log(backendMatches("ssh+agent", "ssh"), backendMatches("sim", "si")); // true false
 * ```
 */
export function backendMatches(name: string, filter: string | undefined): boolean {
  return filter === undefined || name === filter || name.startsWith(`${filter}+`);
}

/** Which events open and close a call, and which fields name it. */
export interface PairingRule {
  /** What the calls are, for messages (`backend calls`). */
  readonly what: string;
  /** The report's heading for them. */
  readonly heading: string;
  /** The begin event's name. */
  readonly begin: string;
  /** The end event's name. */
  readonly end: string;
  /** The field naming the caller group (backend, pipeline): the key's first part. */
  readonly group: string;
  /** The field naming the function: the key's second part. */
  readonly function: string;
  /** Whether the stddev is the sample one (n - 1) rather than the population one. */
  readonly sample: boolean;
}

/**
 * ringdump's own pairing: `backend_call_begin`/`_end`, key
 * `backend_name:function_name`, population stddev.
 *
 * @example
 * ```ts
 * import { BACKEND_CALLS } from "./stats.ts";
 * console.log(BACKEND_CALLS.begin); // "backend_call_begin"
 * ```
 */
export const BACKEND_CALLS: PairingRule = Object.freeze({
  what: "backend calls",
  heading: "Backend call latency",
  begin: "backend_call_begin",
  end: "backend_call_end",
  group: "backend_name",
  function: "function_name",
  sample: false,
});

/**
 * libcamera's IPA call pairing, as utils/tracepoints/analyze-ipa-trace.py
 * does it: `libcamera:ipa_call_begin`/`_end`, key
 * `pipeline_name:function_name`, sample stddev.
 *
 * @example
 * ```ts
 * import { LIBCAMERA_IPA_CALLS } from "./stats.ts";
 * console.log(LIBCAMERA_IPA_CALLS.group); // "pipeline_name"
 * ```
 */
export const LIBCAMERA_IPA_CALLS: PairingRule = Object.freeze({
  what: "libcamera IPA calls",
  heading: "libcamera IPA call latency",
  begin: "libcamera:ipa_call_begin",
  end: "libcamera:ipa_call_end",
  group: "pipeline_name",
  function: "function_name",
  sample: true,
});

/**
 * Feeds the events of one {@linkcode PairingRule} to a
 * {@linkcode CallPairer}, one event at a time, keeping only the groups
 * `filter` accepts; remembers every group seen (to say what a filter missed).
 *
 * @example
 * ```ts
 * import { CallCollector, LIBCAMERA_IPA_CALLS } from "./stats.ts";
 * const c = new CallCollector(LIBCAMERA_IPA_CALLS);
 * const fields = { pipeline_name: "rkisp1", function_name: "processStats" };
 * c.add({ name: "libcamera:ipa_call_begin", timestamp: 10, fields });
 * c.add({ name: "libcamera:ipa_call_end", timestamp: 25, fields });
 * console.log(c.stats().calls[0].key, c.events); // "rkisp1:processStats" 2
 * ```
 */
export class CallCollector {
  /** The rule. */
  readonly rule: PairingRule;
  /** The pairs. */
  readonly pairer: CallPairer = new CallPairer();
  /** Every group (backend, pipeline) seen, filtered out or not. */
  readonly groups: Set<string> = new Set();
  /** Events of the rule seen, filtered out or not. */
  events = 0;
  readonly #filter?: (group: string) => boolean;

  /** Collects `rule`'s events of the groups `filter` accepts (all without one). */
  constructor(rule: PairingRule, filter?: (group: string) => boolean) {
    this.rule = rule;
    this.#filter = filter;
  }

  /** Takes one event (any event: others are ignored). */
  add(e: TraceEvent): void {
    const begin = e.name === this.rule.begin;
    if (!begin && e.name !== this.rule.end) return;
    const gv = e.fields[this.rule.group];
    if (gv === undefined) return;
    const g = String(gv);
    this.events++;
    this.groups.add(g);
    if (this.#filter && !this.#filter(g)) return;
    const f = String(e.fields[this.rule.function] ?? "");
    if (begin) this.pairer.begin(g, f, e.timestamp);
    else this.pairer.end(g, f, e.timestamp);
  }

  /** The statistics, with the rule's stddev. */
  stats(): TraceStats {
    return this.pairer.stats({ sample: this.rule.sample });
  }
}

/**
 * Pairs the `backend_call_begin`/`_end` events of a trace (optionally of one
 * backend) into a {@linkcode CallPairer}.
 *
 * @example
 * ```ts
 * import { pairBackendCalls } from "./stats.ts";
 * const f = { backend_name: "sim", function_name: "read" };
 * const pairer = pairBackendCalls([
 *   { name: "backend_call_begin", timestamp: 1, fields: f },
 *   { name: "backend_call_end", timestamp: 4, fields: f },
 * ]);
 * console.log(pairer.durations.get("sim:read")); // [3]
 * ```
 */
export function pairBackendCalls(
  events: readonly TraceEvent[],
  options: { backend?: string } = {},
): CallPairer {
  const backend = options.backend;
  const c = new CallCollector(
    BACKEND_CALLS,
    backend === undefined ? undefined : (g) => backendMatches(g, backend),
  );
  for (const e of events) c.add(e);
  return c.pairer;
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
 * import { traceStats } from "./mod.ts";
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
  return pairBackendCalls(events, options).stats();
}

/**
 * Formats {@linkcode TraceStats} as one aligned table (ns), with a line per
 * unmatched event kind after it.
 *
 * @example
 * ```ts
 * import { formatTraceStats, traceStats } from "./mod.ts";
 * console.log(formatTraceStats(traceStats([])).split("\n")[0].trim().startsWith("key")); // true
 * ```
 */
export function formatTraceStats(stats: TraceStats, options: { what?: string } = {}): string {
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
  if (rows.length === 0) lines.push(`(no ${options.what ?? "backend calls"} in the trace)`);
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
