/**
 * Ring geometry and the pure arithmetic of a ring-buffer capture: validation,
 * counter unwrap, ring index, and the split of a logical page range into at
 * most two physical reads. No I/O lives here, so all of it can be tested
 * exhaustively.
 *
 * Terms (see docs/design.md): the *physical* count is the register value, which
 * wraps at `counterWrap`; the *logical* count never wraps (safe to 2^53); the
 * ring index of a logical page is `logical % pages`.
 *
 * @module
 */
import { GeometryError, InternalError } from "./errors.ts";
import { formatBytes } from "./units.ts";

/**
 * The largest ring {@linkcode ringGeometry} accepts: 1 TiB (2^40 bytes).
 *
 * @example
 * ```ts
 * import { MAX_RING_BYTES } from "./ring.ts";
 * console.log(MAX_RING_BYTES); // 1099511627776
 * ```
 */
export const MAX_RING_BYTES: number = 2 ** 40;

/** What {@linkcode ringGeometry} accepts. */
export interface RingGeometryInit {
  /** Physical address of the first byte of the ring. */
  base: bigint | number;
  /** Bytes per page. */
  pageSize: number;
  /** Pages in the ring. */
  pages: number;
  /** Physical address of the page counter register; default: right after the ring. */
  counterAddress?: bigint | number;
  /** Value at which the counter wraps to 0; default 0x10000. */
  counterWrap?: number;
}

/** A validated ring geometry. */
export interface RingGeometry {
  /** Physical address of the first byte of the ring. */
  readonly base: bigint;
  /** Bytes per page. */
  readonly pageSize: number;
  /** Pages in the ring. */
  readonly pages: number;
  /** Bytes in the ring (`pageSize * pages`). */
  readonly ringBytes: number;
  /** Physical address of the page counter register (a little-endian u32). */
  readonly counterAddress: bigint;
  /** Value at which the counter wraps to 0. */
  readonly counterWrap: number;
}

/** The default counter wrap, as in the reference hardware. */
export const DEFAULT_COUNTER_WRAP = 0x10000;

/** Largest counter wrap a 32-bit counter register can express. */
export const MAX_COUNTER_WRAP = 2 ** 32;

/**
 * Validates a geometry and fills in its defaults.
 *
 * Rejects zero or negative sizes, a ring larger than memory can index, and a
 * `counterWrap` that does not exceed `pages` (then a full lap could not be
 * told from no progress).
 *
 * @example
 * ```ts
 * import { ringGeometry } from "./ring.ts";
 * const g = ringGeometry({ base: 0x1000_0000n, pageSize: 4096, pages: 256 });
 * console.log(g.ringBytes, g.counterAddress); // 1048576 269484032n
 * ```
 */
export function ringGeometry(init: RingGeometryInit): RingGeometry {
  const { pageSize, pages } = init;
  if (!Number.isSafeInteger(pageSize) || pageSize <= 0) {
    throw new GeometryError("pageSize", pageSize, "must be a positive integer");
  }
  if (!Number.isSafeInteger(pages) || pages <= 0) {
    throw new GeometryError("pages", pages, "must be a positive integer");
  }
  const base = typeof init.base === "bigint" ? init.base : toBigInt("base", init.base);
  if (base < 0n) throw new GeometryError("base", base, "must not be negative");
  const ringBytes = pageSize * pages;
  if (!Number.isSafeInteger(ringBytes) || ringBytes > MAX_RING_BYTES) {
    throw new GeometryError(
      "pages",
      pages,
      `× pageSize ${pageSize} is a ring of ${ringBytes} bytes (${formatBytes(ringBytes)}), ` +
        `above the largest ring ringdump takes, ${MAX_RING_BYTES} bytes (1 TiB)`,
    );
  }
  const counterWrap = init.counterWrap ?? DEFAULT_COUNTER_WRAP;
  if (!Number.isSafeInteger(counterWrap) || counterWrap <= 0) {
    throw new GeometryError("counterWrap", counterWrap, "must be a positive integer");
  }
  if (counterWrap > MAX_COUNTER_WRAP) {
    throw new GeometryError(
      "counterWrap",
      counterWrap,
      "is larger than a 32-bit counter register can count (max 0x100000000)",
    );
  }
  if (counterWrap <= pages) {
    throw new GeometryError(
      "counterWrap",
      counterWrap,
      `must exceed the ring's page count ${pages}, or a full lap could not be told from no progress`,
    );
  }
  const counterAddress = init.counterAddress === undefined
    ? base + BigInt(ringBytes)
    : typeof init.counterAddress === "bigint"
    ? init.counterAddress
    : toBigInt("counterAddress", init.counterAddress);
  if (counterAddress < 0n) {
    throw new GeometryError("counterAddress", counterAddress, "must not be negative");
  }
  if (counterAddress + 4n > base && counterAddress < base + BigInt(ringBytes)) {
    throw new GeometryError(
      "counterAddress",
      "0x" + counterAddress.toString(16),
      "lies inside the ring; the counter register must be outside it",
    );
  }
  return Object.freeze({ base, pageSize, pages, ringBytes, counterAddress, counterWrap });
}

