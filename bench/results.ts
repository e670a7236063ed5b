/**
 * The shape of `deno task bench` results: every figure is a value measured
 * on ringdump, a reference measured in the same process or the same minute on
 * the same bytes, and their ratio. Also the machine description, the table
 * printed on stdout and `bench/results.json`.
 *
 * @module
 */

/** Which way a ratio is good. */
export type Better = "higher" | "lower";

/** A reference run a figure is compared with. */
export interface Reference {
  /** What the reference is, e.g. `dd if=IMG of=/dev/null bs=1M`. */
  readonly name: string;
  /** Its value, in the figure's unit (null when skipped). */
  readonly value: number | null;
}

/** One measured figure. */
export interface Figure {
  /** Short id, `group.what`, e.g. `copy.devmem_vs_copyinto`. */
  readonly name: string;
  /** What ringdump did, in one line. */
  readonly what: string;
  /** ringdump's value (null when skipped). */
  readonly value: number | null;
  /** Unit of `value` and of the reference's value. */
  readonly unit: string;
  /** The reference run. */
  readonly reference: Reference;
  /** `value / reference.value`, or the median of paired ratios (null when skipped). */
  readonly ratio: number | null;
  /** Which way the ratio is good. */
  readonly better: Better;
  /** The goal for the ratio, when the issue sets one. */
  readonly goal: number | null;
  /** Whether the ratio meets its goal (null without a goal or when skipped). */
  readonly met: boolean | null;
  /** Why the figure was not measured, when it was not. */
  readonly skipped?: string;
  /** Anything a reader must know to read the figure (sizes, what was excluded). */
  readonly note?: string;
}

/** What {@linkcode figure} takes. */
export interface FigureInit {
  /** See {@linkcode Figure.name}. */
  name: string;
  /** See {@linkcode Figure.what}. */
  what: string;
  /** ringdump's value. */
  value: number;
  /** Unit of both values. */
  unit: string;
  /** Reference name. */
  refName: string;
  /** Reference value. */
  refValue: number;
  /** Which way the ratio is good; default higher. */
  better?: Better;
  /** Goal for the ratio. */
  goal?: number;
  /** See {@linkcode Figure.note}. */
  note?: string;
  /**
   * The ratio, when it is not `value / refValue`: e.g. the median of the
   * ratios of runs made back to back, which a noisy machine disturbs less.
   */
  ratio?: number;
}

/**
 * Builds a figure: the ratio `value / refValue` and whether it meets its goal.
 *
 * @example
 * ```ts
 * import { figure } from "./results.ts";
 * const f = figure({ name: "x", what: "x", value: 9, unit: "MB/s", refName: "y", refValue: 10, goal: 0.8 });
 * console.log(f.ratio, f.met); // 0.9 true
 * ```
 */
export function figure(init: FigureInit): Figure {
  const better = init.better ?? "higher";
  const ratio = init.ratio ?? init.value / init.refValue;
  const goal = init.goal ?? null;
  const met = goal === null
    ? null
    : !Number.isFinite(ratio)
    ? false
    : better === "higher"
    ? ratio >= goal
    : ratio <= goal;
  return {
    name: init.name,
    what: init.what,
    value: init.value,
    unit: init.unit,
    reference: { name: init.refName, value: init.refValue },
    ratio: Number.isFinite(ratio) ? ratio : null,
    better,
    goal,
    met,
    ...(init.note === undefined ? {} : { note: init.note }),
  };
}

/**
 * A figure that could not be measured here, and why.
 *
 * @example
 * ```ts
 * import { skipped } from "./results.ts";
 * console.log(skipped("remote.ssh_dd", "ssh via=dd", "MiB/s", "ssh cat", "sshd missing").skipped);
 * ```
 */
