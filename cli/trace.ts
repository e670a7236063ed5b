/**
 * The `ringdump trace` commands: `trace stats` (per-call latency statistics
 * of a JSON or CTF trace) and `trace report` (a self-contained HTML page),
 * plus the helpers `capture --trace` uses.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { commandSummary } from "./help.ts";
import { openFailure, UsageError } from "../lib/errors.ts";
import type { TraceSession, TraceWriter } from "../lib/trace/mod.ts";

/**
 * lib/trace, loaded when a trace command or `capture --trace` runs, not by
 * `ringdump --help` (a string literal: deno compile and deno bundle embed it).
 */
const traceLib = () => import("../lib/trace/mod.ts");

/** The formats `--format` takes: lib/trace's TRACE_FORMATS (tests/startup_test.ts keeps them equal). */
const FORMAT_CHOICES = ["json", "ctf"];

/** What `trace stats` prints with `--json`. */
export interface TraceStatsJson {
  /** The trace read. */
  trace: string;
  /** Its format. */
  format: string;
  /** The tracer that wrote it (`ringdump`, `lttng-ust`). */
  tracer: string;
  /** The CTF trace directories read (not for ringdump's traces). */
  traces?: string[];
  /** Events in it. */
  events: number;
  /** Events the tracer discarded: > 0 means a lossy trace. */
  discarded_events: number;
  /** The begin/end events paired. */
  pairing: string;
  /** One entry per `backend_name:function_name` (`pipeline_name:function_name`), durations in ns. */
  calls: {
    key: string;
    /** ringdump's backend calls. */
    backend?: string;
    /** libcamera's IPA calls. */
    pipeline?: string;
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
 * import { JsonTraceWriter, startTracing } from "../lib/trace/mod.ts";
 * import { runTraceStats } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * const { output } = await runTraceStats(path, { json: true });
 * console.log(JSON.parse(output).calls); // []
 * await Deno.remove(path);
 * ```
 */
export async function runTraceStats(
  path: string,
  options: { backend?: string; pipeline?: string; json?: boolean; format?: string } = {},
): Promise<{ output: string; warning?: string }> {
  const { analyzeTrace, BACKEND_CALLS, formatTraceStats } = await traceLib();
  const a = await analyzeTrace(path, options);
  const stats = a.stats;
  const rule = a.rule;
  const nEnd = stats.unmatchedEnds.length, nBegin = stats.unmatchedBegins.length;
  const warnings: string[] = [];
  if (a.events === 0) {
    warnings.push(
      a.tracer === "ringdump"
        ? `ringdump: ${path}: the trace holds no events (a capture killed outright leaves what ` +
          `was not flushed yet unwritten; Ctrl-C or SIGTERM close a trace properly)`
        : `ringdump: ${path}: the trace holds no events (was 'lttng start' run before the ` +
          `program, and 'lttng stop' after it?)`,
    );
  }
  if (a.discarded > 0) {
    warnings.push(
      `ringdump: ${path}: the tracer discarded ${a.discarded} events (its buffers were full): ` +
        `these statistics are of a lossy trace; give the channel bigger or more sub-buffers`,
    );
  }
  if (nEnd || nBegin) {
    warnings.push(
      `ringdump: ${path}: ${nEnd} ${rule.end} without a begin, ${nBegin} ${rule.begin} without an end`,
    );
  }
  const filter = rule === BACKEND_CALLS ? options.backend : options.pipeline;
  if (filter !== undefined && stats.calls.length === 0 && nEnd + nBegin === 0) {
    if (a.calls.groups.size > 0) {
      warnings.push(
        `ringdump: ${path}: no calls of ${rule === BACKEND_CALLS ? "backend" : "pipeline"} ` +
          `'${filter}'; the trace has: ${[...a.calls.groups].sort().join(", ")}`,
      );
    }
  }
  const warning = warnings.length ? warnings.join("\n") : undefined;
  if (options.json) {
    const ipa = rule !== BACKEND_CALLS;
    const out: TraceStatsJson = {
      trace: path,
      format: a.format,
      tracer: a.tracer,
      ...(a.tracer === "ringdump" ? {} : { traces: [...a.traces] }),
      events: a.events,
      discarded_events: a.discarded,
      pairing: `${rule.begin}/${rule.end}`,
      calls: stats.calls.map((c) => ({
        key: c.key,
        ...(ipa ? { pipeline: c.backend } : { backend: c.backend }),
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
  return { output: formatTraceStats(stats, { what: rule.what }), warning };
}

/**
 * Runs `trace report`: reads the trace and writes the HTML page to `out`.
 * Returns the number of periods plotted.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, startTracing } from "../lib/trace/mod.ts";
 * import { runTraceReport } from "./trace.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * const out = await Deno.makeTempFile({ suffix: ".html" });
 * console.log(await runTraceReport(path, out)); // { periods: 0, events: 0 }
 * await Deno.remove(path);
 * await Deno.remove(out);
 * ```
 */
export async function runTraceReport(
  path: string,
  out: string,
  options: { format?: string; pipeline?: string } = {},
): Promise<{ periods: number; events: number }> {
  const { analyzeTrace, renderReport } = await traceLib();
  const a = await analyzeTrace(path, options);
  const html = renderReport(a.report, {
    title: `ringdump trace report: ${path.replace(/\/+$/, "").replace(/.*\//, "") || path}`,
    source: `${a.tracer === "ringdump" ? "" : `${a.tracer} `}${a.format.toUpperCase()} trace ` +
      `${path}${a.discarded ? ` (lossy: ${a.discarded} events discarded)` : ""}:`,
  });
  try {
    await Deno.writeTextFile(out, html);
  } catch (e) {
    throw new UsageError(
      `--out: cannot write '${out}': ${openFailure(e)}`,
      { option: "--out", value: out, cause: e },
    );
  }
  return { periods: a.report.periods.length, events: a.events };
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
 * await Deno.remove(path);
 * ```
 */
export async function startCaptureTrace(
  paths: readonly string[],
  options: { format?: string } = {},
): Promise<TraceSession | undefined> {
  // No tracing asked for: lib/trace is not loaded (a capture's start-up, issue 13).
  if (paths.length === 0 && options.format === undefined) return undefined;
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
    .summary(commandSummary("trace"))
    .description(
      "Analyse a trace written by 'capture --trace' (Chrome JSON or a CTF directory), or an " +
        "LTTng trace (a session directory or any directory below it), e.g. libcamera's.",
    )
    .addHelpText(
      "after",
      `
Examples:
  ringdump capture --duration 2s --trace t.json --out c.wav
  ringdump trace stats t.json
  ringdump trace report t.json -o report.html
  ringdump trace stats ~/lttng-traces/demo-20201029-184003 --pipeline rkisp1`,
    );
  const formatOption = () =>
    new Option("--format <fmt>", "trace format (default: detected)").choices(FORMAT_CHOICES);
  trace
    .command("stats")
    .summary("Latency statistics per backend or libcamera IPA call (p50, p99, ...)")
    .description(
      "Per backend call (backend_name:function_name), or per libcamera IPA call " +
        "(pipeline_name:function_name of libcamera:ipa_call_begin/_end, as " +
        "analyze-ipa-trace.py pairs them) in an LTTng trace: count, min, max, mean, stddev " +
        "(sample stddev for libcamera's, as the script), p50 and p99 of the begin/end " +
        "durations in ns. Nested and interleaved calls are matched with a stack per key; " +
        "unmatched ends are reported, not fatal. Events the tracer discarded are warned of.",
    )
    .argument("<path>", "trace: a .json file, a CTF directory or an LTTng session directory")
    .option("--backend <name>", "only this backend's calls ('ssh' takes in 'ssh+agent')")
    .option("-p, --pipeline <name>", "only this pipeline's IPA calls (libcamera traces)")
    .option("--json", "print JSON instead of a table", false)
    .addOption(formatOption())
    .addHelpText(
      "after",
      `
Examples:
  # trace a capture as JSON and as CTF at once, then read each
  ringdump capture --duration 2s --trace t.json --trace t-ctf --out c.wav
  ringdump trace stats t.json
  ringdump trace stats t-ctf --backend sim --json
  # libcamera's IPA calls, traced with lttng
  lttng create demo && lttng enable-event -u 'libcamera:*' && lttng start
  cam -c 1 -C 30 && lttng stop && lttng destroy
  ringdump trace stats ~/lttng-traces/demo-* --pipeline rkisp1`,
    )
    .action(async (
      path: string,
      flags: { backend?: string; pipeline?: string; json: boolean; format?: string },
    ) => {
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
        "backend call, or per libcamera IPA call of an LTTng trace.",
    )
    .argument("<path>", "trace: a .json file, a CTF directory or an LTTng session directory")
    .requiredOption("-o, --out <file>", "HTML file to write")
    .option("-p, --pipeline <name>", "only this pipeline's IPA calls (libcamera traces)")
    .addOption(formatOption())
    .addHelpText(
      "after",
      `
Examples:
  ringdump capture --duration 2s --trace t.json --out c.wav
  ringdump trace report t.json -o report.html
  ringdump trace report ~/lttng-traces/demo-20201029-184003 -o ipa.html`,
    )
    .action(async (path: string, flags: { out: string; format?: string; pipeline?: string }) => {
      const r = await runTraceReport(path, flags.out, flags);
      console.error(`wrote ${flags.out}: ${r.periods} periods, ${r.events} events`);
    });
  return trace;
}
