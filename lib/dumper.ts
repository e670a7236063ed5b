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
import { OverrunError, TornReadError } from "./errors.ts";
import { checkAppendOrder, firstIntactPage, type RingGeometry, splitRange } from "./ring.ts";
import type { Sink } from "./sink/mod.ts";
import { hex } from "./units.ts";
import { nextPoll, RateMeter, reuseReading } from "./schedule.ts";
import { mapBuffer, type MappedBuffer } from "../backends/libc_util.ts";
import { LogicalCounter, wrapBackendError } from "./counter.ts";
// The tracer and its wrappers only, not lib/trace/mod.ts: a capture does not
// load the trace readers, the CTF parser or the report (start-up, issue 13).
import { backendTrace, dumperTrace, sinkTrace, tracing } from "./trace/tracer.ts";
import { traceBackend, traceSink, unwrapTraced } from "./trace/instrument.ts";
import {
  checkDumperOptions,
  checkInFlight,
  defaultInFlight,
  type DumperOptions,
  type DumpEvent,
  type DumpStats,
  emptyDumpStats,
  type OverrunPolicy,
  type StopReason,
} from "./dumper_options.ts";

const log = getLogger(["ringdump", "dumper"]);

/** One backend read of a batch: `n` pages at `address`, at byte `offset` of the batch. */
interface BatchRead {
  address: bigint;
  n: number;
  offset: number;
}

/** Reads checked by one counter read after the last of them (checkBatchBytes). */
interface Batch {
  reads: BatchRead[];
  /** Logical page of the first read. */
  first: number;
  /** Pages in all. */
  n: number;
}

/** The most the warm-up reads (DumperOptions.warmUp). */
const WARM_UP_BYTES = 4 * 1024 * 1024;

/** DumperOptions.rampBytes's default. */
const RAMP_FIRST_BYTES = 64 * 1024;

/** Ramped checks only while they cost at most this share of a period. */
const RAMP_COST_SHARE = 0.02;

/**
 * A poll starts with the pages the last check proved written (a head start)
 * when the ring is expected to be more than this share full at a plain
 * poll's check (docs/design.md, "Head start").
 */