export function skipped(
  name: string,
  what: string,
  unit: string,
  refName: string,
  why: string,
  options: { better?: Better; goal?: number } = {},
): Figure {
  return {
    name,
    what,
    value: null,
    unit,
    reference: { name: refName, value: null },
    ratio: null,
    better: options.better ?? "higher",
    goal: options.goal ?? null,
    met: null,
    skipped: why,
  };
}

/** The machine a run was made on. */
export interface Machine {
  /** CPU model name. */
  readonly cpu: string;
  /** Logical cores. */
  readonly cores: number;
  /** Total memory, bytes. */
  readonly memoryBytes: number;
  /** Kernel release. */
  readonly kernel: string;
  /** `Deno.build.target`. */
  readonly target: string;
}

/** Everything `bench/results.json` holds. */
export interface BenchResults {
  /** The machine. */
  readonly machine: Machine;
  /** Deno's version. */
  readonly deno: string;
  /** V8's version. */
  readonly v8: string;
  /** When the run started, ISO 8601. */
  readonly date: string;
  /** The command that made it. */
  readonly command: string;
  /** Whether it was the reduced `--quick` set. */
  readonly quick: boolean;
  /** Wall time of the whole run, s. */
  readonly seconds: number;
  /** Every figure, in order. */
  readonly figures: readonly Figure[];
}

/**
 * Describes this machine.
 *
 * @example
 * ```ts
 * import { machineInfo } from "./results.ts";
 * console.log(machineInfo().cores > 0); // true
 * ```
 */
export function machineInfo(): Machine {
  let cpu = "unknown";
  try {
    const m = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.*)$/m);
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  let memoryBytes = 0;
  try {
    memoryBytes = Deno.systemMemoryInfo().total;
  } catch {
    // no --allow-sys
  }
  let kernel = "unknown";
  try {
    kernel = Deno.osRelease();
  } catch {
    // no --allow-sys
  }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryBytes,
    kernel,
    target: Deno.build.target,
  };
}

function num(v: number | null, unit?: string): string {
  if (v === null) return "-";
  const a = Math.abs(v);
  const s = a === 0
    ? "0"
    : a >= 100
    ? v.toFixed(0)
    : a >= 10
    ? v.toFixed(1)
    : a >= 1
    ? v.toFixed(2)
    : v.toPrecision(2);
  return unit ? `${s} ${unit}` : s;
}

function short(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.length > 60 ? `${plain.slice(0, 57)}...` : plain;
}

function goalText(f: Figure): string {
  if (f.goal === null) return "-";
  return `${f.better === "higher" ? ">=" : "<="} ${f.goal}`;
}

/**
 * Formats figures as a Markdown table (also readable on a terminal).
 *
 * @example
 * ```ts
 * import { figure, formatTable } from "./results.ts";
 * const t = formatTable([figure({ name: "x", what: "x", value: 1, unit: "s", refName: "y", refValue: 2 })]);
 * console.log(t.split("\n").length); // 3
 * ```
 */
export function formatTable(figures: readonly Figure[]): string {
  const rows = [["figure", "ringdump", "reference", "ref. value", "ratio", "goal", "met"]];
  for (const f of figures) {
    rows.push([
      f.name,
      f.skipped ? `skipped: ${short(f.skipped)}` : num(f.value, f.unit),
      f.reference.name,
      num(f.reference.value, f.unit),
      f.ratio === null ? "-" : f.ratio.toFixed(2),
      goalText(f),
      f.met === null ? "-" : f.met ? "yes" : "**no**",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(rows[0]),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

/**
 * The JSON written to `bench/results.json` (NaN and infinities become null).
 *
 * @example
 * ```ts
 * import { resultsJson } from "./results.ts";
 * console.log(resultsJson({ a: NaN })); // '{\n  "a": null\n}\n'
 * ```
 */
export function resultsJson(results: unknown): string {
  return JSON.stringify(
    results,
    (_k, v) => typeof v === "number" && !Number.isFinite(v) ? null : v,
    2,
  ) + "\n";
}
