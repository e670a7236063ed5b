/**
 * `ringdump capture`: flags become a backend and a sink; the capture shows
 * progress on a terminal, prints a summary, and exits with a code scripts can
 * trust ({@linkcode EXIT_CODES}).
 *
 * @module
 */
import { type Command, Option } from "commander";
import { commandSummary, EXIT_CODES } from "./help.ts";
import type { CaptureOptions } from "../lib/capture.ts";
import type { DumpStats } from "../lib/dumper_options.ts";
import { OutputClosedError } from "../lib/errors.ts";
import type { Sink } from "../lib/sink/mod.ts";
import type { TraceSession } from "../lib/trace/mod.ts";
import { formatBytes, hex, parseDuration, parseInteger, plural } from "../lib/units.ts";
import { cliMessage } from "./errors.ts";
import { UsageError } from "../lib/errors.ts";
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
// commander wraps to the terminal. The exit codes are cli/help.ts's (the
// top-level help shows them too).
export { EXIT_CODES };

/**
 * Interrupts closer together than this, ms, are one (a task runner relays
 * Ctrl-C, and the terminal sends it to the process group too).
 *
 * @example
 * ```ts
 * import { SIGNAL_WINDOW_MS } from "./capture.ts";
 * console.log(SIGNAL_WINDOW_MS); // 500
 * ```
 */
export const SIGNAL_WINDOW_MS = 500;

interface CaptureFlags extends GeometryFlags {
  backend: string;
  backendModule: string[];
  period: string;
  minPeriod?: string;
  fixedPeriod: boolean;
  out: string;
  format?: "raw" | "wav";
  sampleRate: string;
  /** Deprecated `--rate`: the WAV sample rate (not a data rate, as `sim --rate` is). */
  rate?: string;
  channels: string;
  bits: string;
  duration?: string;
  maxBytes?: string;
  overrun: "fail" | "gap";
  inFlight?: string;
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
    .summary(commandSummary("capture"))
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
    .option("--min-period <dur>", "shortest time between counter reads (default: period / 20)")
    .option(
      "--fixed-period",
      "poll every --period, as the reference (no adaptive polling; the first poll half a period in)",
      false,
    )
    .option("-o, --out <file>", "output file, or - for stdout", "capture.wav")
    .addOption(
      new Option("-f, --format <fmt>", "output format (default: wav for *.wav, else raw)")
        .choices(["raw", "wav"]),
    )
    .option("--sample-rate <hz>", "WAV sample rate in Hz", "48000")
    .addOption(
      new Option("--rate <hz>", "deprecated name of --sample-rate").hideHelp(),
    )
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
        "(1, the default: it advances the counter after each page; N: after bursts of N; " +
        "0 only for a writer that publishes before it writes)",
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
  # the counter pattern at 1 MiB/s through a 1 MiB ring, then check it
  ringdump capture --backend 'sim:?pattern=counter&rate=1MiB' \\
      --pages 256 --counter-wrap 0x140 --period 20ms \\
      --duration 3s --out c.bin && ringdump verify c.bin
  # real hardware through /dev/mem, raw bytes to stdout until Ctrl-C
  ringdump capture --backend devmem:/dev/mem --base 0x30000000 \\
      --counter 0x43c00010 --out - | xxd
${EXIT_CODES}`,
    )
    .action(async (flags: CaptureFlags) => onExit(await runCapture(flags)));
  return capture;
}

/**
 * The one line a capture ends with, e.g. `captured 4.00 MiB (1024 pages) in
 * 1.00 s (4.00 MiB/s), 50 periods (0 empty), headroom 35.9% of the ring, 0
 * pages lost -> t.bin`. Headroom past 100% means the writer lapped the
 * reader: the line says how many pages that lost instead.
 *
 * @example
 * ```ts
 * import { summaryLine } from "./capture.ts";
 * const line = summaryLine({
 *   bytes: 4096, pages: 1, periods: 1, emptyPeriods: 0, elapsedMs: 431, headroom: 13.125,
 *   lostPages: 52,
 * }, "c.bin");
 * console.log(line.includes("(1 page)") && line.includes("the writer lapped the reader")); // true
 * ```
 */
export function summaryLine(
  stats:
    & Pick<
      DumpStats,
      "bytes" | "pages" | "periods" | "emptyPeriods" | "elapsedMs" | "headroom" | "lostPages"
    >
    & Partial<Pick<DumpStats, "adaptive" | "shortestIntervalMs">>,
  out: string,
): string {
  const secs = stats.elapsedMs / 1000;
  const rate = secs > 0 ? stats.bytes / secs : 0;
  // What the poll scheduler did (lib/schedule.ts): polls per second, shortest interval.
  const shortest = stats.shortestIntervalMs ?? 0;
  const schedule = stats.adaptive === undefined
    ? ""
    : `; ${secs > 0 ? (stats.periods / secs).toFixed(1) : "0"} polls/s, ${
      stats.adaptive ? "adaptive" : "fixed period"
    }, shortest interval ${shortest.toFixed(shortest < 10 ? 1 : 0)} ms`;
  const headroom = stats.headroom > 1
    ? `the writer lapped the reader (${plural(stats.lostPages, "page")} lost)`
    : `headroom ${(stats.headroom * 100).toFixed(1)}% of the ring, ${
      plural(stats.lostPages, "page")
    } lost`;
  return `captured ${formatBytes(stats.bytes)} (${plural(stats.pages, "page")}) in ${
    secs.toFixed(2)
  } s (${formatBytes(rate)}/s), ${plural(stats.periods, "period")} (${stats.emptyPeriods} ` +
    `empty${schedule}), ${headroom} -> ${out === "-" ? "stdout" : out}`;
}

/** `--sample-rate`, or the deprecated `--rate` with a warning (a data rate there is refused). */
function sampleRateFlag(flags: CaptureFlags): number {
  if (flags.rate === undefined) return parseInteger(flags.sampleRate, { option: "--sample-rate" });
  if (!/^\s*(0x[0-9a-f]+|[0-9_]+)\s*$/i.test(flags.rate)) {
    throw new UsageError(
      `capture --rate '${flags.rate}': capture's --rate is the WAV sample rate in Hz (now ` +
        `--sample-rate); the simulated device's data rate goes in the URL: ` +
        `--backend 'sim:?rate=${flags.rate}'`,
      { option: "--rate", value: flags.rate },
    );
  }
  console.error(
    "ringdump: capture --rate is deprecated: it is the WAV sample rate in Hz; use --sample-rate",
  );
  return parseInteger(flags.rate, { option: "--rate" });
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
    import("../backends/process.ts"),
    import("../lib/capture.ts"),
    import("./logging.ts"),
    import("./trace.ts"),
  ]);
}

