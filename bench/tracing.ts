/**
 * Measurement 6 of the bench: what tracing costs. ns per disabled tracepoint
 * (the `if (tracing.enabled)` guard) against the loop without it, ns per
 * enabled tracepoint against one read of the trace clock, and a devmem
 * capture's throughput with tracing on (a JSON trace file) against off.
 *
 * @module
 */
import { openDevmem } from "../backends/devmem.ts";
import { DiscardSink } from "../lib/sink/mod.ts";
import {
  dumperTrace,
  monotonicNs,
  openTraceWriter,
  startTracing,
  type TraceWriter,
  tracing,
} from "../lib/trace/mod.ts";
import { createLapRing, lapCapture } from "./lap.ts";
import { type Figure, figure } from "./results.ts";
import { median, MIB, scratchDir, shmDir } from "./util.ts";

/** Options of {@linkcode tracingCost}. */
export interface TracingOptions {
  /** Tracepoint calls per timed loop. */
  calls: number;
  /** Timed loops of each kind; the median counts. */
  reps: number;
  /** Ring bytes of the traced capture. */
  ringBytes: number;
  /** Full rings per capture. */
  laps: number;
  /** Largest read of the traced capture (smaller: more events per byte); default 4 MiB. */
  maxReadBytes?: number;
}

let sinkValue = 0;

function nsPerCall(calls: number, body: (n: number) => void): number {
  const t0 = performance.now();
  body(calls);
  return (performance.now() - t0) * 1e6 / calls;
}

function emptyLoop(n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += i;
  sinkValue += s;
}

function guardedLoop(n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += i;
    if (tracing.enabled) dumperTrace.periodEnd(i, i, 1, 1, 4096, 1, 2, 0, 500, 16);
  }
  sinkValue += s;
}

function clockLoop(n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += monotonicNs();
  sinkValue += s;
}

const discard: TraceWriter = { format: "discard", path: "", write() {}, close() {} };

/**
 * The tracing figures.
 *
 * @example
 * ```ts ignore
 * import { tracingCost } from "./tracing.ts";
 * console.log(await tracingCost({ calls: 1e5, reps: 3, ringBytes: 8 << 20, laps: 2 }));
 * ```
 */
export async function tracingCost(options: TracingOptions): Promise<Figure[]> {
  if (tracing.enabled) throw new Error("tracing is already on");
  const empty: number[] = [], off: number[] = [], on: number[] = [], clock: number[] = [];
  // Warm up every loop first (JIT), then interleave.
  for (const f of [emptyLoop, guardedLoop, clockLoop]) f(options.calls);
  for (let i = 0; i < options.reps; i++) {
    empty.push(nsPerCall(options.calls, emptyLoop));
    off.push(nsPerCall(options.calls, guardedLoop));
    clock.push(nsPerCall(options.calls, clockLoop));
    const session = startTracing(discard);
    try {
      on.push(nsPerCall(options.calls, guardedLoop));
    } finally {
      session.stop();
    }
  }
  // Throughput with tracing on against off: at the dumper's default read size, and
  // with small reads (many events per byte: the worst case).
  const ring = await createLapRing(shmDir(), options.ringBytes);
  const dir = await scratchDir(shmDir());
  const reads = [undefined, options.maxReadBytes ?? 64 * 1024] as const;
  const traced: number[][] = [[], []], plain: number[][] = [[], []];
  const events = [0, 0];
  try {
    const capture = async (maxReadBytes: number | undefined) => {
      const backend = await openDevmem(ring.path, { geometry: ring.geometry });
      try {
        const t = await lapCapture({
          backend,
          sink: new DiscardSink(),
          ring,
          laps: options.laps,
          maxReadBytes,
        });
        return t.bytes / t.seconds / MIB;
      } finally {
        await backend.close();
      }
    };
    await capture(undefined); // warm-up
    for (let i = 0; i < options.reps; i++) {
      for (const [k, maxRead] of reads.entries()) {
        const tracedRun = async () => {
          const session = startTracing(await openTraceWriter(`${dir.path}/trace.json`));
          try {
            traced[k].push(await capture(maxRead));
          } finally {
            session.stop();
            events[k] = session.events;
          }
        };
        // Order alternated: the second capture of a pair ran systematically
        // slower or faster here (0.83, 0.84, 1.25 in three pairs of one run).
        if (i % 2 === 0) {
          plain[k].push(await capture(maxRead));
          await tracedRun();
        } else {
          await tracedRun();
          plain[k].push(await capture(maxRead));
        }
      }
    }
  } finally {
    await dir.remove();
    await ring.remove();
  }
  const paired = (k: number) => median(traced[k].map((v, i) => v / plain[k][i]));
  if (sinkValue === -1) console.log(sinkValue); // keeps the loops' work observable
  const loops = `${options.calls} calls per loop, median of ${options.reps}`;
  return [
    figure({
      name: "tracing.disabled_ns",
      what: "loop iteration with a guarded dumper_period_end (10 fields), tracing off",
      value: median(off),
      unit: "ns",
      refName: "the same loop without the tracepoint",
      refValue: median(empty),
      better: "lower",
      goal: 2,
      note: loops,
    }),
    figure({
      name: "tracing.enabled_ns",
      what: "loop iteration with dumper_period_end, tracing on (discarding writer)",
      value: median(on),
      unit: "ns",
      refName: "loop iteration reading the trace clock (monotonicNs)",
      refValue: median(clock),
      better: "lower",
      goal: 3,
      note: loops + "; buffer flushes and decoding included",
    }),
    figure({
      name: "tracing.capture_on_vs_off",
      what: "devmem capture -> discard, tracing on into a JSON file (4 MiB reads)",
      value: median(traced[0]),
      unit: "MiB/s",
      refName: "the same capture, tracing off",
      refValue: median(plain[0]),
      goal: 0.95,
      ratio: paired(0),
      note: `${options.laps} x ${(ring.geometry.ringBytes / MIB).toFixed(0)} MiB, the dumper's ` +
        `default 4 MiB reads, ${
          events[0]
        } events per traced capture; median of ${options.reps} (pairs in alternating order) ` +
        `(ratio: of back-to-back pairs)`,
    }),
    figure({
      name: "tracing.small_reads_on_vs_off",
      what: `the same with ${
        (reads[1] / 1024).toFixed(0)
      } KiB reads (worst case: most events per byte)`,
      value: median(traced[1]),
      unit: "MiB/s",
      refName: "the same capture, tracing off",
      refValue: median(plain[1]),
      goal: 0.9,
      ratio: paired(1),
      note: `${events[1]} events per traced capture; median of ${options.reps}`,
    }),
  ];
}
