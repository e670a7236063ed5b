/**
 * `deno task bench [--quick] [--only NAME[,NAME...]] [--out FILE]`: how fast
 * ringdump is, every figure as a ratio to a reference run in the same process
 * or the same minute on the same bytes (the machines are shared and noisy;
 * absolute values are for context). Prints a table and writes
 * `bench/results.json` (a full run), `bench/results.quick.json` (`--quick`).
 *
 * Measurements, in order (names for `--only`): `copy`, `disk`, `sustained`,
 * `reference`, `remote`, `tracing`, `trace`, `memory`, `startup`. Each is a function of
 * a small options object; {@linkcode BENCH_SIZES} holds the full, quick and
 * tiny (smoke test) sets.
 *
 * @module
 */
import { copyCeiling, type CopyOptions, toDisk } from "./copy.ts";
import { type LttngOptions, lttngVsBt2 } from "./lttng.ts";
import { type MemoryOptions, memoryPeak } from "./memory.ts";
import { referenceBaseline, type ReferenceOptions } from "./reference.ts";
import { type RemoteOptions, remoteThroughput } from "./remote.ts";
import {
  type BenchResults,
  type Figure,
  formatTable,
  machineInfo,
  resultsJson,
  skipped,
} from "./results.ts";
import { type StartupOptions, startupTime } from "./startup.ts";
import { type SustainedOptions, sustainedRate } from "./sustained.ts";
import { tracingCost, type TracingOptions } from "./tracing.ts";
import { chooseEmulators, MIB, ROOT } from "./util.ts";
import { BENCH_BACKENDS } from "./backends.ts";
import { errorMessage } from "../lib/errors.ts";

/** A size of the run. */
export type BenchSize = "full" | "quick" | "tiny";

/** The options of every measurement for one size. */
export interface BenchPlan {
  /** Copy ceiling. */
  copy: CopyOptions;
  /** To disk. */
  disk: CopyOptions;
  /** Sustained rate without loss. */
  sustained: SustainedOptions;
  /** Reference-style baseline. */
  reference: ReferenceOptions;
  /** Remote. */
  remote: RemoteOptions;
  /** Tracing cost. */
  tracing: TracingOptions;
  /** Reading an LTTng trace (`trace stats`) against python3-bt2. */
  trace: LttngOptions;
  /** Memory. */
  memory: MemoryOptions;
  /** Start-up. */
  startup: StartupOptions;
}

const GIB = 1024 * MIB;

/** The full set (under 15 minutes on 2 cores), `--quick` (under a minute), and the smoke test's. */
export const BENCH_SIZES: Readonly<Record<BenchSize, BenchPlan>> = {
  full: {
    copy: { ringBytes: GIB, laps: 4, reps: 3 },
    disk: { ringBytes: GIB, laps: 1, reps: 4 },
    sustained: {
      backends: BENCH_BACKENDS,
      ringBytes: 4 * MIB,
      period: 100,
      captureMs: 10_000,
      steps: 4,
      fixedSteps: 6,
      adaptive: { devmem: 8, pixeldump: 4, ssh_dd: 4, ssh_agent: 4 },
    },
    reference: {
      ringBytes: 32 * MIB,
      period: 1000,
      durationMs: 10_000,
      rate: 8 * MIB,
      pairs: 3,
    },
    remote: { ringBytes: 256 * MIB, laps: 2, reps: 3 },
    tracing: { calls: 1_000_000, reps: 5, ringBytes: 256 * MIB, laps: 4, maxReadBytes: 64 * 1024 },
    trace: { iterations: 100_000, reps: 3 },
    memory: { ringBytes: 64 * MIB, shortBytes: 2 * GIB },
    startup: { runs: 7, compile: true },
  },
  quick: {
    copy: { ringBytes: 256 * MIB, laps: 2, reps: 2 },
    disk: { ringBytes: 256 * MIB, laps: 1, reps: 2 },
    sustained: {
      backends: BENCH_BACKENDS,
      ringBytes: 4 * MIB,
      period: 100,
      captureMs: 1500,
      steps: 2,
      adaptive: { devmem: 8, pixeldump: 4, ssh_dd: 4, ssh_agent: 4 },
    },
    reference: { ringBytes: 16 * MIB, period: 500, durationMs: 3000, rate: 8 * MIB },
    remote: { ringBytes: 64 * MIB, laps: 1, reps: 1 },
    tracing: { calls: 200_000, reps: 3, ringBytes: 64 * MIB, laps: 2, maxReadBytes: 64 * 1024 },
    trace: { iterations: 20_000, reps: 1 },
    memory: { ringBytes: 32 * MIB, shortBytes: 256 * MIB },
    startup: { runs: 3, compile: false },
  },
  tiny: {
    copy: { ringBytes: 2 * MIB, laps: 2, reps: 1 },
    disk: { ringBytes: 2 * MIB, laps: 1, reps: 1 },
    sustained: {
      backends: BENCH_BACKENDS,
      ringBytes: 256 * 1024,
      period: 50,
      captureMs: 300,
      steps: 1,
      adaptive: { devmem: 2 },
    },
    // Seconds of slack in the ring: the test suite runs this on a loaded machine,
    // and the reference gives up when two periods no longer fit in it.
    reference: { ringBytes: 4 * MIB, period: 200, durationMs: 600, rate: MIB / 4 },
    remote: { ringBytes: 2 * MIB, laps: 1, reps: 1 },
    tracing: { calls: 10_000, reps: 1, ringBytes: 2 * MIB, laps: 1, maxReadBytes: 64 * 1024 },
    trace: { iterations: 500, reps: 1 },
    memory: { ringBytes: 2 * MIB, shortBytes: 4 * MIB },
    startup: { runs: 1, compile: false },
  },
};

