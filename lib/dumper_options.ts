/**
 * What a {@linkcode Dumper} is given and what it reports: its options, the
 * checks on them (made before anything is opened), the statistics and the
 * per-append event.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import { UsageError } from "./errors.ts";
import type { RingGeometry } from "./ring.ts";

/** What to do when the writer laps the reader. */
export type OverrunPolicy = "fail" | "gap";

/** Why a capture ended. */
export type StopReason = "signal" | "duration" | "max-bytes";

/** Passed to `onDump` after each append (the reference's dump_callback). */
export interface DumpEvent {
  /** Logical number of the first page appended. */
  readonly firstPage: number;
  /** Pages appended (0 when only a loss is reported). */
  readonly pages: number;
  /** Bytes appended. */
  readonly bytes: number;
  /** Bytes appended in the whole capture so far. */
  readonly totalBytes: number;
  /** Pages lost right before this append (gap policy), else 0. */
  readonly lostPages: number;
  /** Pages lost in the whole capture so far. */
  readonly totalLostPages: number;
  /** Worst headroom so far (see {@linkcode DumpStats.headroom}). */
  readonly headroom: number;
}

/** Statistics of a capture. */
export interface DumpStats {
  /** Bytes appended to the sink. */
  bytes: number;
  /** Whole pages appended. */
  pages: number;
  /** Periods run, including the final drain. */
  periods: number;
  /** Periods that found no new page. */
  emptyPeriods: number;
  /** Pages lost (gap policy); with `fail` the error carries them instead. */
  lostPages: number;
  /** Overruns seen (gap policy). */
  overruns: number;
  /** Torn reads seen (gap policy). */
  tornReads: number;
  /**
   * Counter readings not believed: a jump or a step back that a second read
   * contradicted, or (gap policy) a value implausible for the time elapsed.
   */
  glitches: number;
  /**
   * Losses whose size is only an estimate (gap policy): the capture was away
   * long enough for the counter to wrap unseen, or the counter read an
   * implausible value. Any of them means data was lost.
   */
  unknownLosses: number;
  /** Periods the reference's coarser overlap check would have flagged. */
  referenceOverlaps: number;
  /** Worst `(writer - reader) / pages` seen: 1 means the writer caught up with the reader. */
  headroom: number;
  /** Largest number of new pages one reading found (a poll with a head start has two). */
  maxPagesPerPeriod: number;
  /** Logical page count at the first counter read (the baseline). */
  firstPage: number;
  /** Logical page count up to which everything was read. */
  endPage: number;
  /** Counter reads (including the re-reads after each read). */
  counterReads: number;
  /**
   * Polls that took the previous poll's last counter reading (the check after
   * its reads) instead of a fresh one: adaptive polling, with the next poll
   * due before a fresh read could finish (lib/schedule.ts reuseReading).
   */
  reusedReadings: number;
  /**
   * Polls that began with the pages the last check proved written, checked at
   * once, and took that check as their reading (docs/design.md, "Head
   * start"): the ring was expected to be more than half full at a plain
   * poll's check.
   */
  headStarts: number;
  /** Backend reads. */
  reads: number;
  /** Wall time of the capture, ms. */
  elapsedMs: number;
  /** Whether the period adapted to the writer's rate (not `fixedPeriod`). */
  adaptive: boolean;
  /** Shortest time from the start of one period to the start of the next, ms (0 with fewer than two). */
  shortestIntervalMs: number;
  /** Why it ended, when it ended normally. */
  stopReason?: StopReason;
}

/**
 * The statistics of a capture that has not started: every count 0, adaptive.
 *
 * @example
 * ```ts
 * import { emptyDumpStats } from "./dumper_options.ts";
 * console.log(emptyDumpStats().counterReads); // 0
 * ```
 */
export function emptyDumpStats(): DumpStats {
  return {
    bytes: 0,
    pages: 0,
    periods: 0,
    emptyPeriods: 0,
    lostPages: 0,
    overruns: 0,
    tornReads: 0,
    glitches: 0,
    unknownLosses: 0,
    referenceOverlaps: 0,
    headroom: 0,
    maxPagesPerPeriod: 0,
    firstPage: 0,
    endPage: 0,
    counterReads: 0,
    reusedReadings: 0,
    headStarts: 0,
    reads: 0,
    elapsedMs: 0,
    adaptive: true,
    shortestIntervalMs: 0,
  };
}

