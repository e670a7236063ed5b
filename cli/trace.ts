/**
 * The `ringdump trace` commands: `trace stats` (per-call latency statistics
 * of a JSON or CTF trace) and `trace report` (a self-contained HTML page),
 * plus the helpers `capture --trace` uses.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { UsageError } from "../lib/errors.ts";
import type { TraceSession, TraceWriter } from "../lib/trace.ts";

/**
 * lib/trace.ts, loaded when a trace command or `capture --trace` runs, not by
 * `ringdump --help` (a string literal: deno compile and deno bundle embed it).
 */
const traceLib = () => import("../lib/trace.ts");

/** The trace formats `--format` takes (lib/trace.ts's TRACE_FORMATS; a test keeps them equal). */
const FORMAT_CHOICES = ["json", "ctf"];

/** What `trace stats` prints with `--json`. */
export interface TraceStatsJson {
  /** The trace read. */
  trace: string;
  /** Its format. */
  format: string;
  /** Events in it. */
  events: number;
  /** One entry per `backend_name:function_name`, durations in ns. */
  calls: {
    key: string;
    backend: string;
    function: string;
    count: number;
    min_ns: number;
    max_ns: number;
    mean_ns: number;
    stddev_ns: number;
    p50_ns: number;
    p99_ns: number;
  }[];
  /** Ends that had no begin. */
  unmatched_ends: { key: string; timestamp_ns: number }[];
  /** Begins that never ended. */
  unmatched_begins: { key: string; timestamp_ns: number }[];
}

/**
 * Runs `trace stats`: reads the trace and returns the table (or the JSON
 * text) to print, and warning lines for unmatched events, a filter that
 * matches nothing, or an empty trace, if any.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, startTracing } from "../lib/trace.ts";
 * import { runTraceStats } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * const { output } = await runTraceStats(path, { json: true });
 * console.log(JSON.parse(output).calls); // []
 * ```
 */
export async function runTraceStats(
  path: string,
  options: { backend?: string; json?: boolean; format?: string } = {},
): Promise<{ output: string; warning?: string }> {
  const { formatTraceStats, readTrace, traceStats } = await traceLib();
  const trace = await readTrace(path, { format: options.format });
  const stats = traceStats(trace.events, { backend: options.backend });
  const nEnd = stats.unmatchedEnds.length, nBegin = stats.unmatchedBegins.length;
  const warnings: string[] = [];
  if (trace.events.length === 0) {
    warnings.push(
      `ringdump: ${path}: the trace holds no events (a capture killed outright leaves what ` +
        `was not flushed yet unwritten; Ctrl-C or SIGTERM close a trace properly)`,
    );
  }
  if (nEnd || nBegin) {
    warnings.push(
      `ringdump: ${path}: ${nEnd} backend_call_end without a begin, ${nBegin} backend_call_begin without an end`,
    );
  }
  if (options.backend !== undefined && stats.calls.length === 0 && nEnd + nBegin === 0) {
    const all = new Set(
      trace.events.filter((e) => e.name === "backend_call_begin")
        .map((e) => String(e.fields.backend_name)),
    );
    if (all.size > 0) {
      warnings.push(
        `ringdump: ${path}: no calls of backend '${options.backend}'; the trace has: ${
          [...all].sort().join(", ")
        }`,
      );
    }
  }
  const warning = warnings.length ? warnings.join("\n") : undefined;
  if (options.json) {
    const out: TraceStatsJson = {
      trace: path,
      format: trace.format,
      events: trace.events.length,
      calls: stats.calls.map((c) => ({
        key: c.key,
        backend: c.backend,
        function: c.function,
        count: c.count,
        min_ns: c.min,
        max_ns: c.max,
        mean_ns: c.mean,
        stddev_ns: c.stddev,
        p50_ns: c.p50,
        p99_ns: c.p99,
      })),
      unmatched_ends: stats.unmatchedEnds.map((u) => ({ key: u.key, timestamp_ns: u.timestamp })),
      unmatched_begins: stats.unmatchedBegins.map((u) => ({
        key: u.key,
        timestamp_ns: u.timestamp,
      })),
    };
    return { output: JSON.stringify(out, null, 2), warning };
  }
  return { output: formatTraceStats(stats), warning };
}

/**
 * Runs `trace report`: reads the trace and writes the HTML page to `out`.
 * Returns the number of periods plotted.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, startTracing } from "../lib/trace.ts";
 * import { runTraceReport } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * const out = await Deno.makeTempFile({ suffix: ".html" });
 * console.log(await runTraceReport(path, out)); // { periods: 0, events: 0 }
 * ```
 */
