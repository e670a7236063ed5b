/**
 * Adaptive polling: when the dumper reads the counter next. Pure arithmetic
 * (no clock, no I/O), so every case is unit- and property-tested.
 *
 * `--period` is the longest wait. From the writer's rate measured so far the
 * next poll is scheduled for when the ring is expected to be about half full
 * (`target`) at the poll's check, a poll's own time (`pollCost`) before it
 * would be at its start, never sooner than `minPeriod` after the previous poll began,
 * and never later than `period` after it: at a steady low rate the dumper
 * polls exactly every period, as the reference does; as the rate rises it
 * polls sooner, so the lossless rate is bounded by the backend's read
 * throughput rather than by ring / period.
 *
 * @module
 */

/** What {@linkcode nextPoll} needs to know. */
export interface PollState {
  /** The longest wait between polls, ms (`--period`). */
  period: number;
  /** The shortest wait between polls, ms (`--min-period`). */
  minPeriod: number;
  /** Pages in the ring. */
  pages: number;
  /** When the poll that just ended began, ms (its first counter read). */
  pollStart: number;
  /** When the latest counter reading was taken, ms. */
  readAt: number;
  /** Pages written but not read yet at `readAt` (latest counter - next page to read). */
  backlog: number;
  /** The writer's rate, pages per ms (see {@linkcode RateMeter}); 0 or less when unknown. */
  rate: number;
  /** Fill of the ring to aim the next poll at, a fraction of it; default 0.5. */
  target?: number;
  /**
   * What a poll takes, ms (the last one: its counter read, reads and checks).
   * Its check comes that long after it starts, and the writer goes on
   * meanwhile: the poll is aimed so that the ring is `target` full at its
   * check, not at its start. Default 0.
   */
  pollCost?: number;
  /**
   * The interval before the poll that just ended, ms. With no rate (an idle or
   * stalled writer) the wait doubles from `minPeriod` up to `period`, so a
   * writer that starts (again) is seen soon, and an idle one costs a few
   * polls more than the fixed beat, not more. Without it an idle writer waits
   * the whole period at once.
   */
  previous?: number;
}

/**
 * The time of the next poll, ms: when `backlog + rate * (t + pollCost -
 * readAt)` reaches `target` of the ring (the fill at the poll's check),
 * clamped to `[pollStart + minPeriod, pollStart +
 * period]`. An unknown or zero rate waits the whole period, or (given
 * `previous`) twice the previous interval.
 *
 * @example
 * ```ts
 * import { nextPoll } from "./schedule.ts";
 * // 1000 pages, 100 ms period; the writer does 20 pages/ms (2x ring/period): poll at 25 ms
 * console.log(nextPoll({ period: 100, minPeriod: 5, pages: 1000, pollStart: 0, readAt: 0, backlog: 0, rate: 20 })); // 25
 * // a slow writer: the full period
 * console.log(nextPoll({ period: 100, minPeriod: 5, pages: 1000, pollStart: 0, readAt: 0, backlog: 0, rate: 1 })); // 100
 * ```
 */
export function nextPoll(state: PollState): number {
  const { period, minPeriod, pages, pollStart, readAt, backlog, rate } = state;
  const target = state.target ?? 0.5;
  const earliest = pollStart + Math.min(minPeriod, period);
  const latest = pollStart + period;
  if (!(rate > 0) || !Number.isFinite(rate)) {
    if (state.previous === undefined) return latest;
    return Math.min(latest, Math.max(earliest, pollStart + 2 * state.previous));
  }
  const cost = Math.max(0, state.pollCost ?? 0);
  const room = target * pages - backlog - rate * cost;
  const at = readAt + Math.max(0, room) / rate;
  return Math.min(latest, Math.max(earliest, at));
}

/** What {@linkcode reuseReading} needs to know. */
export interface ReuseState {
  /** When the next poll is due, ms ({@linkcode nextPoll}). */
  at: number;
  /** When the latest counter reading (the check after the last reads) was taken, ms. */
  readAt: number;
  /** What a fresh counter read takes, ms (the last one measured). */
  readCost: number;
  /** Pages written but not read yet at `readAt`. */
  backlog: number;
}

/**
 * Whether the next poll takes the latest counter reading (the check after
 * the last poll's reads) instead of reading the counter afresh: when the
 * poll is due before a fresh read could even finish (`at <= readAt +
 * readCost`), as with a fast writer and a backend whose counter read is a
 * process (pixeldump) or a remote command (ssh). A fresh read would add only
 * the pages of that moment and cost its time in every poll, which is what
 * bounds the rate then. Every page read is still checked by a counter read
 * right after it (docs/design.md rule 4); the pages written since the
 * reading wait for the next poll. With a counter read of microseconds
 * (devmem) only an overdue poll reuses one.
 *
 * @example
 * ```ts
 * import { reuseReading } from "./schedule.ts";
 * // due 1 ms after the reading; a counter read takes 5 ms: take the reading
 * console.log(reuseReading({ at: 101, readAt: 100, readCost: 5, backlog: 300 })); // true
 * // due in 20 ms: read afresh then
 * console.log(reuseReading({ at: 120, readAt: 100, readCost: 5, backlog: 300 })); // false
 * ```
 */
export function reuseReading(state: ReuseState): boolean {
  return state.backlog > 0 && state.at <= state.readAt + Math.max(0, state.readCost);
}

/**
 * The writer's rate from successive counter readings: the larger of the
 * rate over the last interval (reacts to a burst at once) and an average
 * that decays with time, not with the number of readings: it loses half its
 * weight every `halfLife` ms. A writer that publishes its counter in steps
 * (a tick, a DMA burst) shows short intervals with nothing new; close polls
 * must not read those as a stall (with a weight per reading, one empty 1 ms
 * interval halved the rate and the next poll came twice too late). A real
 * stall lowers it over a few half-lives, until the dumper waits whole
 * periods again.
 *
 * @example
 * ```ts
 * import { RateMeter } from "./schedule.ts";
 * const m = new RateMeter({ halfLife: 25 });
 * m.see(0, 0);
 * m.see(100, 1000);
 * console.log(m.rate); // 10 (pages per ms)
 * m.see(101, 1000); // nothing new in 1 ms: still about 10
 * console.log(m.rate > 9.7); // true
 * m.see(200, 1000); // nothing new in 100 ms: a stall
 * console.log(m.rate < 1); // true
 * ```
 */
export class RateMeter {
  #t?: number;
  #page = 0;
  #avg?: number;
  #last = 0;
  readonly #halfLife: number;

  /** `halfLife`: ms after which the average keeps half its weight; default 25. */
  constructor(options: { halfLife?: number } = {}) {
    const h = options.halfLife ?? 25;
    this.#halfLife = h > 0 && Number.isFinite(h) ? h : 25;
  }

  /** Records a reading: logical page count `page` at time `t` (ms). */
  see(t: number, page: number): void {
    if (this.#t !== undefined && t > this.#t) {
      const dt = t - this.#t;
      const r = Math.max(0, page - this.#page) / dt;
      this.#last = r;
      // The average starts with the first interval in which the writer moved
      // (before it, a writer not started yet is not a slow one).
      if (this.#avg !== undefined) {
        const keep = 2 ** (-dt / this.#halfLife);
        this.#avg = keep * this.#avg + (1 - keep) * r;
      } else if (r > 0) this.#avg = r;
    }
    if (this.#t === undefined || t > this.#t) {
      this.#t = t;
      this.#page = page;
    }
  }

  /** Pages per ms; 0 until two readings. */
  get rate(): number {
    return Math.max(this.#last, this.#avg ?? 0);
  }
}