/** A measurement: a name for `--only` and how to run it for a plan. */
export interface Measurement {
  /** Name, e.g. `copy`. */
  readonly name: string;
  /** One line on what it measures. */
  readonly title: string;
  /** Runs it. */
  run(plan: BenchPlan): Promise<Figure[]>;
}

/** Every measurement, in the issue's order. */
export const MEASUREMENTS: readonly Measurement[] = [
  { name: "copy", title: "copy ceiling", run: (p) => copyCeiling(p.copy) },
  { name: "disk", title: "to disk", run: (p) => toDisk(p.disk) },
  {
    name: "sustained",
    title: "sustained rate without loss",
    run: (p) => sustainedRate(p.sustained),
  },
  {
    name: "reference",
    title: "reference-style baseline",
    run: (p) => referenceBaseline(p.reference),
  },
  { name: "remote", title: "remote (ssh)", run: (p) => remoteThroughput(p.remote) },
  { name: "tracing", title: "tracing cost", run: (p) => tracingCost(p.tracing) },
  {
    name: "trace",
    title: "trace stats on an LTTng trace vs python3-bt2",
    run: (p) => lttngVsBt2(p.trace),
  },
  { name: "memory", title: "memory", run: (p) => memoryPeak(p.memory) },
  { name: "startup", title: "start-up", run: (p) => startupTime(p.startup) },
];

/** Options of {@linkcode runBench}. */
export interface RunBenchOptions {
  /** Size of the run. */
  size: BenchSize;
  /** Only these measurements (names); default all. */
  only?: readonly string[];
  /** Progress lines go here; default stderr. */
  log?: (line: string) => void;
  /** The pixeldump figures on the shell emulators, not the compiled ones. */
  shellEmulators?: boolean;
}

/**
 * Runs the measurements and gathers the results. A measurement that fails
 * is reported as a skipped figure saying why; the others still run.
 *
 * @example
 * ```ts ignore
 * import { runBench } from "./mod.ts";
 * const r = await runBench({ size: "tiny", only: ["copy"] });
 * console.log(r.figures.length); // 2
 * ```
 */
export async function runBench(options: RunBenchOptions): Promise<BenchResults> {
  const plan = BENCH_SIZES[options.size];
  const log = options.log ?? ((l: string) => console.error(l));
  const only = options.only;
  for (const name of only ?? []) {
    if (!MEASUREMENTS.some((m) => m.name === name)) {
      throw new Error(
        `bench: no measurement '${name}'; known: ${MEASUREMENTS.map((m) => m.name).join(", ")}`,
      );
    }
  }
  chooseEmulators(options.shellEmulators ? "shell" : "compiled");
  const date = new Date().toISOString();
  const t0 = performance.now();
  const figures: Figure[] = [];
  for (const m of MEASUREMENTS) {
    if (only && !only.includes(m.name)) continue;
    const t = performance.now();
    log(`bench: ${m.name} (${m.title}) ...`);
    try {
      figures.push(...await m.run(plan));
    } catch (e) {
      figures.push(
        skipped(m.name, m.title, "-", "-", `failed: ${errorMessage(e).split("\n")[0]}`),
      );
    }
    log(`bench: ${m.name} done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return {
    machine: machineInfo(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date,
    command: `deno task bench${options.size === "quick" ? " --quick" : ""}${
      only ? ` --only ${only.join(",")}` : ""
    }${options.shellEmulators ? " --shell-emulators" : ""}`,
    quick: options.size !== "full",
    seconds: (performance.now() - t0) / 1000,
    figures,
  };
}

const USAGE =
  `usage: deno task bench [--quick] [--only NAME[,NAME...]] [--out FILE] [--shell-emulators]
  --quick   the reduced set (under a minute)
  --only    run only these: ${MEASUREMENTS.map((m) => m.name).join(", ")}
  --out     where the JSON goes (default bench/results.json, bench/results.quick.json
            with --quick, none with --only)
  --shell-emulators  the pixeldump figures on the shell emulators (testing/bin/devmem,
            pixeldump: 15-20 ms a run), not the compiled ones (testing/bin/emulators.c)`;

/**
 * The command line of `deno task bench`.
 *
 * @example
 * ```ts ignore
 * import { main } from "./mod.ts";
 * await main(["--quick", "--only", "copy"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let size: BenchSize = "full";
  let only: string[] | undefined;
  let out: string | undefined;
  let shellEmulators = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--quick") size = "quick";
    else if (a === "--tiny") size = "tiny";
    else if (a === "--only") only = (args[++i] ?? "").split(",").filter((s) => s);
    else if (a.startsWith("--only=")) only = a.slice(7).split(",").filter((s) => s);
    else if (a === "--out") out = args[++i];
    else if (a === "--shell-emulators") shellEmulators = true;
    else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`bench: unknown argument '${a}'\n${USAGE}`);
      return 2;
    }
  }
  out ??= only
    ? undefined
    : size === "full"
    ? `${ROOT}bench/results.json`
    : `${ROOT}bench/results.${size}.json`;
  const results = await runBench({ size, only, shellEmulators });
  const m = results.machine;
  console.log(
    `ringdump bench (${results.command}) on ${m.cpu}, ${m.cores} cores, ${
      (m.memoryBytes / GIB).toFixed(0)
    } GiB, Linux ${m.kernel}; Deno ${results.deno}; ${results.date}; ${
      results.seconds.toFixed(0)
    } s\n`,
  );
  console.log(formatTable(results.figures));
  console.log("");
  for (const f of results.figures) if (f.note) console.log(`- ${f.name}: ${f.note}`);
  if (out) {
    await Deno.writeTextFile(out, resultsJson(results));
    console.log(`\nwrote ${out}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
