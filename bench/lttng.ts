/**
 * Measurement `lttng` of the bench: reading a real LTTng trace of
 * libcamera-shaped IPA calls (tests/c/ipa_calls.c traced in a per-UID lttng
 * session) and pairing its calls, in events per second: ringdump's
 * `analyzeTrace` (the code behind `trace stats`) against the python3-bt2
 * pairing of the same trace (tests/lttng_stats_bt2.py, the way libcamera's
 * analyze-ipa-trace.py reads it). Both are timed around the read and the
 * pairing only (no process start-up), back to back, the median of the paired
 * ratios counting. Needs root, lttng-tools, liblttng-ust-dev, gcc and
 * python3-bt2; without them the figure is skipped with the reason.
 *
 * @module
 */
import { analyzeTrace } from "../lib/trace/mod.ts";
import { type Figure, figure, skipped } from "./results.ts";
import { median, ROOT, run, runOk, scratchDir } from "./util.ts";

/** Options of {@linkcode lttngVsBt2}. */
export interface LttngOptions {
  /** Iterations of each of the program's two threads (about 4.2 events each). */
  iterations: number;
  /** Timed pairs of runs; the median ratio counts. */
  reps: number;
}

const NAME = "trace.lttng_vs_bt2";
const WHAT = "trace stats on an LTTng trace (events/s)";
const REF = "python3-bt2 pairing";
/** At least five times the Python script's rate: the point of reading traces without Python. */
const GOAL = 5;

async function missing(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "needs root (the LTTng session daemon)";
  for (const tool of ["lttng", "lttng-sessiond", "gcc"]) {
    if ((await run([tool, "--version"]).catch(() => ({ code: -1 }))).code !== 0) {
      return `${tool} is missing (apt-get install lttng-tools liblttng-ust-dev gcc)`;
    }
  }
  const py = await run(["/usr/bin/python3", "-c", "import bt2"]).catch(() => ({ code: -1 }));
  if (py.code !== 0) return "python3-bt2 is missing (apt-get install python3-bt2)";
  return undefined;
}

/**
 * Records a trace and measures reading it both ways.
 *
 * @example
 * ```ts ignore
 * import { lttngVsBt2 } from "./lttng.ts";
 * console.log((await lttngVsBt2({ iterations: 1000, reps: 1 }))[0].name); // "trace.lttng_vs_bt2"
 * ```
 */
export async function lttngVsBt2(options: LttngOptions): Promise<Figure[]> {
  const why = await missing();
  if (why) return [skipped(NAME, WHAT, "events/s", REF, why, { goal: GOAL })];
  const dir = await scratchDir(Deno.env.get("TMPDIR") ?? "/tmp");
  const session = `ringdump-bench-${Deno.pid}`;
  try {
    const program = `${dir.path}/ipa_calls`;
    await runOk([
      "gcc",
      "-O2",
      `-I${ROOT}tests/c`,
      `${ROOT}tests/c/ipa_calls.c`,
      "-o",
      program,
      "-llttng-ust",
      "-ldl",
      "-lpthread",
    ]);
    if ((await run(["lttng", "list"])).code !== 0) {
      await runOk(["lttng-sessiond", "--daemonize"]);
    }
    const out = `${dir.path}/session`;
    await runOk(["lttng", "create", session, `--output=${out}`]);
    try {
      await runOk([
        "lttng",
        "enable-channel",
        "-u",
        "-s",
        session,
        "--subbuf-size=4M",
        "--num-subbuf=8",
        "ipa",
      ]);
      await runOk(["lttng", "enable-event", "-u", "libcamera:*", "-s", session, "-c", "ipa"]);
      await runOk(["lttng", "start", session]);
      await runOk([program, String(options.iterations)]);
      await runOk(["lttng", "stop", session]);
    } finally {
      await run(["lttng", "destroy", session]);
    }
    const ours: number[] = [], theirs: number[] = [], ratios: number[] = [];
    let events = 0, discarded = 0;
    for (let i = 0; i < options.reps; i++) {
      const t0 = performance.now();
      const a = await analyzeTrace(out);
      const s = (performance.now() - t0) / 1000;
      events = a.events;
      discarded = a.discarded;
      const r = await runOk(["/usr/bin/python3", `${ROOT}tests/lttng_stats_bt2.py`, out]);
      const bt2 = JSON.parse(r.stdout) as { events: number; seconds: number };
      if (bt2.events !== a.events) {
        throw new Error(`ringdump read ${a.events} events, python3-bt2 ${bt2.events}`);
      }
      ours.push(a.events / s);
      theirs.push(bt2.events / bt2.seconds);
      ratios.push(a.events / s / (bt2.events / bt2.seconds));
    }
    return [figure({
      name: NAME,
      what: WHAT,
      value: median(ours),
      unit: "events/s",
      refName: REF,
      refValue: median(theirs),
      ratio: median(ratios),
      goal: GOAL,
      note: `${events} events (${discarded} discarded by the tracer) from 2 threads, read ` +
        `${options.reps}x each way, in process (no start-up) on both sides`,
    })];
  } finally {
    await dir.remove();
  }
}