async function runCapture(flags: CaptureFlags): Promise<number> {
  const [
    { getLogger },
    { loadBackendModule, parseBackendUrl },
    { killRunningCommands },
    { capture, checkCaptureOptions },
    { configureLogging },
    { startCaptureTrace },
  ] = await captureModules();
  const log = getLogger(["ringdump", "cli"]);
  configureLogging(flags.logLevel);
  for (const path of flags.backendModule) await loadBackendModule(path);
  const options: CaptureOptions = {
    backend: flags.backend,
    geometry: geometryFromFlags(flags),
    out: flags.out,
    period: parseDuration(flags.period, { option: "--period" }),
    minPeriod: flags.minPeriod === undefined
      ? undefined
      : parseDuration(flags.minPeriod, { option: "--min-period" }),
    fixedPeriod: flags.fixedPeriod,
    duration: durationFlag(flags.duration, "--duration"),
    maxBytes: sizeFlag(flags.maxBytes, "--max-bytes"),
    overrun: flags.overrun,
    inFlight: flags.inFlight === undefined
      ? undefined
      : parseInteger(flags.inFlight, { option: "--in-flight" }),
    format: flags.format,
    append: flags.append,
    rate: sampleRateFlag(flags),
    channels: parseInteger(flags.channels, { option: "--channels" }),
    bits: parseInteger(flags.bits, { option: "--bits" }),
  };
  // Bad options are refused before anything opens (no trace file, no truncated --out),
  // and so is an output that is the image read, a trace or another output.
  const geometry = checkCaptureOptions(options);
  await refuseSharedFiles(flags, { parseBackendUrl });

  const controller = new AbortController();
  let traceSession: TraceSession | undefined;
  let sink: Sink | undefined;
  let firstSignal: number | undefined;
  let exiting = false;
  const onSignal = () => {
    const now = performance.now();
    if (firstSignal === undefined) {
      firstSignal = now;
      log.info("stopping: finishing the period in flight, then a final drain");
      controller.abort();
      return;
    }
    // One Ctrl-C reaches ringdump twice under a task runner (it relays it,
    // and the terminal sends it to the process group): one stop.
    if (now - firstSignal < SIGNAL_WINDOW_MS || exiting) return;
    exiting = true;
    console.error(
      "ringdump: second interrupt: exiting without the final drain (the output is closed first)",
    );
    killRunningCommands();
    void (async () => {
      try {
        await sink?.close(); // a WAV is valid already; this syncs it
      } catch (e) {
        console.error(`ringdump: ${cliMessage(e)}`);
      }
      try {
        traceSession?.stop(); // leave a readable trace behind
      } catch { /* exiting anyway */ }
      Deno.exit(130);
    })();
  };
  const showProgress = flags.progress && Deno.stderr.isTerminal() &&
    !["debug", "trace"].includes(flags.logLevel);
  let progress: Progress | undefined;
  let ok = false;
  let exit = 0;
  let traceError: unknown;
  // dax's terminal helpers, only for a progress line on a terminal
  const progressModule = showProgress ? await import("./progress.ts") : undefined;
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    traceSession = await startCaptureTrace(flags.trace, { format: flags.traceFormat });
    let stats: DumpStats;
    try {
      stats = await capture({
        ...options,
        geometry,
        signal: controller.signal,
        onStart: ({ backend, sink: s, dumper }) => {
          sink = s;
          log.debug("backend {name} open; ring {ring} at {base}, counter at {counter}", {
            name: backend.name,
            ring: formatBytes(geometry.ringBytes),
            base: hex(geometry.base),
            counter: hex(geometry.counterAddress),
          });
          if (showProgress) progress = progressModule?.startProgress(dumper, options.duration);
        },
      });
    } catch (e) {
      if (!(e instanceof OutputClosedError)) throw e;
      // `--out - | head`: the reader has what it wanted. A note, exit 0.
      progress?.stop();
      console.error(`ringdump: ${cliMessage(e)}`);
      ok = true;
      return 0;
    }
    progress?.stop();
    console.error(summaryLine(stats, flags.out));
    ok = true;
    if (stats.glitches > 0) {
      console.error(
        `ringdump: the counter register glitched ${plural(stats.glitches, "time")} (readings ` +
          `not believed: contradicted by a second read, or implausible); check the hardware`,
      );
    }
    if (stats.lostPages > 0 || stats.unknownLosses > 0) {
      console.error(
        `ringdump: ${plural(stats.lostPages, "page was", "pages were")} lost (${
          plural(stats.overruns, "overrun")
        }, ${plural(stats.tornReads, "torn read")}` +
          (stats.unknownLosses > 0
            ? `, ${
              plural(stats.unknownLosses, "loss", "losses")
            } of unknown size: a stall long enough for the counter to wrap unseen, or an implausible counter`
            : "") +
          `); the output has gaps. Use a shorter --period or a larger ring.`,
      );
      exit = 1;
    }
  } finally {
    progress?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    try {
      traceSession?.stop();
    } catch (e) {
      traceError = e;
      // After a failed capture, its own error is the one to report.
      if (!ok) console.error(`ringdump: ${cliMessage(e)}`);
    }
  }
  // Reached only after a capture that ended well: then a trace that failed is the error.
  if (traceError !== undefined) throw traceError;
  return exit;
}

