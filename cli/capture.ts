/**
 * `ringdump capture`: flags become a backend and a sink; the capture shows
 * progress on a terminal, prints a summary, and exits with a code scripts can
 * trust ({@linkcode EXIT_CODES}).
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { Backend } from "../backends/types.ts";
import type { DumpStats } from "../lib/dumper.ts";
import { UsageError } from "../lib/errors.ts";
import type { Sink } from "../lib/sink/mod.ts";
import type { TraceSession } from "../lib/trace/mod.ts";
import { formatBytes, hex, parseDuration, parseInteger } from "../lib/units.ts";
import {
  addGeometryOptions,
  collect,
  durationFlag,
  type GeometryFlags,
  geometryFromFlags,
  LOG_LEVELS,
  sizeFlag,
} from "./options.ts";
import type { Progress } from "./progress.ts";

// Pre-formatted blocks for addHelpText (commander does not wrap them): keep
// their lines within 80 columns. Prose belongs in description(), which
// commander wraps to the terminal.
/**
 * The exit codes of a capture, as `--help` shows them.
 *
 * @example
 * ```ts
 * import { EXIT_CODES } from "./capture.ts";
 * console.log(EXIT_CODES.includes("70  internal error")); // true
 * ```
 */
export const EXIT_CODES: string = `
Exit codes:
  0   success (also after Ctrl-C/SIGTERM when nothing was lost)
  1   data lost (overrun, torn read, or pages skipped with --overrun gap),
      or verify failed
  2   usage error (bad flag, URL, geometry, or output path); nothing captured
  3   backend or device error; what was captured before it is on disk
  70  internal error (a bug: please report it)`;

interface CaptureFlags extends GeometryFlags {
  backend: string;
  backendModule: string[];
  period: string;
  minPeriod?: string;
  fixedPeriod: boolean;
  out: string;
  format?: "raw" | "wav";
  rate: string;
  channels: string;
  bits: string;
  duration?: string;
  maxBytes?: string;
  overrun: "fail" | "gap";
  inFlight: string;
  append: boolean;
  logLevel: string;
  progress: boolean;
  trace: string[];
  traceFormat?: string;
}

/**
 * Adds `ringdump capture` to a commander program; `onExit` gets the exit code
 * of a capture that ran to its end (1 when pages were lost).
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addCaptureCommand } from "./capture.ts";
 * const program = new Command("ringdump");
 * addCaptureCommand(program, (code) => console.log(code));
 * console.log(program.commands.map((c) => c.name())); // ["capture"]
 * ```
 */
