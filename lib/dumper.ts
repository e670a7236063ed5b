/**
 * The period loop: read the counter, work out the new pages, read them (in
 * two parts at the ring's end), check they were not overwritten while read,
 * append them to the sink, and on stop drain once more. Follows every
 * correctness rule of docs/design.md.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Backend } from "../backends/types.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  BackendError,
  DeviceError,
  errorMessage,
  OverrunError,
  RingdumpError,
  StallError,
  TornReadError,
  UsageError,
} from "./errors.ts";
import {
  checkAppendOrder,
  firstIntactPage,
  judgeCounter,
  type RingGeometry,
  splitRange,
} from "./ring.ts";
import type { Sink } from "./sink/mod.ts";
import { hex } from "./units.ts";
import { nextPoll, RateMeter } from "./schedule.ts";
import { mapBuffer, type MappedBuffer } from "../backends/libc_util.ts";
import { dumperTrace, traceBackend, traceSink, tracing } from "./trace/mod.ts";

const log = getLogger(["ringdump", "dumper"]);

/** Implausible counter readings in a row after which (gap policy) the value is taken as a new baseline. */
const IMPLAUSIBLE_RUNS = 3;

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
  /** Largest number of new pages found in one period. */
  maxPagesPerPeriod: number;
  /** Logical page count at the first counter read (the baseline). */
  firstPage: number;
  /** Logical page count up to which everything was read. */
  endPage: number;
  /** Counter reads (including the re-reads after each read). */
  counterReads: number;
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
  /** Read the counter every `period`, not sooner when the writer is fast; default false. */
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
 * Captures a ring through a backend into a sink.
 *
 * @example
 * ```ts
 * import { Dumper } from "./dumper.ts";
 * import { ringGeometry } from "./ring.ts";
 * import { MemorySink } from "./sink/mod.ts";
 * import { openSim } from "../backends/sim.ts";
 * import { VirtualClock } from "./clock.ts";
 *
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const clock = new VirtualClock();
 * const backend = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock });
 * const sink = new MemorySink();
 * const stats = await new Dumper(backend, sink, { geometry, period: 10, duration: 1000, clock }).run();
 * console.log(stats.bytes); // 1048576
 * ```
 */