function toBigInt(field: string, v: number): bigint {
  if (!Number.isSafeInteger(v)) throw new GeometryError(field, v, "must be an integer");
  return BigInt(v);
}

/**
 * How many pages the counter advanced since `lastLogical`, given the new
 * physical register value (docs/design.md rule 1): `phys - (last % wrap)`, plus
 * `wrap` when negative.
 *
 * @example
 * ```ts
 * import { counterDelta } from "./ring.ts";
 * // the reference's own example
 * console.log(counterDelta(0x1f000, 0x0010, { counterWrap: 0x10000 }).toString(16)); // "1010"
 * ```
 */
export function counterDelta(
  lastLogical: number,
  physical: number,
  options: { counterWrap: number },
): number {
  const wrap = options.counterWrap;
  const d = physical - (lastLogical % wrap);
  return d < 0 ? d + wrap : d;
}

/**
 * Unwraps a physical counter value into a logical count, given the last
 * logical count.
 *
 * @example
 * ```ts
 * import { unwrapCounter } from "./ring.ts";
 * console.log(unwrapCounter(0xfff0, 0x0005, { counterWrap: 0x10000 })); // 65541
 * ```
 */
export function unwrapCounter(
  lastLogical: number,
  physical: number,
  options: { counterWrap: number },
): number {
  return lastLogical + counterDelta(lastLogical, physical, options);
}

/**
 * The ring index (slot) of a logical page: `logical % pages`.
 *
 * @example
 * ```ts
 * import { ringIndex } from "./ring.ts";
 * console.log(ringIndex(300, 256)); // 44
 * ```
 */
export function ringIndex(logical: number, pages: number): number {
  return logical % pages;
}

/** One physical read of a split range. */
export interface ReadSpan {
  /** Physical address to read from. */
  readonly address: bigint;
  /** Ring index of the first page. */
  readonly index: number;
  /** Logical number of the first page. */
  readonly firstPage: number;
  /** Pages in this span. */
  readonly pages: number;
  /** Bytes in this span. */
  readonly bytes: number;
}

/**
 * Splits the logical page range `[from, to)` into at most two physical reads:
 * one up to the ring's end and one from its start. A full lap
 * (`to - from == pages`, start index == end index) gives two reads covering
 * the whole ring from the start index (one when that index is 0). An empty
 * range gives none. A range longer than the ring is an error: those pages are
 * no longer in it.
 *
 * @example
 * ```ts
 * import { ringGeometry, splitRange } from "./ring.ts";
 * const g = ringGeometry({ base: 0n, pageSize: 4096, pages: 8 });
 * const spans = splitRange(g, { from: 6, to: 10 });
 * console.log(spans.map((s) => [s.index, s.pages])); // [[6, 2], [0, 2]]
 * ```
 */