export function addCaptureCommand(program: Command, onExit: (code: number) => void): Command {
  const capture = program
    .command("capture")
    .summary("Capture the ring to a file until a limit or Ctrl-C")
    .description(
      "Capture the ring to a file until --duration, --max-bytes, or Ctrl-C. " +
        "Every period it reads the page counter, reads the new pages (in two parts at the " +
        "ring's end), checks they were not overwritten while read, and appends them.\n\n" +
        "Numbers take hex (0x...), sizes take suffixes (4096, 64KiB, 8MiB), durations take " +
        "units (50ms, 1s).",
    )
    .addOption(
      new Option(
        "-b, --backend <url>",
        "where to read: sim:, devmem:[PATH], pixeldump:, ssh://HOST",
      )
        .default("sim:"),
    )
    .option(
      "--backend-module <path>",
      "load a backend plugin module first (repeatable)",
      collect,
      [] as string[],
    );
  addGeometryOptions(capture)
    .option(
      "-p, --period <dur>",
      "longest time between counter reads (50ms, 1s); sooner when the writer is fast",
      "100ms",
    )
    .option(
      "--min-period <dur>",
      "shortest time between counter reads (default: period / 20)",
    )
    .option(
      "--fixed-period",
      "read the counter every --period exactly, as the reference (no adaptive polling)",
      false,
    )
    .option("-o, --out <file>", "output file, or - for stdout", "capture.wav")
    .addOption(
      new Option("-f, --format <fmt>", "output format (default: wav for *.wav, else raw)")
        .choices(["raw", "wav"]),
    )
    .option("--rate <hz>", "WAV sample rate", "48000")
    .option("--channels <n>", "WAV channels", "2")
    .option("--bits <n>", "WAV bits per sample (8, 16, 24, 32)", "16")
    .option("-d, --duration <dur>", "stop after this long (3s, 500ms, 2m)")
    .option("--max-bytes <size>", "stop after this many bytes (64KiB, 1GiB)")
    .addOption(
      new Option(
        "--overrun <policy>",
        "when the writer laps the reader: fail, or gap (count and go on)",
      )
        .choices(["fail", "gap"]).default("fail"),
    )
    .option(
      "--in-flight <pages>",
      "pages the hardware may be writing beyond its counter; they count as torn " +
        "(1: it advances the counter after each page; N: after bursts of N)",
      "0",
    )
    .option("--append", "append to the output file instead of truncating it", false)
    .option("--no-progress", "no progress line, even on a terminal")
    .option(
      "--trace <path>",
      "trace where each period's time goes: FILE.json (Perfetto, chrome://tracing) or a CTF " +
        "directory (babeltrace2); repeatable, e.g. both formats of one run",
      collect,
      [] as string[],
    )
    .addOption(
      new Option(
        "--trace-format <fmt>",
        "format of every --trace (default: json for *.json, else ctf)",
      )
        .choices(["json", "ctf"]),
    )
    .addOption(
      new Option("--log-level <level>", "log detail on stderr (debug shows every period)")
        .choices(LOG_LEVELS as string[]).default("info"),
    )
    .addHelpText(
      "after",
      `
Examples:
  # 3 s of a tone from the simulated device, as WAV
  ringdump capture --duration 3s --out tone.wav
  # the counter pattern through a small ring at 8 MiB/s, then check it
  ringdump capture --backend 'sim:?pattern=counter&rate=8MiB' \\
      --page-size 16KiB --pages 16 --counter-wrap 0x100 --period 5ms \\
      --duration 2s --out c.bin && ringdump verify c.bin
  # real hardware through /dev/mem, raw bytes to stdout until Ctrl-C
  ringdump capture --backend devmem:/dev/mem --base 0x30000000 \\
      --counter 0x43c00010 --out - | xxd
${EXIT_CODES}`,
    )
    .action(async (flags: CaptureFlags) => onExit(await runCapture(flags)));
  return capture;
}

function summaryLine(stats: DumpStats, out: string): string {
  const secs = stats.elapsedMs / 1000;
  const rate = secs > 0 ? stats.bytes / secs : 0;
  return `captured ${formatBytes(stats.bytes)} (${stats.pages} pages) in ${secs.toFixed(2)} s ` +
    `(${formatBytes(rate)}/s), ${stats.periods} periods (${stats.emptyPeriods} empty; ` +
    `${secs > 0 ? (stats.periods / secs).toFixed(1) : "0"} polls/s, ` +
    `${stats.adaptive ? "adaptive" : "fixed"}, shortest interval ` +
    `${stats.shortestIntervalMs.toFixed(stats.shortestIntervalMs < 10 ? 1 : 0)} ms), ` +
    `headroom ${(stats.headroom * 100).toFixed(1)}% of the ring, ${stats.lostPages} pages lost ` +
    `-> ${out === "-" ? "stdout" : out}`;
}

/**
 * What a capture needs, loaded when it runs: `ringdump --help` and the other
 * commands do not load the backends, the dumper, LogTape or dax. String
 * literals, so `deno compile` and `deno bundle` still embed every module.
 */
function captureModules() {
  return Promise.all([
    import("@logtape/logtape"),
    import("../backends/mod.ts"),
    import("../lib/capture.ts"),
    import("../lib/dumper.ts"),
    import("../lib/sink/mod.ts"),
    import("./logging.ts"),
    import("./trace.ts"),
  ]);
}