const HEAD_START_FILL = 0.5;

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
  /**
   * The backend as given, without the dumper's tracing wrapper: the warm-up's
   * calls come before the capture and belong to no period (a backend traced
   * by its caller, as lib/capture.ts does, still shows them).
   */
  readonly #rawBackend: Backend;
  /**
   * The backend without any tracing wrapper, for the calls the dumper makes
   * one at a time (`read`, and the counter reads) and frames itself with the
   * same events under `#traceName`: in its own `await`, not in a wrapper's
   * promise (4% of a traced capture in 64 KiB reads: README, Performance). The wrapper
   * (`#backend`) still frames the calls made side by side (readThenRegister).
   */
  readonly #plain: Backend;
  /** The backend's name while the capture is traced; undefined: not traced. */
  readonly #traceName?: string;
  /** The sink without any tracing wrapper, for `write` (framed as `#plain`'s calls). */
  readonly #plainSink: Sink;
  /** The sink's name while the capture is traced. */
  readonly #sinkTraceName?: string;
  readonly #warmUp: boolean;
  readonly #sink: Sink;
  readonly #g: RingGeometry;
  readonly #period: number;
  readonly #minPeriod: number;
  readonly #rate: RateMeter;
  readonly #policy: OverrunPolicy;
  readonly #signal?: AbortSignal;
  readonly #duration?: number;
  readonly #maxBytes?: number;
  readonly #maxReadPages: number;
  readonly #batchPages: number;
  /** DumperOptions.rampBytes in pages (at least 1); 0: no ramp. */
  readonly #rampPages: number;
  /** Pages of batches in flight together (Backend.pipelineBytes); 0: one batch at a time. */
  readonly #pipelinePages: number;
  readonly #inFlight: number;
  readonly #clock: Clock;
  readonly #onDump?: (event: DumpEvent) => void | Promise<void>;
  readonly #onBaseline?: (counter: number) => void | Promise<void>;
  /** The counter register, read and judged (lib/counter.ts). */
  readonly #counter: LogicalCounter;
  #buf: Uint8Array;
  /** The mapping behind `#buf`, when it is one (see {@linkcode mapBuffer}). */
  #mapped?: MappedBuffer;
  /** Next logical page to read. */
  #next = 0;
  /** Start of the range read in the previous period (reference overlap check). */
  #prevStart = 0;
  #t0 = 0;
  #done = false;
  /** Worst headroom seen in the period in flight (for the period_end tracepoint). */
  #periodHeadroom = 0;
  /** What the last poll took, ms (its counter read, reads and checks). */
  #lastPollMs = 0;
  /** How long the last fresh counter read of a poll took, ms. */
  #counterReadMs = 0;
  /** The shortest fresh counter read so far, ms (what a check costs: #rampChecks). */
  #counterReadMinMs = Infinity;
  /** One past the last logical page appended (the sink-boundary invariant). */
  #appendedEnd = 0;
  readonly #stats: DumpStats = emptyDumpStats();

  /** Creates a dumper; nothing happens until {@linkcode Dumper.run}. */
  constructor(backend: Backend, sink: Sink, options: DumperOptions) {
    // Traced wrappers only when tracing is on: no cost otherwise.
    this.#backend = tracing.enabled ? traceBackend(backend) : backend;
    this.#rawBackend = backend;
    this.#warmUp = options.warmUp ?? true;
    this.#sink = tracing.enabled ? traceSink(sink) : sink;
    const plain = unwrapTraced(backend), plainSink = unwrapTraced(sink);
    this.#plain = plain.inner;
    this.#plainSink = plainSink.inner;
    if (tracing.enabled || plain.traced) this.#traceName = backend.name;
    if (tracing.enabled || plainSink.traced) this.#sinkTraceName = sink.name;
    this.#g = options.geometry;
    this.#period = options.period ?? 100;
    this.#minPeriod = options.minPeriod ?? this.#period / 20;
    // The writer's rate forgets what it saw over a quarter period (lib/schedule.ts).
    this.#rate = new RateMeter({ halfLife: this.#period / 4 });
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
    const batch = options.checkBatchBytes ?? backend.checkBatchBytes ?? 0;
    this.#batchPages = Math.min(this.#g.pages, Math.max(1, Math.floor(batch / this.#g.pageSize)));
    const pipeline = backend.readThenRegister === undefined
      ? 0
      : options.pipelineBytes ?? backend.pipelineBytes ?? 0;
    const pipelinePages = Math.min(this.#g.pages, Math.floor(pipeline / this.#g.pageSize));
    this.#pipelinePages = pipelinePages > this.#batchPages ? pipelinePages : 0;
    // In flight together, a batch is one readThenRegister call: no read longer than a batch.
    const maxReadPages = Math.max(1, Math.floor(maxRead / this.#g.pageSize));
    this.#maxReadPages = this.#pipelinePages
      ? Math.min(maxReadPages, this.#batchPages)
      : maxReadPages;
    // A backend that batches its checks (checkBatchBytes) has said a check is
    // costly (a process, a remote command): no ramp unless asked for.
    const ramp = options.rampBytes ?? (batch > 0 ? 0 : RAMP_FIRST_BYTES);
    this.#rampPages = ramp === 0 ? 0 : Math.max(1, Math.floor(ramp / this.#g.pageSize));
    this.#buf = new Uint8Array(0);
    this.#counter = new LogicalCounter(this.#plain, {
      traceAs: this.#traceName,
      geometry: this.#g,
      policy: this.#policy,
      period: this.#period,
      clock: this.#clock,
      stats: this.#stats,
      next: () => this.#next,
      onLoss: (lost, resumeAt) => this.#loss(lost, resumeAt),
    });
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
    try {
      if (this.#warmUp) await this.#warm();
      this.#t0 = clock.now();
      const phys = await this.#counter.read();
      this.#counterReadMs = this.#counterReadMinMs = clock.now() - this.#t0;
      this.#counter.start(this.#t0, phys);
      this.#next = this.#prevStart = this.#appendedEnd = phys;
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
      // The fixed beat: after half a period, then every period. The first poll
      // has no pages from an earlier check to start with (a head start), so its
      // oldest page waits a whole poll longer for its check than later polls'.
      let deadline = this.#t0 + (this.#stats.adaptive ? this.#minPeriod : this.#period / 2);
      let pollStart = this.#t0, lastStart: number | undefined, lastGap: number | undefined;
      // The next poll takes the latest counter reading (lib/schedule.ts reuseReading).
      let reuse = false;
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
        // The final drain reads the counter afresh: everything written before the stop.
        await this.#runPeriod(reuse && !final);
        const pollCost = clock.now() - pollStart;
        this.#lastPollMs = pollCost;
        reuse = false;
        // The writer's rate: adaptive polling's schedule, and a poll's head start.
        this.#rate.see(this.#counter.tLatest, this.#counter.latest);
        if (this.#stats.adaptive) {
          // lib/schedule.ts: when the ring will be half full, within [minPeriod, period].
          const backlog = Math.max(0, this.#counter.latest - this.#next);
          deadline = nextPoll({
            period: this.#period,
            minPeriod: this.#minPeriod,
            pages: this.#g.pages,
            pollStart,
            readAt: this.#counter.tLatest,
            backlog,
            rate: this.#rate.rate,
            previous: lastGap,
            pollCost,
          });
          // Due before a fresh counter read could finish: take the latest reading.
          reuse = !this.#counter.rebased && reuseReading({
            at: deadline,
            readAt: this.#counter.tLatest,
            readCost: this.#counterReadMs,
            backlog,
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

  /**
   * The warm-up (DumperOptions.warmUp): one read of the ring's first pages
   * into the read buffer, before the baseline, discarded. It pays the
   * backend's cold costs (connection, first process, page faults of the
   * buffer and of a fresh mapping) outside the first poll. Its failure is the
   * capture's (a backend error, before any output exists).
   */
  async #warm(): Promise<void> {
    const { pageSize, pages, base } = this.#g;
    // Not capped at maxReadBytes: the backend splits a read as it must, and
    // what warms a connection up is its first megabytes.
    const n = Math.min(pages, Math.max(1, Math.floor(WARM_UP_BYTES / pageSize)));
    this.#growBuffer(n * pageSize);
    const t = this.#clock.now();
    const b = this.#rawBackend;
    try {
      // The counter first, as without a warm-up: a wrong register or a missing
      // tool is reported as such, before the ring is read.
      await b.readRegister(this.#g.counterAddress, 32);
    } catch (e) {
      throw wrapBackendError(e, b, "reading the counter register");
    }
    try {
      await b.read(base, this.#buf.subarray(0, n * pageSize));
    } catch (e) {
      // The ring's own memory: the first poll's read would fail the same way
      // (a hung tool killed at the stop, a missing image). Nothing is created yet.
      throw wrapBackendError(e, b, `reading ${n * pageSize} bytes at ${hex(base)}`);
    }
    log.debug("warm-up: read {bytes} bytes in {ms} ms", {
      bytes: n * pageSize,
      ms: (this.#clock.now() - t).toFixed(1),
    });
  }

  #stopReason(): StopReason | undefined {
    if (this.#signal?.aborted) return "signal";
    if (this.#duration !== undefined && this.#clock.now() - this.#t0 >= this.#duration) {
      return "duration";
    }
    return undefined;
  }

  /** One period, framed by the dumper_period_begin/end tracepoints when tracing. */
  async #runPeriod(reuse: boolean): Promise<void> {
    if (!tracing.enabled) return await this.#period1(reuse);
    const s = this.#stats;
    const latest0 = this.#counter.latest, bytes0 = s.bytes, pages0 = s.pages, reads0 = s.reads;
    const counterReads0 = s.counterReads, lost0 = s.lostPages;
    this.#periodHeadroom = 0;
    dumperTrace.periodBegin(s.periods + 1);
    try {
      await this.#period1(reuse);
    } finally {
      if (tracing.enabled) {
        dumperTrace.periodEnd(
          s.periods,
          this.#counter.latest,
          this.#counter.latest - latest0,
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

  /**
   * Whether this poll starts with the pages the last check proved written
   * (docs/design.md, "Head start"): there are some, that reading is believed,
   * and at the writer's rate the ring is expected to be more than
   * HEAD_START_FILL full at a plain poll's check (a fresh counter read, then
   * the reads, then their check, as long as the last poll took).
   */
  #headStart(): boolean {
    const c = this.#counter;
    if (c.rebased || c.latest <= this.#next) return false;
    const rate = this.#rate.rate;
    if (!(rate > 0) || !Number.isFinite(rate)) return false;
    const ahead = c.latest + rate * Math.max(0, this.#clock.now() - c.tLatest) - this.#next;
    return ahead + rate * this.#lastPollMs > HEAD_START_FILL * this.#g.pages;
  }

  /**
   * One poll. `reuse`: take the latest counter reading as this poll's
   * (lib/schedule.ts reuseReading). Otherwise, with a head start, first the
   * pages the last check proved written, whose check is then this poll's
   * reading; else a fresh counter read.
   */
  async #period1(reuse: boolean): Promise<void> {
    const s = this.#stats;
    const headStart = !reuse && this.#headStart();
    s.periods++;
    this.#counter.rebased = false;
    // lib/schedule.ts reuseReading: the check after the last poll's reads,
    // taken a moment ago, serves as this poll's reading.
    let current: number;
    if (reuse) {
      current = this.#counter.latest;
      s.reusedReadings++;
    } else if (headStart) {
      // The oldest pages waiting, which the writer reaches first, are read and
      // checked at once, with no counter read before them; the check after
      // them is a counter read like any other: the reading for the rest.
      s.headStarts++;
      if (!(await this.#readUpTo(this.#counter.latest))) return;
      current = this.#counter.latest;
    } else {
      const t = this.#clock.now();
      current = await this.#counter.readLogical(this.#next);
      this.#counterReadMs = this.#clock.now() - t;
      this.#counterReadMinMs = Math.min(this.#counterReadMinMs, this.#counterReadMs);
    }
    const from = this.#next;
    if (!(await this.#readUpTo(current, !headStart)) || reuse || headStart) return;
    // A plain poll whose check finds the ring more than half full reads on
    // up to that check, so that the next poll's head start begins where a
    // head-started poll's would: its oldest page then waits a period for
    // its check, not a period and the difference between a counter read
    // and a pass of reads (the first poll of a fast capture).
    const c = this.#counter;
    if (c.latest > this.#next && c.latest - from > HEAD_START_FILL * this.#g.pages) {
      await this.#readUpTo(c.latest, false);
    }
  }

  /**
   * Reads, checks and appends the pages from the next one to read up to
   * logical page `current` (a counter reading). `empty`: count a poll that
   * finds nothing new as an empty period. False when the pass was cut short
   * (a torn read, an untrusted counter, max bytes): the rest waits for the
   * next poll.
   */
  async #readUpTo(current: number, empty = true): Promise<boolean> {
    const s = this.#stats;
    const pages = this.#g.pages;
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
      if (empty) s.emptyPeriods++;
      return true;
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
    const batches = this.#batches(start, current, this.#rampChecks());
    // A backend that reads the counter as part of a batch's operation
    // (readThenRegister: one remote command, or requests in flight together)
    // does so, so the check follows the batch's last read at once.
    if (this.#backend.readThenRegister !== undefined) {
      await this.#readThenCheck(batches);
    } else {
      for (const b of batches) {
        if (!(await this.#readAndCheck(b.reads, b.first, b.n))) return false;
        // cut short: the rest waits for the next period
        if (this.#next !== b.first + b.n) return false;
      }
    }
    return this.#next === current && s.stopReason !== "max-bytes" && !this.#counter.rebased;
  }

  /**
   * Whether this poll ramps its checks (DumperOptions.rampBytes): when the extra
   * counter reads, at the cost of the shortest one measured (one slow reading
   * does not make a register slow), come to at most
   * RAMP_COST_SHARE of a period (devmem: microseconds each; not a process or
   * a remote command per check).
   */
  #rampChecks(): boolean {
    const first = this.#rampPages;
    if (first === 0 || first >= this.#maxReadPages) return false;
    const extra = Math.ceil(Math.log2(this.#maxReadPages / first));
    return extra * this.#counterReadMinMs <= this.#period * RAMP_COST_SHARE;
  }

  /**
   * The reads of logical pages `[start, current)`, in order, grouped into
   * batches of at most `checkBatchBytes`, each checked by one counter read
   * after its last read; a read's `offset` is its place in its batch's bytes.
   * `ramp`: the first batches are one read each, of `rampBytes`, then
   * twice as many, up to a whole read (the oldest pages, which the writer
   * reaches first, are checked soonest after they are read).
   */
  #batches(start: number, current: number, ramp = false): Batch[] {
    const pageSize = this.#g.pageSize;
    const batches: Batch[] = [];
    let batch: Batch | undefined;
    // Pages of the next ramped read; 0 once the ramp is over.
    let next = ramp ? this.#rampPages : 0;
    let ramped = false;
    for (const span of splitRange(this.#g, { from: start, to: current })) {
      for (let done = 0; done < span.pages;) {
        const n = Math.min(next || this.#maxReadPages, this.#maxReadPages, span.pages - done);
        const first = span.firstPage + done;
        if (batch === undefined || next > 0 || ramped || batch.n + n > this.#batchPages) {
          batch = { reads: [], first, n: 0 };
          batches.push(batch);
        }
        ramped = next > 0;
        const address = span.address + BigInt(done) * BigInt(pageSize);
        batch.reads.push({ address, n, offset: batch.n * pageSize });
        batch.n += n;
        done += n;
        if (next > 0) next = next * 2 >= this.#maxReadPages ? 0 : next * 2;
      }
    }
    return batches;
  }

  /**
   * Each batch as one `readThenRegister` call, checked and appended in order
   * against the counter read right after its own reads (docs/design.md rule
   * 4). One call at a time, or (Backend.pipelineBytes) up to
   * `pipelineBytes` of batches in flight together, each into its own part of
   * the read buffer: a backend that serves calls in order (the agent) reads
   * batch k+1 while batch k's check is on its way back, so the checks cost
   * no round trip each, and each check is as close to its reads as a batch
   * is short. Returns when the poll is done or cut short; no call is left
   * writing into the buffer.
   */
  async #readThenCheck(batches: readonly Batch[]): Promise<void> {
    const { pageSize } = this.#g;
    const b = this.#backend;
    const register = { address: this.#g.counterAddress, width: 32 as const };
    for (let i = 0; i < batches.length;) {
      let j = i + 1, pages = batches[i].n;
      while (j < batches.length && pages + batches[j].n <= this.#pipelinePages) {
        pages += batches[j++].n;
      }
      const group = batches.slice(i, j);
      this.#growBuffer(pages * pageSize);
      const calls: Promise<bigint>[] = [];
      let base = 0;
      const bases: number[] = [];
      for (const batch of group) {
        bases.push(base);
        const reads = batch.reads.map((r) => ({
          address: r.address,
          dest: this.#buf.subarray(base + r.offset, base + r.offset + r.n * pageSize),
        }));
        const call = b.readThenRegister!(reads, register);
        call.catch(() => {}); // handled in order below; a later one may fail first
        calls.push(call);
        base += batch.n * pageSize;
      }
      try {
        for (let k = 0; k < group.length; k++) {
          const batch = group[k];
          let counter: bigint;
          try {
            counter = await calls[k];
          } catch (e) {
            throw wrapBackendError(
              e,
              b,
              `reading ${batch.n * pageSize} bytes at ${
                hex(batch.reads[0].address)
              } and the counter register`,
            );
          }
          this.#stats.reads += batch.reads.length;
          if (!(await this.#checkAndAppend(batch.first, batch.n, counter, bases[k]))) return;
          if (this.#next !== batch.first + batch.n) return;
        }
      } finally {
        // Nothing may land in the buffer after this poll: wait for every call.
        await Promise.allSettled(calls);
      }
      i = j;
    }
  }

  /**
   * Reads a batch (in order, into the batch buffer), then checks it with one
   * counter re-read and appends what is intact. False when the capture must
   * end.
   */
  async #readAndCheck(
    batch: readonly BatchRead[],
    first: number,
    n: number,
  ): Promise<boolean> {
    this.#growBuffer(n * this.#g.pageSize);
    for (const r of batch) await this.#readInto(r.address, r.n, r.offset);
    return await this.#checkAndAppend(first, n);
  }

  #growBuffer(bytes: number): void {
    if (this.#buf.length >= bytes) return;
    const cap = Math.max(this.#batchPages, this.#maxReadPages, this.#pipelinePages) *
      this.#g.pageSize;
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
    const traced = this.#traceName;
    if (traced !== undefined && tracing.enabled) backendTrace.callBegin(traced, "read");
    try {
      await this.#plain.read(address, this.#buf.subarray(offset, offset + bytes));
    } catch (e) {
      throw wrapBackendError(e, this.#backend, `reading ${bytes} bytes at ${hex(address)}`);
    } finally {
      if (traced !== undefined && tracing.enabled) backendTrace.callEnd(traced, "read");
    }
    this.#stats.reads++;
  }

  /**
   * Checks the `n` pages from logical page `first` just read into the batch
   * buffer against a fresh counter and appends what is intact; false when the
   * capture must end.
   */
  async #checkAndAppend(
    first: number,
    n: number,
    counter?: bigint,
    offset = 0,
  ): Promise<boolean> {
    const s = this.#stats;
    const { pageSize, pages } = this.#g;
    const buf = this.#buf.subarray(offset, offset + n * pageSize);
    // docs/design.md rule 4: read the counter again; pages the writer got more than a
    // ring past (less the pages it may have in flight) may have been
    // overwritten while we read them.
    const after = await this.#counter.readLogical(first, counter);
    if (this.#counter.rebased) return true; // an implausible counter: these pages are not trusted (read again)
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
    // Framed here rather than by the sink's wrapper (see #plain).
    const traced = this.#sinkTraceName;
    if (traced !== undefined && tracing.enabled) sinkTrace.writeBegin(traced, out.length);
    try {
      await this.#plainSink.write(out);
    } finally {
      if (traced !== undefined && tracing.enabled) sinkTrace.writeEnd(traced, out.length);
    }
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