export class Dumper {
  readonly #backend: Backend;
  readonly #sink: Sink;
  readonly #g: RingGeometry;
  readonly #period: number;
  readonly #minPeriod: number;
  readonly #rate = new RateMeter();
  readonly #policy: OverrunPolicy;
  readonly #signal?: AbortSignal;
  readonly #duration?: number;
  readonly #maxBytes?: number;
  readonly #maxReadPages: number;
  readonly #batchPages: number;
  readonly #inFlight: number;
  readonly #clock: Clock;
  readonly #onDump?: (event: DumpEvent) => void | Promise<void>;
  readonly #onBaseline?: (counter: number) => void | Promise<void>;
  #buf: Uint8Array;
  /** The mapping behind `#buf`, when it is one (see {@linkcode mapBuffer}). */
  #mapped?: MappedBuffer;
  /** Next logical page to read. */
  #next = 0;
  /** Latest logical counter value seen. */
  #latest = 0;
  /** Start of the range read in the previous period (reference overlap check). */
  #prevStart = 0;
  #t0 = 0;
  #done = false;
  /** Worst headroom seen in the period in flight (for the period_end tracepoint). */
  #periodHeadroom = 0;
  /** Clock time of the counter read that gave `#latest`. */
  #tLatest = 0;
  /** One past the last logical page appended (the sink-boundary invariant). */
  #appendedEnd = 0;
  /** Pages the baseline moved at implausible counter values: not the writer's progress. */
  #rateOffset = 0;
  /** Largest advance believed from one counter reading. */
  #maxStep = 0;
  /** Set when an implausible counter value was met (gap policy): the read in hand is not trusted. */
  #rebased = false;
  /** Implausible counter readings in a row. */
  #implausibleRun = 0;
  readonly #stats: DumpStats = {
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
    reads: 0,
    elapsedMs: 0,
    adaptive: true,
    shortestIntervalMs: 0,
  };

  /** Creates a dumper; nothing happens until {@linkcode Dumper.run}. */
  constructor(backend: Backend, sink: Sink, options: DumperOptions) {
    // Traced wrappers only when tracing is on: no cost otherwise.
    this.#backend = tracing.enabled ? traceBackend(backend) : backend;
    this.#sink = tracing.enabled ? traceSink(sink) : sink;
    this.#g = options.geometry;
    this.#period = options.period ?? 100;
    this.#minPeriod = options.minPeriod ?? this.#period / 20;
    this.#stats.adaptive = !options.fixedPeriod;
    this.#policy = options.overrun ?? "fail";
    this.#signal = options.signal;
    this.#duration = options.duration;
    this.#maxBytes = options.maxBytes;
    this.#clock = options.clock ?? systemClock;
    this.#onDump = options.onDump;
    this.#onBaseline = options.onBaseline;
    checkDumperOptions(options);
    this.#inFlight = checkInFlight(options.inFlight ?? defaultInFlight(this.#g), this.#g);
    const maxRead = options.maxReadBytes ?? backend.maxReadBytes ?? 4 * 1024 * 1024;
    this.#maxReadPages = Math.max(1, Math.floor(maxRead / this.#g.pageSize));
    const batch = options.checkBatchBytes ?? backend.checkBatchBytes ?? 0;
    this.#batchPages = Math.min(this.#g.pages, Math.max(1, Math.floor(batch / this.#g.pageSize)));
    this.#buf = new Uint8Array(0);
  }

  /** Statistics so far (a live object; final once `run` settles). */
  get stats(): Readonly<DumpStats> {
    return this.#stats;
  }

  /**
   * Runs the capture until the signal, the duration or max bytes stops it,
   * then drains once more and flushes the sink. The sink is flushed even when
   * it throws, so everything captured before an error is on disk. Neither the
   * sink nor the backend is closed.
   */
  async run(): Promise<DumpStats> {
    if (this.#done) throw new Error("Dumper.run() can run only once");
    this.#done = true;
    const clock = this.#clock;
    this.#t0 = clock.now();
    try {
      const phys = await this.#readCounter();
      this.#tLatest = this.#t0;
      this.#next =
        this.#latest =
        this.#prevStart =
        this.#appendedEnd =
          phys;
      this.#stats.firstPage = this.#stats.endPage = phys;
      if (tracing.enabled) {
        const g = this.#g;
        dumperTrace.captureBegin(
          g.pages,
          g.pageSize,
          g.counterWrap,
          Math.round(this.#period * 1e6),
          phys,
        );
      }
      log.debug("baseline counter {phys} ({hex})", { phys, hex: hex(phys) });
      await this.#onBaseline?.(phys);
      // Adaptive: the first poll comes after minPeriod, to learn the writer's
      // rate before waiting longer (a fast writer could lap the ring in one period).
      let deadline = this.#t0 + (this.#stats.adaptive ? this.#minPeriod : this.#period);
      let pollStart = this.#t0, lastStart: number | undefined, lastGap: number | undefined;
      this.#rate.see(this.#t0, phys);
      for (;;) {
        if (!this.#stopReason()) {
          let until = deadline;
          if (this.#duration !== undefined) until = Math.min(until, this.#t0 + this.#duration);
          await clock.sleep(until - clock.now(), this.#signal);
          const now = clock.now();
          deadline += this.#period;
          // Fell behind by more than a period: do not try to catch up in a burst.
          if (deadline < now) deadline = now + this.#period;
        }
        const final = this.#stopReason();
        pollStart = clock.now();
        // The final drain is not a scheduled poll: it does not count as an interval.
        // The first poll comes after the probe wait (minPeriod).
        lastGap = lastStart === undefined ? this.#minPeriod : pollStart - lastStart;
        if (lastStart !== undefined && !final) {
          const gap = pollStart - lastStart;
          const s = this.#stats;
          if (s.shortestIntervalMs === 0 || gap < s.shortestIntervalMs) s.shortestIntervalMs = gap;
        }
        lastStart = pollStart;
        await this.#runPeriod();
        if (this.#stats.adaptive) {
          // lib/schedule.ts: when the ring will be half full, within [minPeriod, period].
          this.#rate.see(this.#tLatest, this.#latest);
          deadline = nextPoll({
            period: this.#period,
            minPeriod: this.#minPeriod,
            pages: this.#g.pages,
            pollStart,
            readAt: this.#tLatest,
            backlog: Math.max(0, this.#latest - this.#next),
            rate: this.#rate.rate,
            previous: lastGap,
          });
        }
        if (this.#stats.stopReason === "max-bytes") break;
        if (final) {
          this.#stats.stopReason = final;
          break;
        }
      }
    } finally {
      this.#stats.elapsedMs = clock.now() - this.#t0;
      await this.#sink.flush();
      if (tracing.enabled) {
        const s = this.#stats;
        dumperTrace.captureEnd(s.bytes, s.pages, s.periods, s.lostPages);
      }
    }
    // Ended normally: every read and write is done, nothing holds the read
    // buffer. (After an error a late reply could still be landing in it, so
    // it is left to the garbage collector's reach: mapped, not reused.)
    this.#mapped?.unmap();
    this.#mapped = undefined;
    this.#buf = new Uint8Array(0);
    return this.#stats;
  }

  #stopReason(): StopReason | undefined {
    if (this.#signal?.aborted) return "signal";
    if (this.#duration !== undefined && this.#clock.now() - this.#t0 >= this.#duration) {
      return "duration";
    }
    return undefined;
  }

  async #readCounter(given?: bigint): Promise<number> {
    let v: bigint;
    if (given !== undefined) {
      v = given; // read by the backend right after a batch of reads (readThenRegister)
    } else {
      try {
        v = await this.#backend.readRegister(this.#g.counterAddress, 32);
      } catch (e) {
        throw wrapBackendError(e, this.#backend, "reading the counter register");
      }
    }
    this.#stats.counterReads++;
    if (v < 0n || v >= BigInt(this.#g.counterWrap)) {
      throw new DeviceError(
        `counter register at ${hex(this.#g.counterAddress)} read ${hex(v)}, which is not below ` +
          `the counter wrap ${hex(this.#g.counterWrap)}; check --counter and --counter-wrap`,
      );
    }
    return Number(v);
  }

  /**
   * Pages the writer should have advanced by time `t` since `#latest` was
   * read, at the rate seen so far; undefined until a rate is known.
   */
  #expected(t: number): number | undefined {
    const span = this.#tLatest - this.#t0;
    const advanced = this.#latest - this.#stats.firstPage - this.#rateOffset;
    if (span < this.#period || advanced <= 0) return undefined;
    return (advanced / span) * (t - this.#tLatest);
  }

  /**
   * Reads the counter and unwraps it against the latest logical count,
   * judged by {@linkcode judgeCounter}: a jump larger than the ring is
   * confirmed by a second read, a stall long enough for the counter to wrap
   * unseen is a loss (a {@linkcode StallError}, or counted with gap), an
   * implausible value a {@linkcode DeviceError} (or a counted glitch with
   * gap). `next` is the first page not yet taken (appended, or being read).
   */
  async #readLogical(next: number, given?: bigint): Promise<number> {
    const g = this.#g;
    const t = this.#clock.now();
    const expected = this.#expected(t);
    const latest = this.#latest;
    const readings = [await this.#readCounter(given)];
    const maxStep = this.#maxStep;
    let v = judgeCounter({ latest, next, readings, expected, maxStep }, g);
    if (v.kind === "confirm") {
      readings.push(await this.#readCounter());
      v = judgeCounter({ latest, next, readings, expected, maxStep }, g);
    }
    const what = `counter read ${
      readings.map((r) => hex(r)).join(", then ")
    } after logical ${latest}`;
    switch (v.kind) {
      case "confirm":
        throw new Error("judgeCounter asked for a third reading");
      case "advance":
        if (v.glitch) this.#glitch(`${what}: the first reading was off by a glitch; ignored`);
        this.#latest = latest + v.delta;
        if (v.delta > this.#maxStep) this.#maxStep = v.delta;
        break;
      case "back":
        this.#glitch(`${what}: an earlier reading was ${v.back} pages too high; corrected`);
        this.#latest = latest - v.back;
        break;
      case "wrapped": {
        const rate = (latest - this.#stats.firstPage - this.#rateOffset) /
          (this.#tLatest - this.#t0);
        const counts = {
          lastPage: this.#next,
          currentPage: latest + v.delta,
          pages: g.pages,
          capturedPages: this.#stats.pages,
          stalledMs: t - this.#tLatest,
          wrapMs: g.counterWrap / rate,
        };
        if (this.#policy === "fail") throw new StallError(counts);
        this.#stats.unknownLosses++;
        log.warn(
          "stall: the capture was away {secs} s; one counter wrap takes {wrap} s at the rate seen, " +
            "so the counter may have wrapped unseen: about {wraps} wraps counted as lost",
          {
            secs: (counts.stalledMs / 1000).toFixed(1),
            wrap: (counts.wrapMs / 1000).toFixed(1),
            wraps: v.wraps,
          },
        );
        this.#latest = latest + v.delta;
        break;
      }
      case "implausible": {
        const msg = `counter register at ${hex(g.counterAddress)}: ${what}: ${v.reason}` +
          (expected === undefined ? "" : ` in ${(t - this.#tLatest).toFixed(0)} ms`) +
          `; a glitching register, or wrong --counter or --counter-wrap`;
        if (this.#policy === "fail") throw new DeviceError(msg);
        // Never a reason to re-read old pages. A passing glitch is ignored
        // (what was just read is read again next period); a value that stays
        // for IMPLAUSIBLE_RUNS readings in a row becomes the new baseline, the
        // loss counted as unknown.
        this.#rebased = true;
        if (++this.#implausibleRun < IMPLAUSIBLE_RUNS) {
          this.#glitch(`${msg}; ignored`);
          return this.#latest;
        }
        this.#glitch(
          `${msg}; it stays: the capture goes on from there, the loss counted as unknown`,
        );
        this.#stats.unknownLosses++;
        this.#latest = latest + v.delta;
        this.#rateOffset += v.delta;
        this.#loss(0, this.#latest);
        break;
      }
    }
    if (v.kind !== "implausible") this.#implausibleRun = 0;
    this.#tLatest = t;
    return this.#latest;
  }

  #glitch(message: string): void {
    this.#stats.glitches++;
    log.warn("counter glitch: {message}", { message });
  }

  /** One period, framed by the dumper_period_begin/end tracepoints when tracing. */
  async #runPeriod(): Promise<void> {
    if (!tracing.enabled) return await this.#period1();
    const s = this.#stats;
    const latest0 = this.#latest, bytes0 = s.bytes, pages0 = s.pages, reads0 = s.reads;
    const counterReads0 = s.counterReads, lost0 = s.lostPages;
    this.#periodHeadroom = 0;
    dumperTrace.periodBegin(s.periods + 1);
    try {
      await this.#period1();
    } finally {
      if (tracing.enabled) {
        dumperTrace.periodEnd(
          s.periods,
          this.#latest,
          this.#latest - latest0,
          s.pages - pages0,
          s.bytes - bytes0,
          s.reads - reads0,
          s.counterReads - counterReads0,
          s.lostPages - lost0,
          Math.round(this.#periodHeadroom * 1e6),
          this.#g.pages,
        );
      }
    }
  }

  #seeHeadroom(h: number): void {
    if (h > this.#stats.headroom) this.#stats.headroom = h;
    if (h > this.#periodHeadroom) this.#periodHeadroom = h;
  }

  async #period1(): Promise<void> {
    const s = this.#stats;
    const pages = this.#g.pages;
    s.periods++;
    this.#rebased = false;
    const current = await this.#readLogical(this.#next);
    const from = this.#next;
    const delta = current - from;
    // docs/design.md rule 3, the reference's check: pages read last period may have
    // been overwritten while being read. Rule 4 below already checked those
    // reads right after they completed, so this is only counted.
    if (current - this.#prevStart > pages && this.#prevStart < from) {
      s.referenceOverlaps++;
      log.debug("reference overlap check: writer at {current}, last period read from {start}", {
        current,
        start: this.#prevStart,
      });
    }
    this.#prevStart = from;
    this.#seeHeadroom(delta / pages);
    s.maxPagesPerPeriod = Math.max(s.maxPagesPerPeriod, delta);
    log.debug("period {n}: counter {current}, {delta} new pages, headroom {headroom}", {
      n: s.periods,
      current,
      delta,
      headroom: (delta / pages).toFixed(3),
    });
    if (delta <= 0) {
      s.emptyPeriods++;
      return;
    }
    let start = from;
    if (delta > pages) {
      // docs/design.md rule 2: the writer lapped the reader.
      if (this.#policy === "fail") {
        throw new OverrunError({
          lastPage: from,
          currentPage: current,
          pages,
          capturedPages: s.pages,
        });
      }
      // Resume past the pages the writer may be writing now (rule 4): the
      // oldest `inFlight` pages of the ring are being overwritten.
      start = current - pages + this.#inFlight;
      const lost = start - from;
      this.#loss(lost, start);
      s.overruns++;
      log.warn("overrun: {lost} pages lost (logical {from} -> {current}, ring {pages})", {
        lost,
        from,
        current,
        pages,
      });
      await this.#report(start, 0, lost);
    }
    // docs/design.md rule 5: a full lap splits into two reads covering the whole ring.
    // Reads go into one buffer, in logical order, and one counter check
    // covers each batch of them (checkBatchBytes; one read per batch by default).
    const pageSize = this.#g.pageSize;
    let batch: { address: bigint; n: number; offset: number }[] = [];
    let batchFirst = start, batchPages = 0;
    for (const span of splitRange(this.#g, { from: start, to: current })) {
      for (let done = 0; done < span.pages; done += this.#maxReadPages) {
        const n = Math.min(this.#maxReadPages, span.pages - done);
        const first = span.firstPage + done;
        if (batchPages > 0 && batchPages + n > this.#batchPages) {
          if (!(await this.#readAndCheck(batch, batchFirst, batchPages))) return;
          // cut short: the rest waits for the next period
          if (this.#next !== batchFirst + batchPages) return;
          batch = [];
          batchFirst = first;
          batchPages = 0;
        }
        const address = span.address + BigInt(done) * BigInt(pageSize);
        batch.push({ address, n, offset: batchPages * pageSize });
        batchPages += n;
      }
    }
    if (batchPages > 0) await this.#readAndCheck(batch, batchFirst, batchPages);
  }

  /**
   * Reads a batch (in order, into the batch buffer), then checks it with one
   * counter re-read and appends what is intact. A backend that can read the
   * counter as part of the same operation (readThenRegister: one remote
   * command, or requests in flight together) does so, so the check follows
   * the last read at once. False when the capture must end.
   */
  async #readAndCheck(
    batch: readonly { address: bigint; n: number; offset: number }[],
    first: number,
    n: number,
  ): Promise<boolean> {
    const { pageSize } = this.#g;
    const end = batch.at(-1)!.offset + batch.at(-1)!.n * pageSize;
    this.#growBuffer(end);
    const b = this.#backend;
    if (b.readThenRegister === undefined || this.#batchPages <= this.#maxReadPages) {
      for (const r of batch) await this.#readInto(r.address, r.n, r.offset);
      return await this.#checkAndAppend(first, n);
    }
    const reads = batch.map((r) => ({
      address: r.address,
      dest: this.#buf.subarray(r.offset, r.offset + r.n * pageSize),
    }));
    let counter: bigint;
    try {
      counter = await b.readThenRegister(reads, { address: this.#g.counterAddress, width: 32 });
    } catch (e) {
      throw wrapBackendError(
        e,
        b,
        `reading ${end} bytes at ${hex(batch[0].address)} and the counter register`,
      );
    }
    this.#stats.reads += batch.length;
    return await this.#checkAndAppend(first, n, counter);
  }

  #growBuffer(bytes: number): void {
    if (this.#buf.length >= bytes) return;
    const cap = Math.max(this.#batchPages, this.#maxReadPages) * this.#g.pageSize;
    const size = Math.max(bytes, Math.min(cap, this.#buf.length * 2));
    // Memory of its own, faulted in once and reused (lib/../backends/libc_util.ts
    // mapBuffer: a large heap buffer is a 3x slower read destination); a plain
    // array without FFI permission. Nothing holds the old one: sinks copy or
    // finish their write before the dumper reads again.
    this.#mapped?.unmap();
    this.#mapped = mapBuffer(size);
    this.#buf = this.#mapped?.bytes ?? new Uint8Array(size);
  }

  /** Reads `n` pages at `address` into the batch buffer at byte `offset`. */
  async #readInto(address: bigint, n: number, offset: number): Promise<void> {
    const bytes = n * this.#g.pageSize;
    try {
      await this.#backend.read(address, this.#buf.subarray(offset, offset + bytes));
    } catch (e) {
      throw wrapBackendError(e, this.#backend, `reading ${bytes} bytes at ${hex(address)}`);
    }
    this.#stats.reads++;
  }

  /**
   * Checks the `n` pages from logical page `first` just read into the batch
   * buffer against a fresh counter and appends what is intact; false when the
   * capture must end.
   */
  async #checkAndAppend(first: number, n: number, counter?: bigint): Promise<boolean> {
    const s = this.#stats;
    const { pageSize, pages } = this.#g;
    const buf = this.#buf.subarray(0, n * pageSize);
    // docs/design.md rule 4: read the counter again; pages the writer got more than a
    // ring past (less the pages it may have in flight) may have been
    // overwritten while we read them.
    const after = await this.#readLogical(first, counter);
    if (this.#rebased) return true; // an implausible counter: these pages are not trusted (read again)
    this.#seeHeadroom((after - first) / pages);
    if (after < first + n) {
      // The counter is behind the end of what was read (an earlier reading
      // was too high): the pages from `after` on were not written yet.
      n = Math.max(0, after - first);
      if (n === 0) return true;
    }
    const intact = firstIntactPage(after, { pages, inFlight: this.#inFlight });
    let skip = 0;
    if (first < intact) {
      const torn = Math.min(n, intact - first);
      if (this.#policy === "fail") {
        throw new TornReadError({
          firstPage: first,
          endPage: first + n,
          counterAfter: after,
          pages,
          capturedPages: s.pages,
          inFlight: this.#inFlight,
        });
      }
      s.tornReads++;
      this.#loss(torn, first + torn);
      log.warn("torn read: {torn} pages from {first} overwritten while read", { torn, first });
      skip = torn;
      if (skip === n) {
        await this.#report(first + n, 0, torn);
        return true;
      }
    }
    let out = buf.subarray(skip * pageSize, n * pageSize);
    if (this.#maxBytes !== undefined && s.bytes + out.length >= this.#maxBytes) {
      out = out.subarray(0, this.#maxBytes - s.bytes);
      s.stopReason = "max-bytes";
    }
    checkAppendOrder(this.#appendedEnd, first + skip);
    await this.#sink.write(out);
    s.bytes += out.length;
    const whole = Math.floor(out.length / pageSize);
    this.#appendedEnd = first + skip + Math.ceil(out.length / pageSize);
    s.pages += whole;
    this.#next = first + skip + whole;
    s.endPage = this.#next;
    await this.#report(first + skip, out.length, skip);
    return s.stopReason !== "max-bytes";
  }

  #loss(lost: number, resumeAt: number): void {
    this.#stats.lostPages += lost;
    this.#next = resumeAt;
    this.#stats.endPage = resumeAt;
  }

  async #report(firstPage: number, bytes: number, lostPages: number): Promise<void> {
    if (!this.#onDump) return;
    const s = this.#stats;
    await this.#onDump({
      firstPage,
      pages: Math.floor(bytes / this.#g.pageSize),
      bytes,
      totalBytes: s.bytes,
      lostPages,
      totalLostPages: s.lostPages,
      headroom: s.headroom,
    });
  }
}

/**
 * Checks a {@linkcode Dumper}'s options (period, overrun policy, duration,
 * max bytes, and `inFlight` when given) without opening anything, so a
 * caller can refuse bad options before it opens a backend or truncates an
 * output. The Dumper's constructor makes the same checks.
 *
 * @example
 * ```ts
 * import { checkDumperOptions } from "./dumper.ts";
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
  if (options.inFlight !== undefined) checkInFlight(options.inFlight, options.geometry);
}

/**
 * The default `inFlight` for a ring (docs/design.md rule 4): 1, safe for
 * hardware that writes a page and then advances its counter; 0 for a ring of
 * a single page, where 1 is not allowed.
 *
 * @example
 * ```ts
 * import { defaultInFlight } from "./dumper.ts";
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
 * import { checkInFlight } from "./dumper.ts";
 * console.log(checkInFlight(1, { pages: 16 })); // 1
 * ```
 */
export function checkInFlight(inFlight: number, geometry: { pages: number }): number {
  if (!Number.isSafeInteger(inFlight) || inFlight < 0 || inFlight >= geometry.pages) {
    throw new UsageError(
      `--in-flight must be a whole number of pages from 0 to ${geometry.pages - 1} ` +
        `(below the ring's ${geometry.pages} pages; got ${inFlight})`,
      { option: "--in-flight", value: String(inFlight) },
    );
  }
  return inFlight;
}

function wrapBackendError(e: unknown, backend: Backend, what: string): Error {
  if (e instanceof RingdumpError) return e;
  return new BackendError(`${backend.name}: ${what} failed: ${errorMessage(e)}`, {
    backend: backend.name,
    cause: e,
  });
}