export function splitRange(
  geometry: RingGeometry,
  range: { from: number; to: number },
): ReadSpan[] {
  const { from, to } = range;
  const n = to - from;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || n < 0) {
    throw new RangeError(`invalid page range [${from}, ${to})`);
  }
  if (n > geometry.pages) {
    throw new RangeError(
      `page range [${from}, ${to}) is longer than the ring (${geometry.pages} pages)`,
    );
  }
  if (n === 0) return [];
  const start = ringIndex(from, geometry.pages);
  const first = Math.min(n, geometry.pages - start);
  const spans: ReadSpan[] = [span(geometry, start, from, first)];
  if (first < n) spans.push(span(geometry, 0, from + first, n - first));
  return spans;
}

function span(g: RingGeometry, index: number, firstPage: number, pages: number): ReadSpan {
  return {
    address: g.base + BigInt(index) * BigInt(g.pageSize),
    index,
    firstPage,
    pages,
    bytes: pages * g.pageSize,
  };
}

/**
 * The first logical page that is still intact after a read, given the logical
 * counter read right after it (docs/design.md rule 4): a page `p` may have been
 * overwritten once the writer got more than `pages` past it, so pages below
 * `counterAfter - pages` are torn.
 *
 * `inFlight` is how many pages the hardware may be writing beyond the counter
 * it has published (default 0, docs/design.md's rule). Hardware that writes a page
 * and only then advances the counter is writing page `counterAfter` while the
 * counter reads `counterAfter`, into the slot of page `counterAfter - pages`:
 * that page is at risk too, so such hardware needs `inFlight: 1`, and one that
 * writes bursts of `b` pages before publishing them needs `inFlight: b`.
 *
 * @example
 * ```ts
 * import { firstIntactPage } from "./ring.ts";
 * console.log(firstIntactPage(300, { pages: 256 })); // 44
 * console.log(firstIntactPage(300, { pages: 256, inFlight: 1 })); // 45
 * ```
 */
export function firstIntactPage(
  counterAfter: number,
  options: { pages: number; inFlight?: number },
): number {
  return counterAfter + (options.inFlight ?? 0) - options.pages;
}

/** How far back a physical counter value lies behind a logical count: `(last % wrap - phys) mod wrap`. */
function counterBehind(lastLogical: number, physical: number, counterWrap: number): number {
  const d = (lastLogical % counterWrap) - physical;
  return d < 0 ? d + counterWrap : d;
}

/** What {@linkcode judgeCounter} is given. */
export interface CounterReadings {
  /** Latest logical count believed. */
  readonly latest: number;
  /** Logical page up to which the pages are appended (or being read): never re-read below it. */
  readonly next: number;
  /** The physical values read: one, or two when {@linkcode judgeCounter} asked for a confirmation. */
  readonly readings: readonly number[];
  /**
   * Pages the writer is expected to have advanced since `latest` was read (the
   * rate seen so far times the time elapsed), or undefined while no rate is
   * known yet.
   */
  readonly expected?: number;
  /** Largest advance believed from one reading so far (a bursty writer's step); default 0. */
  readonly maxStep?: number;
}

/** The verdict of {@linkcode judgeCounter}. */
export type CounterVerdict =
  /** Read the counter once more and ask again with both readings. */
  | { readonly kind: "confirm" }
  /** Believe an advance of `delta` pages; `glitch` when one of the readings was off. */
  | { readonly kind: "advance"; readonly delta: number; readonly glitch: boolean }
  /**
   * The counter may have wrapped unseen: the time elapsed at the rate seen is
   * about `wraps` whole wraps more than `delta` shows. Data was lost and how
   * much is not known exactly; `delta` includes the wraps.
   */
  | { readonly kind: "wrapped"; readonly delta: number; readonly wraps: number }
  /** A reading before was too high: the counter is `back` pages behind `latest`, and not below `next`. */
  | { readonly kind: "back"; readonly back: number }
  /** No plausible reading: a device fault. `delta` is what the last reading would mean. */
  | { readonly kind: "implausible"; readonly delta: number; readonly reason: string };

