/**
 * The ring's counter register, read and judged: each reading is unwrapped
 * against the latest logical page count and believed, corrected, confirmed
 * by a second read, or refused (by {@linkcode judgeCounter}; docs/design.md
 * rules 1 and 6). The {@linkcode Dumper}'s source of truth for how far the
 * writer got.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Backend } from "../backends/types.ts";
import type { Clock } from "./clock.ts";
import { BackendError, DeviceError, errorMessage, RingdumpError, StallError } from "./errors.ts";
import { judgeCounter, type RingGeometry } from "./ring.ts";
import { hex } from "./units.ts";
import type { DumpStats, OverrunPolicy } from "./dumper_options.ts";
import { backendTrace, tracing } from "./trace/tracer.ts";

const log = getLogger(["ringdump", "dumper"]);

/** Implausible counter readings in a row after which (gap policy) the value is taken as a new baseline. */
const IMPLAUSIBLE_RUNS = 3;

/** Options of a {@linkcode LogicalCounter}. */
export interface LogicalCounterOptions {
  /** The ring whose counter is read. */
  geometry: RingGeometry;
  /** Overrun policy: `fail` throws on a stall or an implausible value, `gap` counts them. */
  policy: OverrunPolicy;
  /**
   * The capture's longest period, ms: no rate is believed from a span shorter
   * than half of it (the fixed beat's first poll).
   */
  period: number;
  /** Clock of the capture. */
  clock: Clock;
  /** The capture's statistics: counter reads, glitches and unknown losses are counted in them. */
  stats: DumpStats;
  /** The first page not yet taken by the capture (for a stall's report). */
  next: () => number;
  /** Records a loss of `lost` pages, the capture resuming at logical page `resumeAt`. */
  onLoss: (lost: number, resumeAt: number) => void;
  /**
   * While tracing is on, frame each counter read with `backend_call_begin`
   * and `_end` under this backend name (as a traced backend's wrapper would,
   * without its promise); default: not framed.
   */
  traceAs?: string;
}

/**
 * The logical page count of a ring's writer, from readings of its counter
 * register (what the {@linkcode Dumper} uses; internal to the capture).
 *
 * @example
 * ```ts
 * import { LogicalCounter } from "./counter.ts";
 * import { ringGeometry } from "./ring.ts";
 * import { openSim } from "../backends/sim.ts";
 * import { VirtualClock } from "./clock.ts";
 * import type { DumpStats } from "./dumper_options.ts";
 *
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const clock = new VirtualClock();
 * const backend = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock });
 * const stats = { counterReads: 0, firstPage: 0 } as DumpStats;
 * const counter = new LogicalCounter(backend, {
 *   geometry, policy: "fail", period: 100, clock, stats, next: () => 0, onLoss: () => {},
 * });
 * console.log(await counter.read()); // 0
 * ```
 */
export class LogicalCounter {
  readonly #backend: Backend;
  readonly #g: RingGeometry;
  readonly #policy: OverrunPolicy;
  readonly #period: number;
  readonly #clock: Clock;
  readonly #stats: DumpStats;
  readonly #next: () => number;
  readonly #onLoss: (lost: number, resumeAt: number) => void;
  readonly #traceAs?: string;
  /** Clock time of the baseline read. */
  #t0 = 0;
  /** Latest logical counter value seen. */
  latest = 0;
  /** Clock time of the counter read that gave `latest`. */
  tLatest = 0;
  /** Set when an implausible counter value was met (gap policy): the read in hand is not trusted. */
  rebased = false;
  /** Pages the baseline moved at implausible counter values: not the writer's progress. */
  #rateOffset = 0;
  /** Largest advance believed from one counter reading. */
  #maxStep = 0;
  /** Implausible counter readings in a row. */
  #implausibleRun = 0;

  /** A counter read through `backend` (reads nothing yet). */
  constructor(backend: Backend, options: LogicalCounterOptions) {
    this.#backend = backend;
    this.#g = options.geometry;
    this.#policy = options.policy;
    this.#period = options.period;
    this.#clock = options.clock;
    this.#stats = options.stats;
    this.#next = options.next;
    this.#onLoss = options.onLoss;
    this.#traceAs = options.traceAs;
  }

  /** Sets the baseline: logical page `phys` read at clock time `t0`. */
  start(t0: number, phys: number): void {
    this.#t0 = this.tLatest = t0;
    this.latest = phys;
  }