async function runCapture(flags: CaptureFlags): Promise<number> {
  let exit = 0;
  const [
    { getLogger },
    { findBackend, loadBackendModule },
    { openCaptureBackend },
    { checkInFlight, Dumper },
    { openSink },
    { configureLogging },
    { startCaptureTrace },
  ] = await captureModules();
  const log = getLogger(["ringdump", "cli"]);
  configureLogging(flags.logLevel);
  for (const path of flags.backendModule) await loadBackendModule(path);
  const geometry = geometryFromFlags(flags);
  const period = parseDuration(flags.period, { option: "--period" });
  if (!(period > 0)) {
    throw new UsageError(`--period must be greater than 0 (got '${flags.period}')`, {
      option: "--period",
      value: flags.period,
    });
  }
  const minPeriod = flags.minPeriod === undefined
    ? undefined
    : parseDuration(flags.minPeriod, { option: "--min-period" });
  if (minPeriod !== undefined && !(minPeriod > 0 && minPeriod <= period)) {
    throw new UsageError(
      `--min-period must be greater than 0 and at most --period (got '${flags.minPeriod}', ` +
        `period '${flags.period}')`,
      { option: "--min-period", value: flags.minPeriod },
    );
  }
  const duration = durationFlag(flags.duration, "--duration");
  const maxBytes = sizeFlag(flags.maxBytes, "--max-bytes");
  if (maxBytes === 0) {
    throw new UsageError("--max-bytes must be greater than 0", { option: "--max-bytes" });
  }
  const inFlight = checkInFlight(
    parseInteger(flags.inFlight, { option: "--in-flight" }),
    geometry,
  );
  findBackend(flags.backend); // an unknown scheme is a usage error before anything opens
  const sinkOptions = {
    format: flags.format,
    append: flags.append,
    rate: parseInteger(flags.rate, { option: "--rate" }),
    channels: parseInteger(flags.channels, { option: "--channels" }),
    bits: parseInteger(flags.bits, { option: "--bits" }),
  };

  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      log.info("stopping: finishing the period in flight, then a final drain");
      controller.abort();
    } else {
      console.error("ringdump: second interrupt: exiting without the final drain");
      try {
        traceSession?.stop(); // leave a readable trace behind
      } catch { /* exiting anyway */ }
      Deno.exit(130);
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  let sink: Sink | undefined;
  let backend: Backend | undefined;
  let progress: Progress | undefined;
  let traceSession: TraceSession | undefined;
  let ok = false;
  let traceError: unknown;
  try {
    traceSession = await startCaptureTrace(flags.trace, { format: flags.traceFormat });
    // The backend first: a bad backend URL must not truncate an existing --out file.
    backend = await openCaptureBackend(flags.backend, { geometry, signal: controller.signal });
    sink = await openSink(flags.out, sinkOptions);
    log.debug("backend {name} open; ring {ring} at {base}, counter at {counter}", {
      name: backend.name,
      ring: formatBytes(geometry.ringBytes),
      base: hex(geometry.base),
      counter: hex(geometry.counterAddress),
    });
    const dumper = new Dumper(backend, sink, {
      geometry,
      period,
      minPeriod,
      fixedPeriod: flags.fixedPeriod,
      duration,
      maxBytes,
      overrun: flags.overrun,
      inFlight,
      signal: controller.signal,
    });
    if (
      flags.progress && Deno.stderr.isTerminal() && !["debug", "trace"].includes(flags.logLevel)
    ) {
      // dax's terminal helpers, only for a progress line on a terminal
      const { startProgress } = await import("./progress.ts");
      progress = startProgress(dumper, duration);
    }
    const stats = await dumper.run();
    progress?.stop();
    progress = undefined;
    await sink.close();
    console.error(summaryLine(stats, flags.out));
    if (stats.lostPages > 0) {
      console.error(
        `ringdump: ${stats.lostPages} pages were lost (${stats.overruns} overruns, ${stats.tornReads} torn reads); ` +
          `the output has gaps. Use a shorter --period or a larger ring.`,
      );
      exit = 1;
    }
    ok = true;
  } finally {
    progress?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    try {
      await sink?.close();
    } finally {
      try {
        await backend?.close();
      } finally {
        try {
          traceSession?.stop();
        } catch (e) {
          traceError = e;
          // After a failed capture, its own error is the one to report.
          if (!ok) console.error(`ringdump: ${(e as Error).message}`);
        }
      }
    }
  }
  if (traceError !== undefined) throw traceError;
  return exit;
}