export async function runTraceReport(
  path: string,
  out: string,
  options: { format?: string } = {},
): Promise<{ periods: number; events: number }> {
  const { readTrace, traceReport } = await traceLib();
  const trace = await readTrace(path, { format: options.format });
  const html = traceReport(trace.events, {
    title: `ringdump trace report: ${path.replace(/.*\//, "") || path}`,
    source: `${trace.format.toUpperCase()} trace ${path}:`,
  });
  try {
    await Deno.writeTextFile(out, html);
  } catch (e) {
    throw new UsageError(
      `--out: cannot write '${out}': ${
        e instanceof Deno.errors.NotFound
          ? "its directory does not exist"
          : e instanceof Deno.errors.PermissionDenied
          ? "permission denied"
          : (e as Error).message
      }`,
      { option: "--out", value: out, cause: e },
    );
  }
  return {
    periods: trace.events.filter((e) => e.name === "dumper_period_end").length,
    events: trace.events.length,
  };
}

/**
 * Starts tracing into every path of `capture --trace` (each JSON or CTF by
 * its extension, or all in `format`). Returns undefined when no path is given.
 * If a writer cannot be opened, those already opened are closed.
 *
 * @example
 * ```ts
 * import { startCaptureTrace } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * const session = await startCaptureTrace([path]);
 * session?.stop();
 * ```
 */
export async function startCaptureTrace(
  paths: readonly string[],
  options: { format?: string } = {},
): Promise<TraceSession | undefined> {
  const { openTraceWriter, startTracing, traceFormatFor } = await traceLib();
  if (options.format !== undefined) traceFormatFor("", options.format);
  if (paths.length === 0) {
    if (options.format !== undefined) {
      throw new UsageError("--trace-format needs --trace PATH", { option: "--trace-format" });
    }
    return undefined;
  }
  const writers: TraceWriter[] = [];
  try {
    for (const p of paths) writers.push(await openTraceWriter(p, { format: options.format }));
    return startTracing(writers);
  } catch (e) {
    for (const w of writers) {
      try {
        w.close();
      } catch { /* already failing */ }
    }
    throw e;
  }
}

/**
 * Adds `trace stats PATH [--backend NAME] [--json]` and
 * `trace report PATH -o FILE` to a commander program. Errors are thrown as
 * ringdump errors (a bad trace is a `TraceFormatError`, exit 2) for the
 * program's caller to report.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addTraceCommand } from "./trace.ts";
 * const program = new Command("ringdump");
 * addTraceCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["trace"]
 * ```
 */
export function addTraceCommand(program: Command): Command {
  const trace = program
    .command("trace")
    .summary("Analyse a trace written by 'capture --trace'")
    .description(
      "Analyse a trace written by 'capture --trace' (Chrome JSON or a CTF directory).",
    )
    .addHelpText(
      "after",
      `
Examples:
  ringdump capture --duration 2s --trace t.json --out c.wav
  ringdump trace stats t.json
  ringdump trace report t.json -o report.html`,
    );
  const formatOption = () =>
    new Option("--format <fmt>", "trace format (default: detected)").choices(FORMAT_CHOICES);
  trace
    .command("stats")
    .summary("Latency statistics per backend call (p50, p99, ...)")
    .description(
      "Per backend call (backend_name:function_name): count, min, max, mean, stddev, p50 " +
        "and p99 of the begin/end durations in ns. Nested and interleaved calls are " +
        "matched with a stack per key; unmatched ends are reported, not fatal.",
    )
    .argument("<path>", "trace: a .json file or a CTF directory")
    .option("--backend <name>", "only this backend's calls ('ssh' takes in 'ssh+agent')")
    .option("--json", "print JSON instead of a table", false)
    .addOption(formatOption())
    .addHelpText(
      "after",
      `
Examples:
  # trace a capture as JSON and as CTF at once, then read each
  ringdump capture --duration 2s --trace t.json --trace t-ctf --out c.wav
  ringdump trace stats t.json
  ringdump trace stats t-ctf --backend sim --json`,
    )
    .action(async (path: string, flags: { backend?: string; json: boolean; format?: string }) => {
      const { output, warning } = await runTraceStats(path, flags);
      console.log(output);
      if (warning) console.error(warning);
    });
  trace
    .command("report")
    .summary("Write a self-contained HTML report of a trace")
    .description(
      "Write one self-contained HTML page (inline SVG, no network): the period timeline " +
        "(bytes per period, headroom against the ring size) and a latency histogram per " +
        "backend call.",
    )
    .argument("<path>", "trace: a .json file or a CTF directory")
    .requiredOption("-o, --out <file>", "HTML file to write")
    .addOption(formatOption())
    .addHelpText(
      "after",
      `
Examples:
  ringdump capture --duration 2s --trace t.json --out c.wav
  ringdump trace report t.json -o report.html`,
    )
    .action(async (path: string, flags: { out: string; format?: string }) => {
      const r = await runTraceReport(path, flags.out, flags);
      console.error(`wrote ${flags.out}: ${r.periods} periods, ${r.events} events`);
    });
  return trace;
}