/**
 * Judges counter readings (docs/design.md rules 1, 2 and 4, and the glitch
 * and stall rules of issue 9): an advance of at most a ring is believed at
 * once, unless the time elapsed at the rate seen so far could cover a whole
 * counter wrap; anything else (a jump larger than the ring, which a reading
 * that moved backwards also looks like) must be confirmed by a second read.
 * A confirmed jump is believed only when it is plausible for the time elapsed;
 * a counter a little behind a value read before, but not behind the pages
 * already taken, means that earlier value was a glitch. Everything else is
 * implausible: a device fault, never a reason to re-read old pages. Pure.
 *
 * @example
 * ```ts
 * import { judgeCounter } from "./ring.ts";
 * const g = { pages: 16, counterWrap: 0x100 };
 * console.log(judgeCounter({ latest: 100, next: 100, readings: [105] }, g).kind); // "advance"
 * console.log(judgeCounter({ latest: 100, next: 100, readings: [70] }, g).kind); // "confirm"
 * // 30 behind, then the true value: the first reading was a glitch
 * console.log(judgeCounter({ latest: 100, next: 100, readings: [70, 101], expected: 2 }, g));
 * // { kind: "advance", delta: 1, glitch: true }
 * ```
 */
export function judgeCounter(
  input: CounterReadings,
  geometry: { pages: number; counterWrap: number },
): CounterVerdict {
  const { latest, next, readings, expected, maxStep = 0 } = input;
  const { pages, counterWrap: wrap } = geometry;
  if (readings.length === 0 || readings.length > 2) {
    throw new RangeError(`judgeCounter takes one or two readings (got ${readings.length})`);
  }
  // Could the writer have gone a whole wrap further than `d` shows? Judged
  // with twice the expected advance, so an honest reading never trips it.
  const mayWrap = (d: number) => expected !== undefined && 2 * expected >= d + wrap;
  const wrapped = (d: number): CounterVerdict => {
    const wraps = Math.max(1, Math.round((expected! - d) / wrap));
    return { kind: "wrapped", delta: d + wraps * wrap, wraps };
  };
  const d1 = counterDelta(latest, readings[0], geometry);
  if (readings.length === 1) {
    return d1 <= pages && !mayWrap(d1) ? { kind: "advance", delta: d1, glitch: false } : {
      kind: "confirm",
    };
  }
  const p2 = readings[1];
  const d2 = counterDelta(latest, p2, geometry);
  if (d1 > pages && d2 <= pages) {
    // The first reading was off (the counter cannot fall back from a jump).
    return mayWrap(d2) ? wrapped(d2) : { kind: "advance", delta: d2, glitch: true };
  }
  if (counterDelta(readings[0], p2, geometry) > pages) {
    return {
      kind: "implausible",
      delta: d2,
      reason: `two reads in a row disagree (${readings[0]}, then ${p2})`,
    };
  }
  if (mayWrap(d2)) return wrapped(d2);
  if (d2 <= pages) return { kind: "advance", delta: d2, glitch: false };
  if (expected === undefined || d2 <= 2 * expected + pages + maxStep) {
    return { kind: "advance", delta: d2, glitch: false };
  }
  const back = counterBehind(latest, p2, wrap);
  if (back <= latest - next) return { kind: "back", back };
  return {
    kind: "implausible",
    delta: d2,
    reason: `a jump of ${d2} pages where about ${Math.round(expected)} were expected`,
  };
}

/**
 * The sink-boundary invariant (docs/design.md rule 8): the logical pages
 * appended strictly increase, so a page is never written twice nor out of
 * order. Throws an {@linkcode InternalError} when `firstPage` (the first page
 * of an append) lies below `endPage` (one past the last page appended before).
 *
 * @example
 * ```ts
 * import { checkAppendOrder } from "./ring.ts";
 * checkAppendOrder(10, 10); // fine: follows on
 * checkAppendOrder(10, 14); // fine: a gap (counted as lost elsewhere)
 * // checkAppendOrder(10, 9) throws
 * ```
 */
export function checkAppendOrder(endPage: number, firstPage: number): void {
  if (firstPage < endPage) {
    throw new InternalError(
      `page order: appending logical page ${firstPage} after pages up to ${endPage - 1} ` +
        `were appended (pages must strictly increase)`,
    );
  }
}