/** Options of a {@linkcode Dumper}. */
export interface DumperOptions {
  /** The ring to capture. */
  geometry: RingGeometry;
  /**
   * The longest time between counter reads, ms; default 100. Adaptive (the
   * default): the next read is scheduled for when the ring is expected to be
   * half full at the rate measured so far (lib/schedule.ts), never sooner
   * than `minPeriod`, never later than `period`. With `fixedPeriod`, exactly
   * every `period`, as the reference.
   */
  period?: number;
  /** The shortest time between counter reads, ms (adaptive polling); default period / 20. */
  minPeriod?: number;
  /**
   * Poll every `period` (the first poll half a period after the baseline),
   * not sooner when the writer is fast; default false.
   */
  fixedPeriod?: boolean;
  /** Overrun policy; default `fail`. */
  overrun?: OverrunPolicy;
  /** Stops the capture: the period in flight finishes, then one final drain. */
  signal?: AbortSignal;
  /** Stop after this many ms. */
  duration?: number;
  /** Stop after this many bytes (the last append is cut to fit). */
  maxBytes?: number;
  /**
   * Pages the hardware may be writing beyond the counter it has published
   * (see {@linkcode firstIntactPage}, docs/design.md rule 4): default 1, right
   * for hardware that writes a page and then advances the counter (0 for a
   * ring of one page); 0 only for a writer known to publish before it
   * writes, the burst size for one that publishes bursts. Must be below the
   * ring's page count. Pages within reach of those writes are treated as torn.
   */
  inFlight?: number;
  /** Largest single backend read, bytes (rounded down to whole pages); default 4 MiB. */
  maxReadBytes?: number;
  /**
   * Bytes read (in order, one or more reads) before one counter re-read
   * checks them all (docs/design.md rule 4); default: the backend's
   * {@linkcode Backend.checkBatchBytes}, else one check per read. Pages are
   * read in order and the counter only grows, so the counter after the last
   * read of a batch is the strictest check of every read in it: a page that
   * was overwritten while it was read is caught exactly as by its own check
   * (a page overwritten after its read, before the check, counts as torn
   * too). Fewer counter reads matter where each is a process or a round trip.
   */
  checkBatchBytes?: number;
  /**
   * Bytes of batches (`checkBatchBytes` each) the dumper hands to
   * `readThenRegister` at once, then checks in order, each against the
   * counter read after its own reads; default: the backend's
   * {@linkcode Backend.pipelineBytes}, else one batch at a time. Only for a
   * backend with `readThenRegister`.
   */
  pipelineBytes?: number;
  /**
   * Ramped checks (docs/design.md, "Ramped checks"): when a counter read is
   * cheap (the extra ones cost at most 2% of a period, as with devmem), a
   * poll's first read is this many bytes, checked at once, and each read
   * after it twice as large, up to `maxReadBytes`. The oldest pages of a poll
   * are the ones the writer reaches first; checked right after their own
   * small read, they are not judged by a counter read that waited for the
   * whole poll's reads. Default 64 KiB, or 0 (off) where checks are batched
   * (`checkBatchBytes`: a backend whose check is a process or a remote
   * command); 0 turns the ramp off.
   */
  rampBytes?: number;
  /**
   * Before the baseline counter read, read the counter and the ring's first
   * `min(ring, 4 MiB)` once and discard them; default true. The first poll
   * otherwise pays every cold cost of the backend at once (a new ssh
   * connection's first megabytes: 600 ms for 4 MiB where the next 4 MiB take
   * 60 ms; the first process of a tool; the read buffer's page faults),
   * which at a high writer rate loses the first poll of a capture that would
   * keep up from then on. Nothing read then is captured (the capture starts
   * at the baseline, docs/design.md rule 6); a failed warm-up read ends the
   * capture as the first poll's read would, before any output exists.
   */
  warmUp?: boolean;
  /** Clock; default the system's monotonic clock. */
  clock?: Clock;
  /** Called after each append, and after a loss. */
  onDump?: (event: DumpEvent) => void | Promise<void>;
  /**
   * Called once the backend has answered the baseline counter read, before
   * anything is appended: where the output is created or truncated
   * (docs/design.md rule 9). An error ends the capture.
   */
  onBaseline?: (counter: number) => void | Promise<void>;
}