/** An output, the image read, or a trace: a file ringdump writes or reads. */
interface Role {
  readonly role: string;
  readonly path: string;
}

async function identity(path: string): Promise<string | undefined> {
  try {
    const st = await Deno.stat(path);
    return st.dev !== null && st.ino !== null ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`.replace(/\/\.\//g, "/");
}

/**
 * Refuses (exit 2) an output that is the same file as the memory image read,
 * a trace, or another output: by device and inode when it exists, by path
 * when not yet (docs/design.md rule 9).
 */
async function refuseSharedFiles(
  flags: CaptureFlags,
  { parseBackendUrl }: { parseBackendUrl: (text: string) => URL },
): Promise<void> {
  const roles: Role[] = [];
  if (flags.out !== "-") roles.push({ role: "--out", path: flags.out });
  for (const t of flags.trace) roles.push({ role: "--trace", path: t });
  try {
    const url = parseBackendUrl(flags.backend);
    if (url.protocol === "devmem:") {
      roles.push({
        role: "the memory image read by --backend",
        path: decodeURIComponent(url.pathname) || "/dev/mem",
      });
    }
  } catch { /* a bad URL is reported when the backend opens */ }
  const ids = await Promise.all(roles.map((r) => identity(r.path)));
  for (let i = 0; i < roles.length; i++) {
    for (let j = i + 1; j < roles.length; j++) {
      const same = (ids[i] !== undefined && ids[i] === ids[j]) ||
        absolute(roles[i].path) === absolute(roles[j].path);
      if (!same) continue;
      const [a, b] = [roles[i], roles[j]];
      throw new UsageError(
        `${a.role} ${a.path} is the same file as ${b.role} ${b.path}; ` +
          `writing one would destroy the other: give each its own file`,
        { option: a.role.startsWith("--") ? a.role : "--out", value: a.path },
      );
    }
  }
}