  /** Reads the counter register (or takes `given`, read with a batch) and checks it is below the wrap. */
  async read(given?: bigint): Promise<number> {
    let v: bigint;
    if (given !== undefined) {
      v = given; // read by the backend right after a batch of reads (readThenRegister)
    } else {
      const traced = this.#traceAs;
      if (traced !== undefined && tracing.enabled) backendTrace.callBegin(traced, "readRegister");
      try {
        v = await this.#backend.readRegister(this.#g.counterAddress, 32);
      } catch (e) {
        throw wrapBackendError(e, this.#backend, "reading the counter register");
      } finally {
        if (traced !== undefined && tracing.enabled) backendTrace.callEnd(traced, "readRegister");
      }
    }
    this.#stats.counterReads++;
    if (v < 0n || v >= BigInt(this.#g.counterWrap)) {
      throw new DeviceError(
        `counter register at ${hex(this.#g.counterAddress)} read ${hex(v)}, which is not below ` +
          `the counter wrap ${
            hex(this.#g.counterWrap)
          }; check the counter address and the counter wrap`,
      );
    }
    return Number(v);
  }

  /**
   * Pages the writer should have advanced by time `t` since `latest` was
   * read, at the rate seen so far; undefined until a rate is known.
   */
  expected(t: number): number | undefined {
    const span = this.tLatest - this.#t0;
    const advanced = this.latest - this.#stats.firstPage - this.#rateOffset;
    if (span < this.#period / 2 || advanced <= 0) return undefined;
    return (advanced / span) * (t - this.tLatest);
  }

  /**
   * Reads the counter and unwraps it against the latest logical count,
   * judged by {@linkcode judgeCounter}: a jump larger than the ring is
   * confirmed by a second read, a stall long enough for the counter to wrap
   * unseen is a loss (a {@linkcode StallError}, or counted with gap), an
   * implausible value a {@linkcode DeviceError} (or a counted glitch with
   * gap). `next` is the first page not yet taken (appended, or being read).
   */
  async readLogical(next: number, given?: bigint): Promise<number> {
    const g = this.#g;
    const t = this.#clock.now();
    const expected = this.expected(t);
    const latest = this.latest;
    const readings = [await this.read(given)];
    const maxStep = this.#maxStep;
    let v = judgeCounter({ latest, next, readings, expected, maxStep }, g);
    if (v.kind === "confirm") {
      readings.push(await this.read());
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
        this.latest = latest + v.delta;
        if (v.delta > this.#maxStep) this.#maxStep = v.delta;
        break;
      case "back":
        this.#glitch(`${what}: an earlier reading was ${v.back} pages too high; corrected`);
        this.latest = latest - v.back;
        break;
      case "wrapped": {
        const rate = (latest - this.#stats.firstPage - this.#rateOffset) /
          (this.tLatest - this.#t0);
        const counts = {
          lastPage: this.#next(),
          currentPage: latest + v.delta,
          pages: g.pages,
          capturedPages: this.#stats.pages,
          stalledMs: t - this.tLatest,
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
        this.latest = latest + v.delta;
        break;
      }
      case "implausible": {
        const msg = `counter register at ${hex(g.counterAddress)}: ${what}: ${v.reason}` +
          (expected === undefined ? "" : ` in ${(t - this.tLatest).toFixed(0)} ms`) +
          `; a glitching register, or a wrong counter address or counter wrap`;
        if (this.#policy === "fail") throw new DeviceError(msg);
        // Never a reason to re-read old pages. A passing glitch is ignored
        // (what was just read is read again next period); a value that stays
        // for IMPLAUSIBLE_RUNS readings in a row becomes the new baseline, the
        // loss counted as unknown.
        this.rebased = true;
        if (++this.#implausibleRun < IMPLAUSIBLE_RUNS) {
          this.#glitch(`${msg}; ignored`);
          return this.latest;
        }
        this.#glitch(
          `${msg}; it stays: the capture goes on from there, the loss counted as unknown`,
        );
        this.#stats.unknownLosses++;
        this.latest = latest + v.delta;
        this.#rateOffset += v.delta;
        this.#onLoss(0, this.latest);
        break;
      }
    }
    if (v.kind !== "implausible") this.#implausibleRun = 0;
    this.tLatest = t;
    return this.latest;
  }

  #glitch(message: string): void {
    this.#stats.glitches++;
    log.warn("counter glitch: {message}", { message });
  }
}

/**
 * A backend failure as a {@linkcode BackendError} saying what was being done
 * (a {@linkcode RingdumpError} passes unchanged).
 *
 * @example
 * ```ts
 * import { wrapBackendError } from "./counter.ts";
 * import { openSim } from "../backends/sim.ts";
 * import { ringGeometry } from "./ring.ts";
 * const backend = openSim(ringGeometry({ base: 0n, pageSize: 4096, pages: 4 }), {});
 * console.log(wrapBackendError(new Error("EIO"), backend, "reading").message);
 * ```
 */
export function wrapBackendError(e: unknown, backend: Backend, what: string): Error {
  if (e instanceof RingdumpError) return e;
  return new BackendError(`${backend.name}: ${what} failed: ${errorMessage(e)}`, {
    backend: backend.name,
    cause: e,
  });
}