/**
 * Checks a {@linkcode Dumper}'s options (period, overrun policy, duration,
 * max bytes, and `inFlight` when given) without opening anything, so a
 * caller can refuse bad options before it opens a backend or truncates an
 * output. The Dumper's constructor makes the same checks.
 *
 * @example
 * ```ts
 * import { checkDumperOptions } from "./dumper_options.ts";
 * import { errorMessage } from "./errors.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * checkDumperOptions({ geometry, period: 50 }); // fine
 * try {
 *   checkDumperOptions({ geometry, period: 0 });
 * } catch (e) {
 *   console.log(errorMessage(e)); // "period must be greater than 0 (got 0 ms)"
 * }
 * ```
 */
export function checkDumperOptions(options: DumperOptions): void {
  const period = options.period ?? 100;
  const policy = options.overrun ?? "fail";
  if (!(period > 0) || !Number.isFinite(period)) {
    throw new UsageError(`period must be greater than 0 (got ${period} ms)`, {
      option: "period",
      value: String(period),
    });
  }
  const minPeriod = options.minPeriod ?? period / 20;
  if (!(minPeriod > 0) || !Number.isFinite(minPeriod) || minPeriod > period) {
    throw new UsageError(
      `minPeriod must be greater than 0 and at most period (got ${minPeriod} ms, period ${period} ms)`,
      { option: "minPeriod", value: String(minPeriod) },
    );
  }
  if (policy !== "fail" && policy !== "gap") {
    throw new UsageError(`overrun must be 'fail' or 'gap' (got '${policy}')`, {
      option: "overrun",
      value: String(policy),
    });
  }
  if (options.duration !== undefined && !(options.duration >= 0)) {
    throw new UsageError(`duration must not be negative (got ${options.duration} ms)`, {
      option: "duration",
      value: String(options.duration),
    });
  }
  if (options.maxBytes !== undefined && !(options.maxBytes > 0)) {
    throw new UsageError(`maxBytes must be greater than 0 (got ${options.maxBytes})`, {
      option: "maxBytes",
      value: String(options.maxBytes),
    });
  }
  if (
    options.rampBytes !== undefined &&
    !(Number.isSafeInteger(options.rampBytes) && options.rampBytes >= 0)
  ) {
    throw new UsageError(
      `rampBytes must be a whole number of bytes, 0 or more (got ${options.rampBytes})`,
      { option: "rampBytes", value: String(options.rampBytes) },
    );
  }
  if (options.inFlight !== undefined) checkInFlight(options.inFlight, options.geometry);
}

/**
 * The default `inFlight` for a ring (docs/design.md rule 4): 1, safe for
 * hardware that writes a page and then advances its counter; 0 for a ring of
 * a single page, where 1 is not allowed.
 *
 * @example
 * ```ts
 * import { defaultInFlight } from "./dumper_options.ts";
 * console.log(defaultInFlight({ pages: 256 }), defaultInFlight({ pages: 1 })); // 1 0
 * ```
 */
export function defaultInFlight(geometry: { pages: number }): number {
  return geometry.pages > 1 ? 1 : 0;
}

/**
 * Validates an `inFlight` page count for a ring (see
 * {@linkcode DumperOptions.inFlight}): a whole number from 0 to `pages - 1`.
 * Returns it, or throws a {@linkcode UsageError} naming `--in-flight`.
 *
 * @example
 * ```ts
 * import { checkInFlight } from "./dumper_options.ts";
 * console.log(checkInFlight(1, { pages: 16 })); // 1
 * ```
 */
export function checkInFlight(inFlight: number, geometry: { pages: number }): number {
  if (!Number.isSafeInteger(inFlight) || inFlight < 0 || inFlight >= geometry.pages) {
    throw new UsageError(
      `inFlight must be a whole number of pages from 0 to ${geometry.pages - 1} ` +
        `(below the ring's ${geometry.pages} pages; got ${inFlight})`,
      { option: "inFlight", value: String(inFlight) },
    );
  }
  return inFlight;
}
